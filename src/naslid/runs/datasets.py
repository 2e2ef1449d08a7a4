"""Data for a run: load the chosen dataset, draw (or reload) the train/valid split, build its loaders.

CIFAR-10 and digits are held on the device (`DeviceLoader`); an ImageNet-layout folder is streamed from disk
by decoding workers (`StreamingLoader`). Both loaders give the same interface, so the rest of a run does not
care which it has.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path

import torch

from naslid.data import (
    AugmentConfig,
    DeviceLoader,
    FolderAugment,
    ImageDataset,
    ImageFolder,
    SplitRecord,
    StreamingLoader,
    apply_split,
    balanced_subset_indices,
    channel_stats,
    default_cifar10_path,
    load_cifar10,
    load_digits_dataset,
    load_image_folder,
    load_split,
    resize_dataset,
    save_split,
    split_train_valid,
)
from naslid.options import flag, integer, number
from naslid.runs.run_directory import SPLIT_FILE

logger = logging.getLogger(__name__)

DATASETS = ("digits", "cifar10", "imagefolder")
IMAGEFOLDER_RESOLUTION = 224  # ImageNet's training crop, the resolution an imagefolder run gets unless set
# a loaded set: images in memory (CIFAR-10, digits) or files decoded on demand (imagefolder)
Images = ImageDataset | ImageFolder


# the training data behind NB201's accuracy columns, by the column's prefix (``c10_test_acc_200``: CIFAR-10)
_BENCHMARK_COLUMN_DATA = {"c10v": "cifar10", "c10": "cifar10", "c100": "cifar100", "in16": "ImageNet16-120"}


def ranking_caveat(dataset: str, column: str | None) -> str | None:
    """Why a ranking of `column` by supernets trained on `dataset` says nothing of the method; None when it can.

    A supernet ranks the architectures for the data it was trained on: supernets trained on the bundled 8x8 digits
    (or any other set) ranked against NB201's CIFAR-10 accuracies measure the mismatch, not the method. An
    imagefolder run is flagged too, since naslid cannot tell what the folder holds. Benchmark files with their own
    column names (an arch -> value JSON) are taken as measured on the run's data.
    """
    if column is None:
        return None
    prefix = column.split("_", 1)[0]
    truth_data = _BENCHMARK_COLUMN_DATA.get(prefix)
    if truth_data is None or truth_data == dataset:
        return None
    trained = {"digits": "the bundled 8x8 digits", "cifar10": "CIFAR-10",
               "imagefolder": "an image folder naslid cannot identify"}.get(dataset, dataset)
    return (f"the supernets were trained on {trained}, but the ground truth ({column}) was measured on {truth_data}: "
            "this ranking tests the pipeline, not the method")


@dataclass
class DataConfig:
    """Which data a run trains and evaluates on; the valid half is the proxy's held-out split."""

    # "cifar10" (needs `path`), "digits" (bundled with scikit-learn, no download) or "imagefolder" (needs `path`)
    dataset: str = field(default="cifar10", metadata=flag(
        "--dataset", choices=DATASETS,
        help="training data (imagefolder: ROOT/train/CLASS/*.jpg and ROOT/val/CLASS/*.jpg, streamed)"))
    # cifar10: the packed npz or a cifar-10-batches-py folder; imagefolder: ROOT (train/, val/)
    path: str | None = field(default=None, metadata=flag(
        "--data-path",
        help="CIFAR-10: the packed npz or a cifar-10-batches-py folder; imagefolder: ROOT"))
    # use a seeded class-balanced subset of the train set (None: all)
    train_limit: int | None = field(default=None, metadata=flag(
        "--train-limit", parse=integer(1),
        help="use a class-balanced subset of this many training images"))
    test_limit: int | None = None
    # NB201: 25k train / 25k valid of CIFAR-10's 50k; 0: train on every training image (no valid part: the
    # proxy must then score on the test part, `ProxyConfig.split="test"`)
    valid_fraction: float = field(default=0.5, metadata=flag(
        "--valid-fraction", parse=number(0, below=1),
        help="share of the training images held out as the valid part (0.5: NB201's 25k/25k; 0: train on all, "
        "score on the test part)"))
    crop_padding: int = 4  # NB201 augmentation: pad-4 random crop and horizontal flip
    horizontal_flip: bool = True
    cutout: int = field(default=0, metadata=flag(
        "--cutout", parse=integer(0), help="cutout square side in pixels (0: off)"))
    # random rotation in [-r, r] degrees after crop and flip (the NAS-LID release: 15)
    rotation: float = field(default=0.0, metadata=flag(
        "--rotation", parse=number(0, maximum=180),
        help="random rotation augmentation in degrees (NAS-LID release: 15)"))
    cache_dir: str | None = None  # where decoded CIFAR-10 arrays are cached (None: no cache)
    # cifar10/digits: resize images to this many pixels a side by area averaging (None: as stored);
    # imagefolder: side of the training crops and evaluation centre crops (None: IMAGEFOLDER_RESOLUTION, 224)
    resolution: int | None = field(default=None, metadata=flag(
        "--resolution", parse=integer(1),
        help="resize images to this many pixels a side (e.g. 16); imagefolder: crop side (default 224)"))
    seed: int = 0
    # imagefolder: decoding processes (None: min(8, CPU cores)); a machine setting like the device, so not saved
    workers: int | None = field(default=None, metadata=flag(
        "--data-workers", parse=integer(0),
        help="imagefolder: decoding processes (default min(8, CPU cores))"))

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r}; expected one of {list(DATASETS)}")
        if self.dataset == "cifar10" and not self.path:
            found = default_cifar10_path()  # $NASLID_CIFAR10, ~/.cache/naslid/cifar10, ../shared/data/cifar10
            if not found.exists():
                raise ValueError("dataset 'cifar10' needs a path: the packed npz or a cifar-10-batches-py folder "
                                 "(--data-path; by default naslid looks at $NASLID_CIFAR10, then "
                                 "~/.cache/naslid/cifar10)")
            self.path = str(found)
        if self.dataset == "imagefolder":
            if not self.path:
                raise ValueError("dataset 'imagefolder' needs a path: ROOT holding train/CLASS/*.jpg and "
                                 "val/CLASS/*.jpg (e.g. --data-path /data/imagenet)")
            if self.cutout or self.rotation:
                raise ValueError(f"cutout={self.cutout!r}, rotation={self.rotation!r}; imagefolder augments with "
                                 "random-resized crops and flips only, expected 0")
            if self.resolution is None:
                self.resolution = IMAGEFOLDER_RESOLUTION
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 0):
            raise ValueError(f"workers={self.workers!r}; expected an integer >= 0 (0: decode in the main process)")
        if self.resolution is not None and (isinstance(self.resolution, bool) or not isinstance(self.resolution, int)
                                            or self.resolution < 4):
            raise ValueError(f"resolution={self.resolution!r}; expected a whole number of pixels >= 4 (or None)")
        if isinstance(self.valid_fraction, bool) or not isinstance(self.valid_fraction, int | float) \
                or not 0 <= self.valid_fraction < 1:
            raise ValueError(f"valid_fraction={self.valid_fraction!r}; expected a fraction in [0, 1) (0: no valid "
                             "part)")
        rotation = self.rotation
        if isinstance(rotation, bool) or not isinstance(rotation, int | float) or not 0 <= rotation < 180:
            raise ValueError(f"rotation={self.rotation!r}; expected degrees in [0, 180)")
        for name, low in (("train_limit", 1), ("test_limit", 1), ("crop_padding", 0), ("cutout", 0), ("seed", 0)):
            value = getattr(self, name)
            if value is None and name.endswith("_limit"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r}; expected an integer >= {low}")

    def augment(self) -> AugmentConfig | FolderAugment:
        """The training augmentation: padded crops for in-memory sets, random-resized crops for folders."""
        if self.dataset == "imagefolder":
            return FolderAugment(horizontal_flip=self.horizontal_flip)
        return AugmentConfig(self.crop_padding, self.horizontal_flip, self.cutout,
                             rotation_degrees=float(self.rotation))

    def to_dict(self) -> dict:
        settings = asdict(self)
        del settings["workers"]  # results do not depend on it: a resume may use another number of workers
        return settings


