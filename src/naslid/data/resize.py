"""Lower-resolution copies of an image dataset (e.g. CIFAR-10 at 16x16 for CPU searches)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.nn import functional as F

from naslid.data.dataset import ImageDataset

_CHUNK = 4096


def resize_dataset(dataset: ImageDataset, resolution: int) -> ImageDataset:
    """`dataset` with every image resized to `resolution` x `resolution` by area averaging (uint8, rounded).

    Downsampling by an integer factor is exact average pooling. The normalisation statistics are kept:
    callers that want them recomputed (averaging lowers the spread) use `channel_stats` on the train set.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive integer number of pixels, got {resolution!r}")
    _, height, width = dataset.image_shape
    if (height, width) == (resolution, resolution):
        return dataset
    chunks = []
    for start in range(0, len(dataset), _CHUNK):
        chunk = dataset.images[start:start + _CHUNK].to(torch.float32)
        resized = F.interpolate(chunk, size=(resolution, resolution), mode="area")
        chunks.append(resized.round().clamp(0, 255).to(torch.uint8))
    images = torch.cat(chunks) if chunks else dataset.images.new_zeros(0, dataset.images.shape[1], resolution,
                                                                       resolution)
    return replace(dataset, name=f"{dataset.name}@{resolution}px", images=images)
