"""Helpers shared by the tests (plain functions; the fixtures are in conftest.py): `from helpers import ...`."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

from naslid.nn import NB201Config
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.runs.config import RunConfig
from naslid.runs.datasets import DataConfig
from naslid.search import ProxyConfig, SearchConfig
from naslid.spaces import SubSpace
from naslid.train import TrainConfig

# all of NAS-Bench-201 (naslid has no default space: a sub-space names its space)
NB201_ALL = SubSpace(None, "nb201")

# a search of 8 evaluations: a population of 4 over 2 generations
TINY_SEARCH = {"population_size": 4, "generations": 2, "budget": 8, "num_parents": 2, "num_mutations": 2,
               "num_crossovers": 2}


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to `count` within the block and restored after, also on error."""
    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_run_config(*, train_limit: int = 600, split: Mapping | None = None, proxy: Mapping | None = None,
                    search: Mapping | None = None, **schedule) -> RunConfig:
    """A run that trains in seconds on the CPU: NB201 at C=4, one cell per stage, on the bundled digits.

    `schedule` sets fields of the ScheduleConfig (default: splits after epochs 1 and 2, one fine-tune epoch);
    `split`, `proxy` and `search` set fields of those configs over the small defaults here (no search given:
    SearchConfig's defaults).
    """
    return RunConfig(
        data=DataConfig(dataset="digits", crop_padding=1, horizontal_flip=False, train_limit=train_limit),
        network=NB201Config(channels=4, cells_per_stage=1, in_channels=1),
        train=TrainConfig(batch_size=64, learning_rate=0.05),
        schedule=ScheduleConfig(**{"split_epochs": (1, 2), "finetune_epochs": 1, **schedule}),
        split=SplitConfig(**{"batches": 2, "batch_size": 64, "k": 8, "gradient_batches": 2, **(split or {})}),
        proxy=ProxyConfig(**{"calibration_batches": 1, **(proxy or {})}),
        search=SearchConfig(**(search or {})),
        device="cpu",
    )


def tiny_nb201_and_batches(seed: int = 0, batches: int = 2, n: int = 24):
    """A seeded 4-channel, one-cell NB201 supernet (5 classes) and `batches` random (images, labels) batches of
    `n` 8x8 images: what the split-criterion tests measure on."""
    from naslid.nn import NB201SuperNet

    torch.manual_seed(seed)
    net = NB201SuperNet(channels=4, cells_per_stage=1, num_classes=5)
    generator = torch.Generator().manual_seed(seed)
    data = [(torch.randn(n, 3, 8, 8, generator=generator), torch.randint(0, 5, (n,), generator=generator))
            for _ in range(batches)]
    return net, data
