"""CIFAR-10 from the packed-JPEG npz or torchvision's ``cifar-10-batches-py`` folder, as `ImageDataset`s."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from naslid.atomic import write_with
from naslid.data.dataset import ImageDataset, channel_stats
from naslid.data.split import balanced_subset_indices

logger = logging.getLogger(__name__)

PACKED_NPZ_NAME = "cifar10_jpeg_packed.npz"
PACKED_NPZ_ARRAYS = (
    "train_jpeg", "train_offsets", "train_labels", "test_jpeg", "test_offsets", "test_labels", "classes",
)
BATCHES_FOLDER_NAME = "cifar-10-batches-py"
BATCH_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
BATCHES_META_FILE = "batches.meta"

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# The statistics NAS-Bench-201 normalises CIFAR-10 with (its get_datasets: [125.3, 123.0, 113.9] / 255 and
# [63.0, 62.1, 66.7] / 255), so runs on different subsets normalise alike.
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
NORMALIZATIONS = ("reference", "train")

_IMAGE_SHAPE = (3, 32, 32)
_PIXELS_PER_IMAGE = 3 * 32 * 32


def load_cifar10(
    path: str | os.PathLike,
    *,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    normalization: str = "reference",
    progress: bool = False,
) -> tuple[ImageDataset, ImageDataset]:
    """The CIFAR-10 train (50k) and test (10k) sets from `path`.

    Parameters
    ----------
    path : path
        The packed npz (``cifar10_jpeg_packed.npz``), a folder holding it, a ``cifar-10-batches-py``
        folder, or a folder holding that one.
    train_limit, test_limit : int or None, default=None
        Keep a seeded, class-balanced subset of this many images (None: all). With the npz only the kept
        images are decoded, which is much faster than decoding all 50k.
    seed : int, default=0
        Seed of the subset draws.
    cache_dir : path or None, default=None
        Where to keep the decoded full uint8 arrays of the npz as .npy (decoded once, then memory-mapped).
        None: no cache. Unused for the batches folder, which stores raw pixels already.
    normalization : {'reference', 'train'}, default='reference'
        'reference': NAS-Bench-201's CIFAR-10 mean and std; 'train': computed from the loaded train images.
    progress : bool, default=False
        Show a progress bar while decoding JPEGs.

    Returns
    -------
    (train, test) : the two datasets, uint8 images 3 x 32 x 32, sharing one mean and std.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    kind, source = _resolve_source(Path(path))
    parts = {}
    if kind == "npz":
        arrays = _read_packed_npz(source)
        classes = _checked_classes(arrays["classes"], source)
        for split, limit in (("train", train_limit), ("test", test_limit)):
            jpeg, offsets = arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"]
            labels = arrays[f"{split}_labels"]
            indices = _limit_indices(labels, limit, seed, split)
            if cache_dir is not None:
                full = _cached_decode(source, split, jpeg, offsets, labels, Path(cache_dir), progress)
                images = np.array(full) if indices is None else full[indices]
            else:
                chosen = np.arange(len(labels)) if indices is None else indices
                images = _decode_jpegs(jpeg, offsets, chosen, split, source, progress)
            parts[split] = (images, labels if indices is None else labels[indices], indices)
    else:
        if cache_dir is not None:
            logger.info("cache_dir is unused for the %s format (pixels are stored raw)", BATCHES_FOLDER_NAME)
        classes, batches = _read_batches_folder(source)
        classes = _checked_classes(classes, source)
        for split, limit in (("train", train_limit), ("test", test_limit)):
            images, labels = batches[split]
            indices = _limit_indices(labels, limit, seed, split)
            if indices is not None:
                images, labels = images[indices], labels[indices]
            parts[split] = (images, labels, indices)
    datasets = {}
    for split, (images, labels, indices) in parts.items():
        name = f"cifar10-{split}" if indices is None else f"cifar10-{split}[{len(indices)}, seed {seed}]"
        datasets[split] = ImageDataset(
            name=name,
            images=torch.from_numpy(np.ascontiguousarray(images)),
            labels=torch.from_numpy(np.asarray(labels, dtype=np.int64)),
            classes=classes,
            mean=CIFAR10_MEAN,
            std=CIFAR10_STD,
        )
    if normalization == "train":
        mean, std = channel_stats(datasets["train"].images)
        datasets = {split: _with_stats(dataset, mean, std) for split, dataset in datasets.items()}
    return datasets["train"], datasets["test"]


def _checked_classes(names: object, source: Path) -> tuple[str, ...]:
    classes = tuple(str(name) for name in np.asarray(names).reshape(-1))
    if len(classes) != len(CIFAR10_CLASSES):
        raise ValueError(
            f"{source}: expected {len(CIFAR10_CLASSES)} CIFAR-10 class names, got {list(classes)}"
        )
    return classes


def _with_stats(dataset: ImageDataset, mean: tuple[float, ...], std: tuple[float, ...]) -> ImageDataset:
    return replace(dataset, mean=mean, std=std)


