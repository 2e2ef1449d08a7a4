"""The algorithm rooms work on any registered space: a toy chain space with 7-, 3- and 9-choice points.

Nothing in `partition/`, `runs/` or `search/` may know which space it holds; this space exists only here.
"""

from dataclasses import dataclass, fields

import numpy as np
import pytest
import torch
from torch import nn

from naslid import nn as naslid_nn
from naslid import spaces
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.runs.config import RunConfig
from naslid.runs.datasets import DataConfig
from naslid.runs.partition import PartitionRun
from naslid.search import CostConstraint, ProxyConfig, SearchConfig, SubSpaceUnion, evolutionary_search
from naslid.spaces import ChoiceArch, SubSpace
from naslid.train import TrainConfig

WIDTHS = {"w1": 1, "w2": 2, "w3": 3}
POINTS = ("block0", "block1", "block2")
CHOICES = (
    tuple(f"k{k}_w{w}" for k in (1, 3) for w in (1, 2, 3)) + ("zero",),  # 7: six convs and the identity
    ("w1", "w2", "w3"),
    tuple(f"k{k}_w{w}" for k in (1, 3, 5) for w in (1, 2, 3)),  # 9
)


@dataclass(frozen=True, order=True)
class ToyArch(ChoiceArch):
    def __post_init__(self) -> None:
        if len(self.ops) != 3 or any(op not in CHOICES[i] for i, op in enumerate(self.ops)):
            raise ValueError(f"not a toy arch: {self.ops}")


class ToySpace:
    name = "toy"
    points = POINTS
    choices = CHOICES

    def make_arch(self, ops):
        return ToyArch(tuple(ops))

    def parse(self, text):
        return ToyArch(tuple(text.split("-")))

    def format(self, arch):
        return "-".join(arch.ops)

    def canonical_key(self, arch):
        return self.format(arch)


@dataclass(frozen=True)
class ToyConfig:
    channels: int = 4
    in_channels: int = 1
    num_classes: int = 10

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _parse(choice):
    kernel, width = choice.split("_")
    return int(kernel[1:]), WIDTHS[width]


