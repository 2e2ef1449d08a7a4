"""Data for a run: load the chosen dataset, draw (or reload) the train/valid split, build device loaders."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from naslid.data import (
    AugmentConfig,
    DeviceLoader,
    ImageDataset,
    SplitRecord,
    apply_split,
    balanced_subset_indices,
    channel_stats,
    load_cifar10,
    load_digits_dataset,
    load_split,
    resize_dataset,
    save_split,
    split_train_valid,
)

logger = logging.getLogger(__name__)

DATASETS = ("digits", "cifar10")


@dataclass
class DataConfig:
    """Which data a run trains and evaluates on; the valid half is the proxy's held-out split."""

    dataset: str = "cifar10"  # "cifar10" (needs `path`) or "digits" (bundled with scikit-learn, no download)
    path: str | None = None  # cifar10: the packed npz, or a cifar-10-batches-py folder
    train_limit: int | None = None  # use a seeded class-balanced subset of the train set (None: all)
    test_limit: int | None = None
    valid_fraction: float = 0.5  # NB201: 25k train / 25k valid of CIFAR-10's 50k
    crop_padding: int = 4  # NB201 augmentation: pad-4 random crop and horizontal flip
    horizontal_flip: bool = True
    cutout: int = 0
    cache_dir: str | None = None  # where decoded CIFAR-10 arrays are cached (None: no cache)
    resolution: int | None = None  # resize images to this many pixels a side by area averaging (None: as stored)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r}; expected one of {list(DATASETS)}")
        if self.dataset == "cifar10" and not self.path:
            raise ValueError("dataset 'cifar10' needs a path: the packed npz or a cifar-10-batches-py folder "
                             "(e.g. --data-path ../shared/data/cifar10)")
        if self.resolution is not None and (isinstance(self.resolution, bool) or not isinstance(self.resolution, int)
                                            or self.resolution < 4):
            raise ValueError(f"resolution={self.resolution!r}; expected a whole number of pixels >= 4 (or None)")
        if not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction={self.valid_fraction}; expected a fraction in (0, 1)")
        for name, low in (("train_limit", 1), ("test_limit", 1), ("crop_padding", 0), ("cutout", 0), ("seed", 0)):
            value = getattr(self, name)
            if value is None and name.endswith("_limit"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r}; expected an integer >= {low}")

    def augment(self) -> AugmentConfig:
        return AugmentConfig(self.crop_padding, self.horizontal_flip, self.cutout)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunData:
    """The datasets and loaders of a run."""

    train: ImageDataset
    valid: ImageDataset
    test: ImageDataset
    train_loader: DeviceLoader
    split: SplitRecord

    def evaluation_loader(self, part: str = "valid", batch_size: int = 500, limit: int | None = None) -> DeviceLoader:
        """Unaugmented, ordered batches of `part`; `limit` keeps a seeded class-balanced subset."""
        dataset = {"valid": self.valid, "test": self.test, "train": self.train}[part]
        if limit is not None and limit < len(dataset):
            dataset = dataset.subset(balanced_subset_indices(dataset.labels, limit, seed=0).tolist())
        return DeviceLoader(dataset, min(batch_size, len(dataset)), self.train_loader.device, augment=None,
                            shuffle=False, drop_last=False, channels_last=self.train_loader.channels_last)

    def batches(self, count: int, batch_size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`count` unaugmented training batches of `batch_size`, drawn with `seed` (for split decisions)."""
        loader = DeviceLoader(self.train, batch_size, self.train_loader.device, augment=None, shuffle=True,
                              drop_last=True, seed=seed, channels_last=self.train_loader.channels_last)
        batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        epoch = 0
        while len(batches) < count:
            batches.extend(loader.epoch(epoch))
            epoch += 1
        return batches[:count]


def load_datasets(cfg: DataConfig) -> tuple[ImageDataset, ImageDataset]:
    """The full train and test sets named by `cfg`."""
    if cfg.dataset == "digits":
        train, test = load_digits_dataset(seed=cfg.seed)
    else:
        train, test = load_cifar10(cfg.path, train_limit=cfg.train_limit, test_limit=cfg.test_limit, seed=cfg.seed,
                                   cache_dir=cfg.cache_dir)
    if cfg.resolution is None:
        return train, test
    train, test = resize_dataset(train, cfg.resolution), resize_dataset(test, cfg.resolution)
    mean, std = channel_stats(train.images)  # averaging lowers the spread: normalise with the resized statistics
    return replace(train, mean=mean, std=std), replace(test, mean=mean, std=std)


def prepare_data(cfg: DataConfig, batch_size: int, device: torch.device, run_dir: Path | None = None,
                 channels_last: bool = False) -> RunData:
    """Load the data and split train into train/valid; a run directory keeps the split, and reuses it."""
    full_train, test = load_datasets(cfg)
    if cfg.dataset == "digits" and cfg.train_limit:
        full_train = full_train.subset(list(range(min(cfg.train_limit, len(full_train)))))
    split_path = run_dir / "split.json" if run_dir is not None else None
    if split_path is not None and split_path.is_file():
        record = load_split(split_path)
        train, valid = apply_split(full_train, record)
        logger.info("reusing the train/valid split in %s", split_path)
    else:
        train, valid, record = split_train_valid(full_train, cfg.valid_fraction, cfg.seed)
        if split_path is not None:
            save_split(split_path, record)
    if batch_size > len(train):
        raise ValueError(f"batch size {batch_size} exceeds the {len(train)} training images; lower the batch size")
    loader = DeviceLoader(train, batch_size, device, augment=cfg.augment(), shuffle=True, drop_last=True,
                          seed=cfg.seed, channels_last=channels_last)
    return RunData(train=train, valid=valid, test=test, train_loader=loader, split=record)
