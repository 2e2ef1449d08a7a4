"""scikit-learn's bundled 8x8 handwritten digits as `ImageDataset`s: a real dataset needing no download."""

from __future__ import annotations

import numpy as np
import torch

from naslid.data.dataset import ImageDataset, channel_stats
from naslid.data.split import balanced_split_indices

DIGITS_CLASSES = tuple(str(digit) for digit in range(10))
_DIGITS_MAX_VALUE = 16  # load_digits stores ink as 0..16


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """The 1,797 digits (1 x 8 x 8, scaled 0..16 -> 0..255) split into seeded, class-balanced train and test.

    Mean and std come from the train part.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / _DIGITS_MAX_VALUE))
    images = torch.from_numpy(pixels.astype(np.uint8)[:, None, :, :])
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    train_indices, test_indices = balanced_split_indices(labels, test_fraction, seed)
    train_images = images[torch.from_numpy(train_indices)]
    mean, std = channel_stats(train_images)
    parts = []
    for part, indices in (("train", train_indices), ("test", test_indices)):
        index = torch.from_numpy(indices)
        parts.append(
            ImageDataset(
                name=f"digits-{part}[seed {seed}]",
                images=images[index],
                labels=labels[index],
                classes=DIGITS_CLASSES,
                mean=mean,
                std=std,
            )
        )
    return parts[0], parts[1]
