"""Named run configurations, each with the purpose it serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from naslid.data import default_cifar10_path
from naslid.nn import NB201Config
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.rankers import get_ranker, is_ranker
from naslid.registry import register
from naslid.runs.config import RunConfig
from naslid.runs.datasets import DataConfig
from naslid.runs.protocols import METHODS, PROTOCOL_CHOICES, SCALES, get_protocol, method_config, parse_method
from naslid.search import ProxyConfig, SearchConfig
from naslid.train import TrainConfig

__all__ = ["ComparePlan", "PRESETS", "Preset", "get_preset", "method_config", "register_preset"]


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
    # "common": every method on the comparison's protocol; "own": each method on its own paper's protocol
    protocols: str = "common"
    scale: str = "full"  # the size own protocols run at (naslid.runs.protocols.SCALES)
    # every method's tau minus this one's, paired by seed (a name of `methods`; skipped when it is absent)
    control: str = "random-split"
    # training-free rankers ranked beside every comparison (the free floor); every method is also paired against
    # the first, params
    floor: tuple[str, ...] = ("params", "flops")
    plots: bool = True  # write plots/ (a study that appends seed by seed leaves them out)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse unknown or repeated methods and bad seeds, naming them."""
        if not self.methods:
            raise ValueError(f"no method to compare; expected a comma-separated subset of {list(METHODS)} or "
                             "training-free rankers (naslid rank --help)")
        # one method or ranker spelt twice (a variant's settings in another order are the same method) is refused
        if len({_method_identity(method) for method in self.methods}) != len(self.methods):
            raise ValueError(f"methods {list(self.methods)} name a method twice")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds {list(self.seeds)}; expected distinct non-negative integers")
        if self.track_every < 1:
            raise ValueError(f"track_every={self.track_every}; expected >= 1")
        if self.protocols not in PROTOCOL_CHOICES:
            raise ValueError(f"protocols={self.protocols!r}; expected one of {list(PROTOCOL_CHOICES)}")
        if self.scale not in SCALES:
            raise ValueError(f"scale={self.scale!r}; expected one of {sorted(SCALES)}")

    def trained_methods(self) -> tuple[str, ...]:
        """The methods that train supernets (spos, nas-lid, ... and their variants), in the plan's order."""
        return tuple(method for method in self.methods if not is_ranker(method))

    def ranker_methods(self) -> tuple[str, ...]:
        """The training-free rankers the comparison scores: those named among `methods`, then the floor's."""
        listed = [method_spelling(method) for method in self.methods if is_ranker(method)]
        return tuple(listed + [spelling for spelling in (method_spelling(f) for f in self.floor) if spelling not in
                               listed])

    def all_methods(self) -> tuple[str, ...]:
        """Every row of the comparison: the trained methods, then the rankers."""
        return self.trained_methods() + self.ranker_methods()

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def _method_identity(text: str) -> object:
    """What makes two spellings one method: a ranker's canonical spelling, or a variant's method and settings."""
    if is_ranker(text):
        return method_spelling(text)
    variant = parse_method(text)
    return variant.method.name, frozenset(variant.overrides)


def method_spelling(text: str) -> str:
    """The canonical spelling of a compared method: a trained method or variant (`parse_method`), or a training-free
    ranker (`naslid.rankers.get_ranker`); rankers that need a trained run are refused (each trained method's
    ranking is its run's proxy already)."""
    if is_ranker(text):
        ranker = get_ranker(text)
        if ranker.needs_run:
            raise ValueError(f"{ranker.spelling} scores with a trained run; a comparison ranks each trained method by "
                             "its proxy already (score a run with `naslid rank --run RUN_DIR --ranker ...`)")
        return ranker.spelling
    return parse_method(text).spelling


@dataclass
class Preset:
    purpose: str
    config: RunConfig
    plan: ComparePlan = field(default_factory=ComparePlan)
    protocol: str = "ours"  # the published protocol the config holds (naslid.runs.protocols), or "ours"


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
    plan = ComparePlan(ranking_subsets=("random150", "top1%"), sample_without_benchmark=150, profile_batches=2,
                       scale="tiny")
    return Preset("the demo and CI: every method end to end in a few minutes on a laptop CPU", config, plan)


def _cpu() -> Preset:
    # CIFAR-10 average-pooled to 16x16, a narrow one-cell-per-stage supernet: chosen by the study in
    # benchmarks/ranking_study.py as the best ranking per CPU minute (docs/measured.md gives the numbers)
    config = RunConfig(
        data=DataConfig(dataset="cifar10", path=str(default_cifar10_path()), resolution=16, crop_padding=2),
        network=NB201Config(channels=8, cells_per_stage=1),
        train=TrainConfig(batch_size=128, learning_rate=0.05, min_learning_rate=0.0),
        schedule=ScheduleConfig(split_epochs=(25,), finetune_epochs=10),
        split=SplitConfig(batches=20, batch_size=128, k=20, gradient_batches=20),
        proxy=ProxyConfig(calibration_batches=2, evaluation_images=1000),
        search=SearchConfig(population_size=20, generations=10, budget=200, num_parents=5, num_mutations=10,
                            num_crossovers=10),
    )
    plan = ComparePlan(ranking_subsets=("random1000", "top1%"), track_subset="random100", track_every=5, scale="cpu")
    return Preset("a ranking that means something on 2 CPU cores: CIFAR-10 at 16x16, C=8 N=1, 35 epochs", config,
                  plan)


