"""Named run configurations, each with the purpose it serves."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from naslid.nn import NB201Config
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.runs.config import RunConfig
from naslid.runs.datasets import DataConfig
from naslid.search import ProxyConfig, SearchConfig
from naslid.train import TrainConfig

METHODS = ("spos", "few-shot", "gm-nas", "nas-lid", "random-split")


@dataclass
class ComparePlan:
    """What `naslid compare` runs on top of a RunConfig: which methods, which archs to rank, the search."""

    methods: tuple[str, ...] = ("spos", "few-shot", "gm-nas", "nas-lid", "random-split")
    ranking_subsets: tuple[str, ...] = ("random1000", "top1%")  # ranked against the benchmark, when given
    sample_without_benchmark: int = 1000  # archs scored when no benchmark is given (seeded random)
    profile_archs: int = 3  # LID profiles of this many best and worst architectures
    profile_batches: int = 4
    seeds: tuple[int, ...] = ()  # one comparison per seed (init, paths, split batches, search); (): the config's
    track_subset: str | None = None  # score this subset while training (e.g. "random100"; needs a benchmark)
    track_every: int = 1  # ... after every this many epochs
    share_root: bool = True  # train the root supernet once per seed for the epochs every method shares

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse unknown or repeated methods and bad seeds, naming them."""
        if not self.methods:
            raise ValueError(f"no method to compare; expected a comma-separated subset of {list(METHODS)}")
        for method in self.methods:
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods {list(self.methods)} name a method twice")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds {list(self.seeds)}; expected distinct non-negative integers")
        if self.track_every < 1:
            raise ValueError(f"track_every={self.track_every}; expected >= 1")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass
class Preset:
    purpose: str
    config: RunConfig
    plan: ComparePlan = field(default_factory=ComparePlan)


def _tiny() -> Preset:
    # minutes on 2 CPU cores: the bundled 8x8 digits, a narrow one-cell-per-stage supernet, 4 leaves
    config = RunConfig(
        data=DataConfig(dataset="digits", crop_padding=1, horizontal_flip=False),
        network=NB201Config(channels=8, cells_per_stage=1, in_channels=1, num_classes=10),
        train=TrainConfig(batch_size=64, learning_rate=0.05, min_learning_rate=0.005),
        schedule=ScheduleConfig(split_epochs=(2, 3), finetune_epochs=1),
        split=SplitConfig(batches=2, batch_size=64, k=10, gradient_batches=2),
        proxy=ProxyConfig(calibration_batches=2),
        search=SearchConfig(population_size=20, generations=10, budget=100, num_parents=5, num_mutations=10,
                            num_crossovers=10),
    )
    plan = ComparePlan(ranking_subsets=("random150", "top1%"), sample_without_benchmark=150, profile_batches=2)
    return Preset("the demo and CI: every method end to end in a few minutes on a laptop CPU", config, plan)


def _cpu() -> Preset:
    # CIFAR-10 average-pooled to 16x16, a narrow one-cell-per-stage supernet: chosen by the study in
    # benchmarks/ranking_study.py as the best ranking per CPU minute (its README section gives the numbers)
    config = RunConfig(
        data=DataConfig(dataset="cifar10", path="../shared/data/cifar10", resolution=16, crop_padding=2),
        network=NB201Config(channels=8, cells_per_stage=1),
        train=TrainConfig(batch_size=128, learning_rate=0.05, min_learning_rate=0.0),
        schedule=ScheduleConfig(split_epochs=(25,), finetune_epochs=10),
        split=SplitConfig(batches=20, batch_size=128, k=20, gradient_batches=20),
        proxy=ProxyConfig(calibration_batches=2, evaluation_images=1000),
        search=SearchConfig(population_size=20, generations=10, budget=200, num_parents=5, num_mutations=10,
                            num_crossovers=10),
    )
    plan = ComparePlan(ranking_subsets=("random1000", "top1%"), track_subset="random100", track_every=5)
    return Preset("a ranking that means something on 2 CPU cores: CIFAR-10 at 16x16, C=8 N=1, 35 epochs", config,
                  plan)


def _paper() -> Preset:
    # the NAS-LID authors' NB201 schedule (splits at 20/40/60/80 -> 16 leaves, 10 fine-tune epochs, 50 LID
    # batches of 128) at the published step count: batch 64 on the 25k train half, 390 SGD steps per epoch
    # (GM-NAS: batch 64 on the same half); lr 0.025 -> 0.001 is GM-NAS's NB201 recipe at that batch size
    config = RunConfig(
        data=DataConfig(dataset="cifar10", path="../shared/data/cifar10"),
        network=NB201Config(),
        train=TrainConfig(batch_size=64, learning_rate=0.025, min_learning_rate=0.001),
        schedule=ScheduleConfig(split_epochs=(20, 40, 60, 80), finetune_epochs=10),
        split=SplitConfig(batches=50, batch_size=128, k=20, gradient_batches=100),
        proxy=ProxyConfig(calibration_batches=4, evaluation_images=10_000),  # 10k of the 25k valid images
        search=SearchConfig(budget=1000),
    )
    plan = ComparePlan(track_subset="random100", track_every=5)
    return Preset("the paper's comparison: the authors' schedule on CIFAR-10 at the published step count, for "
                  "one GPU", config, plan)


PRESETS = {"tiny": _tiny, "cpu": _cpu, "paper": _paper}


def get_preset(name: str) -> Preset:
    """A fresh copy of the preset called `name`."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def method_config(config: RunConfig, method: str) -> RunConfig:
    """`config` set up for one compared method (same data, seed and schedule)."""
    if method == "spos":
        return replace(config, schedule=replace(config.schedule, method="spos"))
    if method == "few-shot":
        return replace(config, schedule=replace(config.schedule, method="few-shot"))
    schedule = replace(config.schedule, method="split")
    if method == "nas-lid":
        return replace(config, schedule=schedule, split=replace(config.split, criterion="lid"))
    if method == "gm-nas":
        # GM-NAS's own rules: gradients of the cells' parameters, the edge whose groups' gradients differ most
        split = replace(config.split, criterion="gradient", edge_score="min-cross", gradient_parameters="cells")
        return replace(config, schedule=schedule, split=split)
    if method == "random-split":
        return replace(config, schedule=schedule, split=replace(config.split, criterion="random"))
    raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")


