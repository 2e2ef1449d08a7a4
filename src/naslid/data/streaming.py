"""A batch loader that decodes an `ImageFolder`'s files on demand in a pool of worker processes.

The images are never all in memory. Each epoch's order comes from (seed, epoch) as in `DeviceLoader`, and
each image's augmentation from (seed, epoch, file position) alone, so an epoch gives the same batches
whatever the number of workers, and a run resumed at an epoch boundary replays it exactly.

Transforms (ImageNet's, with PIL; no torchvision): training takes a random-resized crop (scale 0.08..1,
aspect 3/4..4/3, torchvision's draw) resized to `resolution`, then a horizontal flip with probability 1/2;
evaluation resizes the shorter side to ``resolution / 0.875`` and takes the centre `resolution` square.
JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still gives the crop `resolution`
pixels a side, which makes low resolutions several times faster to decode.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from naslid.data.folder import ImageFolder
from naslid.data.loader import BatchLoader, epoch_seed

logger = logging.getLogger(__name__)

EVAL_CROP_FRACTION = 0.875  # ImageNet evaluation: resize to 256, centre-crop 224


@dataclass(frozen=True)
class FolderAugment:
    """Training augmentation of an image folder: random-resized crop and horizontal flip (ImageNet's)."""

    min_scale: float = 0.08  # smallest crop area as a fraction of the image (torchvision's default)
    horizontal_flip: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"FolderAugment.min_scale must lie in (0, 1], got {self.min_scale!r}")
        if not isinstance(self.horizontal_flip, bool):
            raise ValueError(f"FolderAugment.horizontal_flip must be True or False, got {self.horizontal_flip!r}")


def default_workers() -> int:
    """Decoding processes when none is asked for: one per CPU core, at most 8."""
    return min(8, os.cpu_count() or 1)


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            min_scale: float = 0.08) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a random-resized crop, drawn as torchvision's RandomResizedCrop does."""
    area = width * height
    log_low, log_high = math.log(3 / 4), math.log(4 / 3)
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        aspect = math.exp(rng.uniform(log_low, log_high))
        crop_width, crop_height = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = int(rng.integers(0, height - crop_height + 1))
            left = int(rng.integers(0, width - crop_width + 1))
            return left, top, crop_width, crop_height
    # ten misses (very elongated images): the largest centred crop of an allowed aspect
    if width / height < 3 / 4:
        crop_width, crop_height = width, round(width / (3 / 4))
    elif width / height > 4 / 3:
        crop_width, crop_height = round(height * (4 / 3)), height
    else:
        crop_width, crop_height = width, height
    return (width - crop_width) // 2, (height - crop_height) // 2, crop_width, crop_height


def centre_crop_box(width: int, height: int, resolution: int) -> tuple[float, float, float, float]:
    """(left, top, width, height) in the original image of the evaluation crop (resize, then centre crop)."""
    scale = (resolution / EVAL_CROP_FRACTION) / min(width, height)
    side = resolution / scale
    return (width - side) / 2, (height - side) / 2, side, side