@dataclass
class RunData:
    """The datasets and loaders of a run; the parts are `ImageDataset`s, or `ImageFolder`s for imagefolder."""

    train: Images
    valid: Images
    test: Images
    train_loader: DeviceLoader | StreamingLoader
    split: SplitRecord
    workers: int | None = None  # decoding processes of streamed parts (None: the default)
    augment: AugmentConfig | FolderAugment | None = None  # the training augmentation (for augmented draws)

    @property
    def num_classes(self) -> int:
        """Classes of the data (the size of a network's classifier)."""
        return self.train.num_classes

    def evaluation_loader(self, part: str = "valid", batch_size: int = 500,
                          limit: int | None = None) -> DeviceLoader | StreamingLoader:
        """Unaugmented, ordered batches of `part`; `limit` keeps a seeded class-balanced subset."""
        dataset = {"valid": self.valid, "test": self.test, "train": self.train}[part]
        if len(dataset) == 0:
            raise ValueError(f"the {part} part of the data is empty (valid_fraction=0 trains on every training "
                             "image): score on the test part instead (proxy split 'test', --proxy-split test)")
        if limit is not None and limit < len(dataset):
            dataset = dataset.subset(balanced_subset_indices(dataset.labels, limit, seed=0).tolist())
        return self._loader(dataset, min(batch_size, len(dataset)), augment=None, shuffle=False, drop_last=False)

    def batches(self, count: int, batch_size: int, seed: int,
                augmented: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`count` training batches of `batch_size`, drawn with `seed` (for split decisions); unaugmented unless
        `augmented` (then with the training augmentation, as a reference that draws from its training loader)."""
        if augmented and self.augment is None:
            raise ValueError("augmented batches asked for, but this data has no training augmentation recorded")
        loader = self._loader(self.train, batch_size, augment=self.augment if augmented else None, shuffle=True,
                              drop_last=True, seed=seed)
        batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        epoch = 0
        while len(batches) < count:  # only the batches asked for are made (a streamed epoch is long)
            batches.extend(islice(loader.epoch(epoch), count - len(batches)))
            epoch += 1
        return batches

    def _loader(self, dataset: Images, batch_size: int, **settings) -> DeviceLoader | StreamingLoader:
        return make_loader(dataset, batch_size, self.train_loader.device, self.train_loader.channels_last,
                           self.workers, **settings)


def make_loader(dataset: Images, batch_size: int, device: torch.device, channels_last: bool = False,
                workers: int | None = None, *, augment: AugmentConfig | FolderAugment | None = None,
                shuffle: bool = True, drop_last: bool = True, seed: int = 0) -> DeviceLoader | StreamingLoader:
    """The loader that suits `dataset`: streamed from disk for an `ImageFolder`, held on `device` otherwise."""
    common = dict(augment=augment, shuffle=shuffle, drop_last=drop_last, seed=seed, channels_last=channels_last)
    if isinstance(dataset, ImageFolder):
        return StreamingLoader(dataset, batch_size, device, workers=workers, **common)
    return DeviceLoader(dataset, batch_size, device, **common)


def load_datasets(cfg: DataConfig) -> tuple[Images, Images]:
    """The full train and test sets named by `cfg`."""
    if cfg.dataset == "imagefolder":
        train, test = load_image_folder(cfg.path, cfg.resolution)
        return _limited(train, cfg.train_limit, cfg.seed), _limited(test, cfg.test_limit, cfg.seed)
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


def _limited(folder: ImageFolder, limit: int | None, seed: int) -> ImageFolder:
    """A seeded class-balanced subset of `limit` files (as CIFAR-10's limits), or `folder` itself."""
    if limit is None or limit >= len(folder):
        return folder
    subset = folder.subset(balanced_subset_indices(folder.labels, limit, seed).tolist())
    return replace(subset, name=f"{folder.name}[{limit}, seed {seed}]")


def prepare_data(cfg: DataConfig, batch_size: int, device: torch.device, run_dir: Path | None = None,
                 channels_last: bool = False) -> RunData:
    """Load the data and split train into train/valid; a run directory keeps the split, and reuses it."""
    full_train, test = load_datasets(cfg)
    if cfg.dataset == "digits" and cfg.train_limit:
        full_train = full_train.subset(list(range(min(cfg.train_limit, len(full_train)))))
    split_path = run_dir / SPLIT_FILE if run_dir is not None else None
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
    augment = cfg.augment()
    loader = make_loader(train, batch_size, device, channels_last, cfg.workers, augment=augment, shuffle=True,
                         drop_last=True, seed=cfg.seed)
    return RunData(train=train, valid=valid, test=test, train_loader=loader, split=record, workers=cfg.workers,
                   augment=augment)
