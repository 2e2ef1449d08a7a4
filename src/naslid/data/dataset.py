"""The image dataset container: uint8 images, int64 labels, class names and normalisation statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

# Images per chunk when computing channel statistics (bounds the float64 working memory).
_STATS_CHUNK = 4096


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled image set held as tensors, with the per-channel statistics used to normalise it.

    Parameters
    ----------
    name : str
        What the data is, e.g. ``'cifar10-train'``; split files record it.
    images : torch.Tensor
        uint8, shape N x C x H x W, pixel values 0..255.
    labels : torch.Tensor
        int64, shape N, values in 0..len(classes)-1.
    classes : tuple of str
        Class names, index = label.
    mean, std : tuple of float
        Per-channel mean and standard deviation in 0..1 units (pixel / 255).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"dataset {self.name!r}: images must be a uint8 tensor N x C x H x W, got "
                f"{_describe(self.images)}"
            )
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
            raise ValueError(
                f"dataset {self.name!r}: labels must be an int64 tensor of shape N, got {_describe(labels)}"
            )
        if self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(
                f"dataset {self.name!r}: {self.images.shape[0]} images but {self.labels.shape[0]} labels"
            )
        object.__setattr__(self, "classes", tuple(str(name) for name in self.classes))
        object.__setattr__(self, "mean", tuple(float(value) for value in self.mean))
        object.__setattr__(self, "std", tuple(float(value) for value in self.std))
        if not self.classes:
            raise ValueError(f"dataset {self.name!r}: classes is empty; expected at least one class name")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(
                f"dataset {self.name!r}: labels span {int(self.labels.min())}..{int(self.labels.max())}, "
                f"expected 0..{len(self.classes) - 1} for {len(self.classes)} classes"
            )
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"dataset {self.name!r}: mean {self.mean} and std {self.std} must have one value per channel "
                f"({channels})"
            )
        if any(not value > 0 for value in self.std):
            raise ValueError(f"dataset {self.name!r}: std must be positive per channel, got {self.std}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """C, H, W of one image."""
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ImageDataset:
        """The images at `indices` (in that order), with the same name, classes and statistics."""
        index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        if len(index) and (int(index.min()) < -len(self) or int(index.max()) >= len(self)):
            raise ValueError(
                f"dataset {self.name!r}: subset indices span {int(index.min())}..{int(index.max())}, "
                f"expected 0..{len(self) - 1}"
            )
        return replace(self, images=self.images[index], labels=self.labels[index])

    def class_counts(self) -> list[int]:
        """Number of images of each class, in class order."""
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images N x C x H x W, in 0..1 units."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(
            f"channel_stats expects a non-empty uint8 tensor N x C x H x W, got {_describe(images)}"
        )
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    total_squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], _STATS_CHUNK):
        chunk = images[start:start + _STATS_CHUNK].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        total_squares += (chunk * chunk).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    variance = (total_squares / count - mean * mean).clamp_min(0.0)
    return tuple(mean.tolist()), tuple(variance.sqrt().tolist())


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__