def decode_image(path: str | os.PathLike, resolution: int, augment: FolderAugment | None = None,
                 rng: np.random.Generator | None = None) -> torch.Tensor:
    """The image at `path` as uint8 RGB 3 x resolution x resolution: augmented with `rng`, or the evaluation crop."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if augment is None:
                left, top, crop_width, crop_height = centre_crop_box(width, height, resolution)
                flip = False
            else:
                left, top, crop_width, crop_height = random_resized_crop_box(width, height, rng, augment.min_scale)
                flip = augment.horizontal_flip and rng.random() < 0.5
            if image.format == "JPEG":  # decode at a reduced DCT scale that keeps the crop >= resolution pixels
                image.draft("RGB", (math.ceil(width * resolution / crop_width),
                                    math.ceil(height * resolution / crop_height)))
            scale_x, scale_y = image.size[0] / width, image.size[1] / height
            box = (left * scale_x, top * scale_y, (left + crop_width) * scale_x, (top + crop_height) * scale_y)
            resized = image.convert("RGB").resize((resolution, resolution), Image.Resampling.BILINEAR, box=box)
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"cannot decode image {path}: {error}") from None
    if flip:
        resized = resized.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


class _FolderSamples(Dataset):
    """Map-style view of an `ImageFolder` for a torch DataLoader: position -> (uint8 image, label)."""

    def __init__(self, folder: ImageFolder, augment: FolderAugment | None, epoch_key: int | None) -> None:
        self.folder = folder
        self.augment = augment
        self.epoch_key = epoch_key

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = None
        if self.augment is not None:
            rng = np.random.default_rng([self.epoch_key, index])  # the draw depends on (seed, epoch, position) only
        image = decode_image(self.folder.path(index), self.folder.resolution, self.augment, rng)
        return image, self.folder.labels[index]


class StreamingLoader(BatchLoader):
    """Normalised batches of an `ImageFolder`, decoded by `workers` processes and moved to `device`.

    Same interface as `DeviceLoader` (`len`, `epoch`, `eval_batches`, `eval_batch_count`, `num_samples`).

    Parameters
    ----------
    dataset : ImageFolder
        The files; only their paths are held.
    batch_size : int
        Images per batch.
    device : torch.device or str, default='cpu'
        Where the batches go.
    augment : FolderAugment or None, default=None
        Training augmentation for `epoch`; None: the evaluation crop. `eval_batches` never augments.
    shuffle, drop_last : bool, default=True
        Reorder each epoch; drop the last incomplete batch of an epoch.
    seed : int, default=0
        With the epoch index, the only source of each epoch's randomness.
    channels_last : bool, default=False
        Give batches in channels-last memory format.
    dtype : torch.dtype, default=torch.float32
        Floating dtype of the image batches.
    workers : int or None, default=None
        Decoding processes (0: decode in this process); None: `default_workers()`. Results do not depend
        on it. A daemonic process (which may not start children) decodes in-process.
    """

    augment_type = FolderAugment

    def __init__(
        self,
        dataset: ImageFolder,
        batch_size: int,
        device: torch.device | str = "cpu",
        augment: FolderAugment | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        channels_last: bool = False,
        dtype: torch.dtype = torch.float32,
        workers: int | None = None,
    ) -> None:
        workers = default_workers() if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
        super().__init__(dataset, batch_size, device, augment, shuffle, drop_last, seed, channels_last, dtype)
        self.workers = workers

    def epoch(self, epoch_index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The (images, labels) batches of training epoch `epoch_index`, shuffled and augmented as set."""
        self._check_epoch(epoch_index)
        key = epoch_seed(self.seed, epoch_index)
        generator = torch.Generator(device="cpu").manual_seed(key)
        count = self.num_samples
        order = torch.randperm(count, generator=generator) if self.shuffle else torch.arange(count)
        return self._batches(order, self.augment, key, self.batch_size, len(self))

    def eval_batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """All images in dataset order, with the evaluation crop, the last batch kept (for evaluation)."""
        batch_size = self._eval_batch_size(batch_size)
        count = self._batch_count(batch_size, drop_last=False)
        return self._batches(torch.arange(self.num_samples), None, None, batch_size, count)

    def _batches(self, order: torch.Tensor, augment: FolderAugment | None, key: int | None, batch_size: int,
                 count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        positions = order.tolist()
        batch_positions = [positions[b * batch_size:(b + 1) * batch_size] for b in range(count)]
        workers = self.workers
        if workers and multiprocessing.current_process().daemon:
            logger.info("decoding in-process: a daemonic process cannot start decoding workers")
            workers = 0
        loader = DataLoader(_FolderSamples(self.dataset, augment, key), batch_sampler=batch_positions,
                            num_workers=workers, pin_memory=self.device.type == "cuda")
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        for images, labels in loader:
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            images = self._normalised(images)
            yield images.contiguous(memory_format=memory_format), labels