CIFAR10_ENVIRONMENT_VARIABLE = "NASLID_CIFAR10"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# this project's development layout: the data beside the checkout (tried last, relative to the working folder)
_WORKSPACE_CIFAR10 = Path("../shared/data/cifar10")


def user_cifar10_path() -> Path:
    """The user-level place for CIFAR-10: $XDG_CACHE_HOME/naslid/cifar10, by default ~/.cache/naslid/cifar10."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "naslid" / "cifar10"


def default_cifar10_path() -> Path:
    """Where naslid reads CIFAR-10 when no path is given, as an absolute path.

    In order: ``$NASLID_CIFAR10`` when set (even if it does not exist, so the error names it); the user folder
    (`user_cifar10_path`) when it exists; ``../shared/data/cifar10`` when it exists; else the user folder.
    """
    variable = os.environ.get(CIFAR10_ENVIRONMENT_VARIABLE)
    if variable:
        return Path(variable).expanduser().resolve()
    user = user_cifar10_path()
    for candidate in (user, _WORKSPACE_CIFAR10):
        if candidate.exists():
            return candidate.resolve()
    return user.resolve()


def _how_to_get() -> str:
    return (f"download {CIFAR10_URL}, unpack it, and put its {BATCHES_FOLDER_NAME!r} folder at {user_cifar10_path()} "
            f"(or set ${CIFAR10_ENVIRONMENT_VARIABLE}, or pass --data-path)")


def _expected_formats() -> str:
    batch_files = ", ".join(BATCH_FILES + (BATCHES_META_FILE,))
    return (
        f"expected the packed npz {PACKED_NPZ_NAME!r} (arrays {', '.join(PACKED_NPZ_ARRAYS)}), a folder "
        f"holding it, a {BATCHES_FOLDER_NAME!r} folder (files {batch_files}), or a folder holding that one"
    )


def _resolve_source(path: Path) -> tuple[str, Path]:
    """('npz', file) or ('batches', folder) for a user-given CIFAR-10 path."""
    if not path.exists():
        raise FileNotFoundError(f"CIFAR-10 not found at {path}: {_how_to_get()}; {_expected_formats()}")
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"CIFAR-10 path {path} is a file but not an .npz; {_expected_formats()}")
        return "npz", path
    if (path / PACKED_NPZ_NAME).is_file():
        return "npz", path / PACKED_NPZ_NAME
    for folder in (path, path / BATCHES_FOLDER_NAME):
        present = [name for name in BATCH_FILES + (BATCHES_META_FILE,) if (folder / name).is_file()]
        if present:
            missing = [name for name in BATCH_FILES + (BATCHES_META_FILE,) if name not in present]
            if missing:
                raise FileNotFoundError(
                    f"CIFAR-10 batches folder {folder} lacks {', '.join(missing)}; a {BATCHES_FOLDER_NAME!r} "
                    f"folder holds {', '.join(BATCH_FILES + (BATCHES_META_FILE,))}"
                )
            return "batches", folder
    raise FileNotFoundError(f"no CIFAR-10 data in folder {path}; {_expected_formats()}")


def _limit_indices(labels: np.ndarray, limit: int | None, seed: int, split: str) -> np.ndarray | None:
    if limit is None:
        return None
    if not isinstance(limit, int | np.integer) or not 0 < limit <= len(labels):
        raise ValueError(f"{split}_limit must be None or an integer in 1..{len(labels)}, got {limit!r}")
    return balanced_subset_indices(labels, int(limit), seed)


def _read_packed_npz(path: Path) -> dict[str, np.ndarray]:
    """The npz's arrays, checked for presence, dtypes and consistent offsets."""
    def unreadable(reason: object) -> ValueError:
        return ValueError(
            f"CIFAR-10 npz {path} cannot be read ({reason}); expected a numpy .npz with arrays "
            f"{', '.join(PACKED_NPZ_ARRAYS)}"
        )

    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise unreadable(error) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise unreadable("it holds a single array, not an archive")
    with archive:
        missing = [name for name in PACKED_NPZ_ARRAYS if name not in archive.files]
        if missing:
            raise ValueError(
                f"CIFAR-10 npz {path} lacks arrays {', '.join(missing)}; expected arrays "
                f"{', '.join(PACKED_NPZ_ARRAYS)}"
            )
        try:
            arrays = {name: archive[name] for name in PACKED_NPZ_ARRAYS}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as error:
            raise unreadable(error) from None
    for split in ("train", "test"):
        jpeg, offsets, labels = arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"], arrays[f"{split}_labels"]
        problem = None
        if jpeg.dtype != np.uint8 or jpeg.ndim != 1:
            problem = f"{split}_jpeg must be 1-D uint8, got {jpeg.dtype} {jpeg.shape}"
        elif labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            problem = f"{split}_labels must be 1-D integers, got {labels.dtype} {labels.shape}"
        elif offsets.shape != (len(labels) + 1,) or not np.issubdtype(offsets.dtype, np.integer):
            problem = (
                f"{split}_offsets must be {len(labels) + 1} integers (n + 1), "
                f"got {offsets.dtype} {offsets.shape}"
            )
        elif offsets[0] != 0 or offsets[-1] != len(jpeg) or np.any(np.diff(offsets) <= 0):
            problem = f"{split}_offsets must rise from 0 to len({split}_jpeg) = {len(jpeg)}"
        elif len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
            problem = f"{split}_labels must lie in 0..{len(CIFAR10_CLASSES) - 1}"
        if problem:
            raise ValueError(f"CIFAR-10 npz {path} is inconsistent: {problem}")
    return arrays