def _demo() -> Preset:
    # `naslid demo` with CIFAR-10: the cpu preset cut to a first run's four minutes: the split at epoch 12 instead of
    # 25, 3 fine-tuning epochs instead of 10, 10 LID batches, proxy accuracy on 500 images, random100 and the top 1%
    # ranked, a 100-evaluation search, no tau-while-training curve. Its rankings are one short seed
    # (docs/measured.md); the `cpu` preset is the one whose rankings we measure.
    cpu = _cpu()
    config = replace(cpu.config, schedule=ScheduleConfig(split_epochs=(12,), finetune_epochs=3),
                     split=replace(cpu.config.split, batches=10),
                     proxy=replace(cpu.config.proxy, evaluation_images=500),
                     search=replace(cpu.config.search, generations=5, budget=100))
    plan = replace(cpu.plan, methods=("spos", "nas-lid"), ranking_subsets=("random100", "top1%"), track_subset=None)
    return Preset("the cpu preset cut to four minutes (15 epochs, one split, random100 and the top 1%)", config,
                  plan)


def _paper() -> Preset:
    # the paper's text on the NAS-LID authors' NB201 schedule: splits at 20/40/60/80 -> 16 leaves, 10
    # fine-tuning epochs, 50 LID batches of 128 (marsggbo/NAS-LID configs/experiment/fewshot_search_nb201.yaml),
    # Euclidean similarity and the intra-group edge score (the paper's text). Ours: batch 64 on the 25k train
    # half (390 SGD steps per epoch, a combination no reference runs: the release trains on all 50k, ~782 steps;
    # GM-NAS at batch 48 on 25k, ~521), lr 0.025 -> 0.001 per step with clipping 5 (GM-NAS's values, which it
    # runs at batch 48), leaves inheriting weights and optimizer, BN recalibrated on the valid half
    config = RunConfig(
        data=DataConfig(dataset="cifar10", path=str(default_cifar10_path())),
        network=NB201Config(),
        train=TrainConfig(batch_size=64, learning_rate=0.025, min_learning_rate=0.001),
        schedule=ScheduleConfig(split_epochs=(20, 40, 60, 80), finetune_epochs=10),
        split=SplitConfig(batches=50, batch_size=128, k=20, gradient_batches=100),
        proxy=ProxyConfig(calibration_batches=4, evaluation_images=10_000),  # 10k of the 25k valid images
        search=SearchConfig(budget=1000),
    )
    plan = ComparePlan(track_subset="random100", track_every=5)
    return Preset("the paper's text on the authors' split schedule (Euclidean, intra), our training (batch 64 on the "
                  "25k half, lr 0.025), for one GPU", config, plan)


def _authors() -> Preset:
    # the NAS-LID authors' released NB201 configuration, every value from its source (runs/protocols.py)
    paper = _paper()
    config = get_protocol("nas-lid-release").apply(paper.config)
    return Preset("the NAS-LID authors' released NB201 configuration (full 50k, lr 0.001 per epoch, cosine LID "
                  "similarity, max-cross edges, leaves retrained from scratch, proxy on the test set), for one GPU",
                  config, paper.plan, protocol="nas-lid-release")


PRESETS: dict[str, Callable[[], Preset]] = {}


def register_preset(name: str, preset: Callable[[], Preset], *, replace: bool = False) -> Callable[[], Preset]:
    """Add `preset` (a function that builds a fresh `Preset`) under `name`: `--preset NAME` and `get_preset`. A name
    registered already with another function is a ValueError unless `replace`."""
    register(PRESETS, name, preset, replace=replace, kind="preset")
    return preset


for _name, _preset in (("tiny", _tiny), ("demo", _demo), ("cpu", _cpu), ("paper", _paper), ("authors", _authors)):
    register_preset(_name, _preset)


def get_preset(name: str) -> Preset:
    """A fresh copy of the preset called `name`."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def flat_settings(config: RunConfig) -> dict[str, object]:
    """`config` as dotted names (``train.batch_size``) to values, the names `--print-config` and config.json use."""
    flat: dict[str, object] = {}
    for section, value in config.to_dict().items():
        if isinstance(value, dict):
            flat.update({f"{section}.{key}": item for key, item in value.items()})
        elif section != "schema":
            flat[section] = value
    return flat


def describe_presets() -> str:
    """Each preset's purpose and every setting on which the presets differ (what `naslid presets` prints).

    Settings every preset shares are left out: `--print-config` shows a whole resolved configuration.
    """
    presets = {name: get_preset(name) for name in PRESETS}
    settings = {name: flat_settings(preset.config) for name, preset in presets.items()}
    keys = sorted({key for values in settings.values() for key in values})
    differing = [key for key in keys if len({repr(values.get(key)) for values in settings.values()}) > 1]
    lines = [f"{name}: {preset.purpose}" for name, preset in presets.items()]
    width = max(len(key) for key in differing)
    cells = {name: [_cell(settings[name].get(key, "-")) for key in differing] for name in presets}
    widths = {name: max(len(name), *(len(cell) for cell in cells[name])) for name in presets}
    lines += ["", "settings that differ (dotted names as in config.json and --print-config; a flag sets each one, "
              "see --help):", "  ".join([" " * width, *(name.ljust(widths[name]) for name in presets)]).rstrip()]
    for row, key in enumerate(differing):
        lines.append("  ".join([key.ljust(width), *(cells[name][row].ljust(widths[name]) for name in presets)])
                     .rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "()"
    return "-" if value is None else str(value)