class ToyBlock(nn.Module):
    def __init__(self, channels, choices):
        super().__init__()
        self.ops = nn.ModuleDict()
        for choice in choices:
            if choice == "zero":
                continue
            kernel, width = _parse(choice) if "_" in choice else (3, WIDTHS[choice])
            self.ops[choice] = nn.Sequential(nn.Conv2d(channels, channels * width, kernel, padding=kernel // 2),
                                             nn.BatchNorm2d(channels * width), nn.ReLU(),
                                             nn.Conv2d(channels * width, channels, 1))

    def forward(self, x, choice):
        return x if choice == "zero" else x + self.ops[choice](x)


class ToySuperNet(nn.Module):
    space = ToySpace()

    def __init__(self, config: ToyConfig | None = None):
        super().__init__()
        self.config = config or ToyConfig()
        c = self.config.channels
        self.stem = nn.Conv2d(self.config.in_channels, c, 3, padding=1)
        self.blocks = nn.ModuleList(ToyBlock(c, choices) for choices in CHOICES)
        self.head = nn.Linear(c, self.config.num_classes)

    def forward(self, x, arch):
        x = self.stem(x)
        for block, choice in zip(self.blocks, arch.ops, strict=True):
            x = block(x, choice)
        return self.head(x.mean((2, 3)))

    def probed_layers(self):
        return list(self.blocks)

    def choice_parameters(self, point):
        return [name for name, _ in self.named_parameters() if name.startswith(f"blocks.{point}.")]

    def body_parameters(self):
        return [name for name, _ in self.named_parameters() if name.startswith("blocks.")]

    def extract(self, arch):
        raise NotImplementedError

    def arch_costs(self, arch, resolution):
        flops = 0
        for choice in arch.ops:
            if choice != "zero":
                kernel, width = _parse(choice) if "_" in choice else (3, WIDTHS[choice])
                flops += resolution**2 * self.config.channels**2 * width * (kernel**2 + 1)
        return {"mflops": flops / 1e6, "params_m": 0.0}


@pytest.fixture
def toy_space():
    spaces.register_space("toy", ToySpace)
    naslid_nn.register_supernet("toy", ToyConfig, ToySuperNet)
    yield spaces.get_space("toy")
    spaces.SPACES.pop("toy")
    spaces.base._INSTANCES.pop("toy", None)
    naslid_nn.SUPERNETS.pop("toy")


def _config(method="split", criterion="lid", split_epochs=(1, 2), fewshot_edge=0):
    return RunConfig(
        search_space="toy", network=ToyConfig(),
        data=DataConfig(dataset="digits", crop_padding=1, horizontal_flip=False, train_limit=400),
        train=TrainConfig(batch_size=64, learning_rate=0.05),
        schedule=ScheduleConfig(method=method, split_epochs=split_epochs, finetune_epochs=1,
                                fewshot_edge=fewshot_edge),
        split=SplitConfig(criterion=criterion, batches=2, batch_size=64, k=8, gradient_batches=2),
        proxy=ProxyConfig(calibration_batches=1), device="cpu",
    )


def test_subspace_of_any_space_splits_and_round_trips(toy_space):
    full = SubSpace(None, toy_space)
    assert full.size() == 7 * 3 * 9 and full.point_name(2) == "block2"
    children = full.split(0, [list(CHOICES[0][:3]), list(CHOICES[0][3:])])
    assert [c.size() for c in children] == [3 * 27, 4 * 27]
    data = children[1].to_json()
    assert data["space"] == "toy" and data["points"] == list(POINTS)
    assert SubSpace.from_json(data) == children[1]
    with pytest.raises(ValueError, match="unknown choice 'k7_w1' at point block2"):
        SubSpace([CHOICES[0], CHOICES[1], ["k7_w1"]], toy_space)
    arch = full.sample(np.random.default_rng(0))
    assert isinstance(arch, ToyArch) and toy_space.parse(toy_space.format(arch)) == arch


@pytest.mark.parametrize("criterion", ["lid", "gradient"])
def test_partition_run_on_a_non_nb201_space(toy_space, tmp_path, criterion):
    run = PartitionRun(tmp_path / criterion, _config(criterion=criterion))
    tree = run.run()
    run.close()
    leaves = tree.leaves()
    assert len(leaves) == 4 and sum(leaf.subspace.size() for leaf in leaves) == 7 * 3 * 9
    root_split = tree.root.split
    # a balanced bisection of the chosen point: 3-vs-4 of 7, 1-vs-2 of 3, 4-vs-5 of 9
    sizes = sorted(len(g) for g in root_split.groups)
    assert sizes == {"block0": [3, 4], "block1": [1, 2], "block2": [4, 5]}[root_split.point_name]
    assert set(root_split.similarities) == set(POINTS)
    saved = PartitionRun(tmp_path / criterion, _config(criterion=criterion)).tree
    assert saved.to_json()["space"] == "toy" and saved.root.split.point_name == root_split.point_name
    for arch in SubSpace(None, toy_space).all():
        assert sum(leaf.subspace.contains(arch) for leaf in leaves) == 1


def test_few_shot_splits_a_point_one_child_per_choice(toy_space, tmp_path):
    tree = PartitionRun(tmp_path / "few", _config(method="few-shot", split_epochs=(1,), fewshot_edge=2)).run()
    assert len(tree.leaves()) == 9 and tree.root.split.point_name == "block2"
    with pytest.raises(ValueError, match="choice points 0..2"):
        _config(method="few-shot", fewshot_edge=3)


def test_lid_profile_has_one_value_per_probed_layer(toy_space):
    from naslid.partition.criteria import lid_profile

    net = ToySuperNet()
    arch = SubSpace(None, toy_space).sample(np.random.default_rng(1))
    profile = lid_profile(net, arch, torch.randn(32, 1, 8, 8), k=5)
    assert profile.shape == (3,) and torch.isfinite(profile).all()


def test_search_under_a_cost_budget_stays_within_it(toy_space):
    net = ToySuperNet()
    costs = sorted(net.arch_costs(arch, 8)["mflops"] for arch in SubSpace(None, toy_space).all())
    limit = costs[len(costs) // 2]  # about half the space is within the budget
    constraint = CostConstraint(lambda arch: net.arch_costs(arch, 8), max_mflops=limit)
    union = SubSpaceUnion(SubSpace(None, toy_space), constraint)
    feasible = union.all()
    assert len(feasible) == sum(c <= limit for c in costs) and len(feasible) < len(costs)
    config = SearchConfig(population_size=10, generations=5, num_parents=3, num_mutations=4, num_crossovers=4)
    result = evolutionary_search(lambda arch: -sum(map(len, arch.ops)), SubSpace(None, toy_space), config,
                                 constraint=constraint)
    assert result.space == "toy" and result.num_evaluations > 10
    assert all(constraint(e.arch) for e in result.history)
    assert all(net.arch_costs(e.arch, 8)["mflops"] <= limit for e in result.history)
    again = type(result).from_json(result.to_json())
    assert again.best_arch == result.best_arch and isinstance(again.best_arch, ToyArch)
    with pytest.raises(ValueError, match="no architecture of the union met the constraint"):
        SubSpaceUnion(SubSpace(None, toy_space), CostConstraint(lambda a: {"mflops": 1.0}, max_mflops=0.5)).sample(
            np.random.default_rng(0))


def test_there_is_no_default_space():
    from naslid.partition import PartitionTree

    with pytest.raises(ValueError, match="no default space"):
        SubSpace()
    with pytest.raises(ValueError, match="no default space"):
        SubSpace([["a"]])
    with pytest.raises(TypeError, match="root is a SubSpace"):
        PartitionTree(None)
    assert PartitionTree(SubSpace(None, "nb201")).root.subspace.space.name == "nb201"