def _decode_jpegs(
    jpeg: np.ndarray, offsets: np.ndarray, indices: np.ndarray, split: str, source: Path, progress: bool
) -> np.ndarray:
    """Decode images `indices` of a packed split into uint8 N x 3 x 32 x 32."""
    pixels = np.empty((len(indices), 32, 32, 3), dtype=np.uint8)
    rows = enumerate(indices.tolist())
    if progress:
        from tqdm import tqdm

        rows = tqdm(rows, total=len(indices), desc=f"decode cifar10 {split}", unit="img")
    for row, index in rows:
        encoded = memoryview(jpeg[offsets[index]:offsets[index + 1]])
        try:
            with Image.open(io.BytesIO(encoded)) as image:
                decoded = np.asarray(image.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(
                f"CIFAR-10 npz {source}: {split} image {index} is not a decodable JPEG ({error})"
            ) from None
        if decoded.shape != (32, 32, 3):
            raise ValueError(
                f"CIFAR-10 npz {source}: {split} image {index} decodes to shape {decoded.shape}, "
                "expected (32, 32, 3)"
            )
        pixels[row] = decoded
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))


def _cached_decode(
    source: Path, split: str, jpeg: np.ndarray, offsets: np.ndarray, labels: np.ndarray, cache_dir: Path,
    progress: bool,
) -> np.ndarray:
    """All images of `split`, memory-mapped from the cache, decoding and writing it first if needed."""
    digest = hashlib.sha256()
    for array in (offsets, labels, jpeg[:4096], jpeg[-4096:]):
        digest.update(np.ascontiguousarray(array).tobytes())
    cache_path = cache_dir / f"cifar10-{split}-{digest.hexdigest()[:16]}-uint8.npy"
    expected_shape = (len(labels), *_IMAGE_SHAPE)
    if cache_path.is_file():
        try:
            cached = np.load(cache_path, mmap_mode="r", allow_pickle=False)
            if cached.shape == expected_shape and cached.dtype == np.uint8:
                logger.info("reading decoded CIFAR-10 %s images from %s", split, cache_path)
                return cached
        except (OSError, ValueError):
            pass
        logger.warning("ignoring unreadable or mismatched cache %s; decoding again", cache_path)
    images = _decode_jpegs(jpeg, offsets, np.arange(len(labels)), split, source, progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_with(cache_path, lambda handle: np.save(handle, images))
    logger.info("cached decoded CIFAR-10 %s images at %s", split, cache_path)
    return images


def _unpickle(path: Path) -> dict:
    """One pickled dict of the batches folder (torchvision's format; pickle: read only trusted folders)."""
    try:
        with open(path, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as error:
        raise ValueError(f"CIFAR-10 batch file {path} is not a readable pickle ({error!r})") from None
    if not isinstance(entry, dict):
        raise ValueError(f"CIFAR-10 batch file {path} holds a {type(entry).__name__}, expected a dict")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in entry.items()}


def _read_batches_folder(folder: Path) -> tuple[tuple[str, ...], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Class names and the (images N x 3 x 32 x 32, labels) of train and test from a batches folder."""
    meta = _unpickle(folder / BATCHES_META_FILE)
    if "label_names" not in meta:
        raise ValueError(f"{folder / BATCHES_META_FILE} lacks 'label_names'; keys present: {sorted(meta)}")
    classes = tuple(name.decode() if isinstance(name, bytes) else str(name) for name in meta["label_names"])
    batches = {}
    for split, names in (("train", BATCH_FILES[:5]), ("test", BATCH_FILES[5:])):
        images, labels = [], []
        for name in names:
            entry = _unpickle(folder / name)
            if "data" not in entry or "labels" not in entry:
                raise ValueError(f"{folder / name} lacks 'data' or 'labels'; keys present: {sorted(entry)}")
            data = np.asarray(entry["data"])
            batch_labels = np.asarray(entry["labels"], dtype=np.int64)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS_PER_IMAGE:
                raise ValueError(
                    f"{folder / name}: 'data' must be uint8 N x {_PIXELS_PER_IMAGE}, "
                    f"got {data.dtype} {data.shape}"
                )
            if batch_labels.shape != (data.shape[0],):
                raise ValueError(f"{folder / name}: {data.shape[0]} images but {batch_labels.shape} labels")
            if len(batch_labels) and (batch_labels.min() < 0 or batch_labels.max() >= len(classes)):
                raise ValueError(f"{folder / name}: labels must lie in 0..{len(classes) - 1}")
            images.append(data.reshape(-1, *_IMAGE_SHAPE))
            labels.append(batch_labels)
        batches[split] = (np.concatenate(images), np.concatenate(labels))
    return classes, batches
