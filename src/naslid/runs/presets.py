"""Named run configurations, each with the purpose it serves."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from naslid.nn import NB201Config
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.runs.config import RunConfig
from naslid.runs.datasets import DataConfig
from naslid.search import ProxyConfig, SearchConfig
from naslid.train import TrainConfig


@dataclass
class ComparePlan:
    """What `naslid compare` runs on top of a RunConfig: which methods, which archs to rank, the search."""

    methods: tuple[str, ...] = ("spos", "few-shot", "gm-nas", "nas-lid")
    ranking_subsets: tuple[str, ...] = ("random1000", "top1%")  # ranked against the benchmark, when given
    sample_without_benchmark: int = 1000  # archs scored when no benchmark is given (seeded random)
    profile_archs: int = 3  # LID profiles of this many best and worst architectures
    profile_batches: int = 4

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
        split=SplitConfig(batches=2, batch_size=64, k=10),
        proxy=ProxyConfig(calibration_batches=2),
        search=SearchConfig(population_size=20, generations=10, budget=100, num_parents=5, num_mutations=10,
                            num_crossovers=10),
    )
    plan = ComparePlan(ranking_subsets=("random150", "top1%"), sample_without_benchmark=150, profile_batches=2)
    return Preset("the demo and CI: every method end to end in a few minutes on a laptop CPU", config, plan)


def _paper() -> Preset:
    # the reference schedule on CIFAR-10 (a GPU job): splits at 20/40/60/80 -> 16 leaves, 10 fine-tune epochs
    config = RunConfig(
        data=DataConfig(dataset="cifar10", path="../shared/data/cifar10"),
        network=NB201Config(),
        train=TrainConfig(batch_size=256, learning_rate=0.05),
        schedule=ScheduleConfig(split_epochs=(20, 40, 60, 80), finetune_epochs=10),
        split=SplitConfig(batches=50, batch_size=128, k=20),
        proxy=ProxyConfig(calibration_batches=4, evaluation_images=10_000),  # 10k of the 25k valid images
        search=SearchConfig(budget=1000),
    )
    return Preset("the paper's comparison: reference schedule on CIFAR-10, for one GPU", config, ComparePlan())


PRESETS = {"tiny": _tiny, "paper": _paper}


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
    criteria = {"nas-lid": "lid", "gm-nas": "gradient", "random-split": "random"}
    if method not in criteria:
        raise ValueError(f"unknown method {method!r}; expected one of {['spos', 'few-shot', *criteria]}")
    return replace(config, schedule=replace(config.schedule, method="split"),
                   split=replace(config.split, criterion=criteria[method]))


METHODS = ("spos", "few-shot", "gm-nas", "nas-lid", "random-split")
