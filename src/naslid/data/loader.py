"""A batch loader that keeps a whole dataset on the training device and augments it there.

Each epoch's shuffle and augmentation draws come only from (seed, epoch_index), through a CPU
`torch.Generator`, so resuming at an epoch boundary replays an uninterrupted run exactly, on any device.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from naslid.data.augment import (
    AugmentConfig,
    AugmentParameters,
    apply_cutout,
    crop_with_padding,
    draw_augment_parameters,
    flip_where,
    rotate_images,
)
from naslid.data.dataset import ImageDataset


def epoch_seed(seed: int, epoch_index: int) -> int:
    """A 63-bit generator seed that mixes `seed` and `epoch_index` (numpy's SeedSequence hashing)."""
    words = np.random.SeedSequence([seed, epoch_index]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


class BatchLoader:
    """What every batch loader shares: settings, checks, normalisation as one multiply-add on the device, and
    batch counts. Subclasses make the batches (`epoch`, `eval_batches`)."""

    augment_type: type = object  # the augmentation class the subclass takes

    def __init__(self, dataset, batch_size: int, device: torch.device | str, augment: object, shuffle: bool,
                 drop_last: bool, seed: int, channels_last: bool, dtype: torch.dtype) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError(f"dataset {dataset.name!r} is empty; {type(self).__name__} needs at least one image")
        if drop_last and batch_size > len(dataset):
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(dataset)} images of {dataset.name!r} with "
                "drop_last=True, so an epoch would have no batch; lower batch_size or set drop_last=False"
            )
        if augment is not None and not isinstance(augment, self.augment_type):
            raise ValueError(f"augment must be a {self.augment_type.__name__} or None, got {type(augment).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(
                f"dtype must be a floating torch dtype (float32, float16, bfloat16), got {dtype!r}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.augment = augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.channels_last = channels_last
        self.dtype = dtype
        # Normalisation as one multiply-add, with the constants made once on the device.
        mean = torch.tensor(dataset.mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std = torch.tensor(dataset.std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self._scale = (1.0 / (255.0 * std)).to(self.device)
        self._shift = (mean / std).to(self.device)

    def __len__(self) -> int:
        """Batches per training epoch."""
        return self._batch_count(self.batch_size, self.drop_last)

    @property
    def num_samples(self) -> int:
        """Images in the dataset."""
        return len(self.dataset)

    def eval_batch_count(self, batch_size: int | None = None) -> int:
        """Number of batches `eval_batches` gives."""
        return self._batch_count(self.batch_size if batch_size is None else batch_size, drop_last=False)

    def _batch_count(self, batch_size: int, drop_last: bool) -> int:
        if drop_last:
            return self.num_samples // batch_size
        return -(-self.num_samples // batch_size)

    def _eval_batch_size(self, batch_size: int | None) -> int:
        batch_size = self.batch_size if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size

    @staticmethod
    def _check_epoch(epoch_index: int) -> None:
        if isinstance(epoch_index, bool) or not isinstance(epoch_index, int) or epoch_index < 0:
            raise ValueError(f"epoch_index must be an integer >= 0, got {epoch_index!r}")

    def _normalised(self, images: torch.Tensor) -> torch.Tensor:
        return (images.to(torch.float32) * self._scale - self._shift).to(self.dtype)


class DeviceLoader(BatchLoader):
    """Normalised (and optionally augmented) batches of a dataset held as tensors on `device`.

    Parameters
    ----------
    dataset : ImageDataset
        Copied to `device` once, as uint8.
    batch_size : int
        Images per batch.
    device : torch.device or str, default='cpu'
        Where the data lives and the batches are made.
    augment : AugmentConfig or None, default=None
        Augmentation for `epoch`; None: none. `eval_batches` never augments.
    shuffle, drop_last : bool, default=True
        Reorder each epoch; drop the last incomplete batch of an epoch.
    seed : int, default=0
        With the epoch index, the only source of each epoch's randomness.
    channels_last : bool, default=False
        Give batches in channels-last memory format (faster convolutions on recent GPUs).
    dtype : torch.dtype, default=torch.float32
        Floating dtype of the image batches.
    """

    augment_type = AugmentConfig

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        device: torch.device | str = "cpu",
        augment: AugmentConfig | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        channels_last: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(dataset, batch_size, device, augment, shuffle, drop_last, seed, channels_last, dtype)
        self._images = dataset.images.to(self.device)
        self._labels = dataset.labels.to(self.device)

    def epoch(self, epoch_index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The (images, labels) batches of training epoch `epoch_index`, shuffled and augmented as set."""
        self._check_epoch(epoch_index)
        count = self.num_samples
        generator = torch.Generator(device="cpu").manual_seed(epoch_seed(self.seed, epoch_index))
        order = torch.randperm(count, generator=generator) if self.shuffle else torch.arange(count)
        parameters = None
        if self.augment is not None:
            _, height, width = self.dataset.image_shape
            parameters = draw_augment_parameters(self.augment, count, height, width, generator)
            parameters = parameters.to(self.device)
        return self._batches(order.to(self.device), parameters, self.batch_size, len(self))

    def eval_batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """All images in dataset order, unaugmented, the last batch kept (for evaluation)."""
        batch_size = self._eval_batch_size(batch_size)
        return self._batches(None, None, batch_size, self._batch_count(batch_size, drop_last=False))

    def _batches(
        self, order: torch.Tensor | None, parameters: AugmentParameters | None, batch_size: int, count: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in range(count):
            start, stop = batch * batch_size, min((batch + 1) * batch_size, self.num_samples)
            if order is None:
                images, labels = self._images[start:stop], self._labels[start:stop]
            else:
                index = order[start:stop]
                images, labels = self._images[index], self._labels[index]
            draws = None if parameters is None else parameters.rows(start, stop)
            if draws is not None:
                images = self._augment_pixels(images, draws)
            images = self._normalised(images)
            if draws is not None and draws.cutout_centres is not None:
                # After normalisation, as in DeVries & Taylor's code: the square reads as the dataset mean.
                images = apply_cutout(images, self.augment.cutout, draws.cutout_centres)
            memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
            yield images.contiguous(memory_format=memory_format), labels

    def _augment_pixels(self, images: torch.Tensor, parameters: AugmentParameters) -> torch.Tensor:
        if parameters.crop_offsets is not None:
            images = crop_with_padding(images, self.augment.crop_padding, parameters.crop_offsets)
        if parameters.flips is not None:
            images = flip_where(images, parameters.flips)
        if parameters.angles is not None:  # after the flip, as the NAS-LID authors' transform list
            images = rotate_images(images, parameters.angles)
        return images
