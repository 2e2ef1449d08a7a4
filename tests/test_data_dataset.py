"""ImageDataset: validation, subsets, shape helpers; channel_stats against numpy."""

import numpy as np
import pytest
import torch

from naslid.data import ImageDataset, channel_stats


def _dataset(count: int = 12, channels: int = 3, classes: int = 4) -> ImageDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, channels, 5, 6), generator=generator, dtype=torch.uint8)
    labels = torch.arange(count, dtype=torch.int64) % classes
    return ImageDataset(
        name="toy", images=images, labels=labels, classes=tuple("abcd"[:classes]),
        mean=(0.5,) * channels, std=(0.25,) * channels,
    )


def test_shape_helpers_and_subset():
    dataset = _dataset()
    assert len(dataset) == 12
    assert dataset.num_classes == 4
    assert dataset.image_shape == (3, 5, 6)
    assert dataset.class_counts() == [3, 3, 3, 3]
    part = dataset.subset([5, 0, 7])
    assert len(part) == 3 and part.name == "toy" and part.mean == dataset.mean
    assert torch.equal(part.images[0], dataset.images[5])
    assert part.labels.tolist() == [1, 0, 3]
    assert len(dataset.subset(torch.tensor([], dtype=torch.int64))) == 0


def test_subset_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="expected 0..11"):
        _dataset().subset([3, 12])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"images": torch.zeros(4, 3, 5, 6)}, "uint8 tensor"),
        ({"images": torch.zeros(4, 5, 6, dtype=torch.uint8)}, "N x C x H x W"),
        ({"labels": torch.zeros(4, dtype=torch.int32)}, "int64"),
        ({"labels": torch.zeros(3, dtype=torch.int64)}, "4 images but 3 labels"),
        ({"labels": torch.tensor([0, 1, 2, 4])}, "expected 0..3"),
        ({"mean": (0.5, 0.5)}, "one value per channel"),
        ({"std": (0.2, 0.0, 0.2)}, "positive"),
        ({"classes": ()}, "classes is empty"),
    ],
)
def test_invalid_fields_raise(change, message):
    fields = dict(
        name="bad", images=torch.zeros(4, 3, 5, 6, dtype=torch.uint8), labels=torch.tensor([0, 1, 2, 3]),
        classes=("a", "b", "c", "d"), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2),
    )
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        ImageDataset(**fields)


def test_channel_stats_match_numpy():
    images = _dataset(count=9000).images  # more than one chunk
    mean, std = channel_stats(images)
    pixels = images.numpy().astype(np.float64) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(std, pixels.std(axis=(0, 2, 3)), rtol=1e-8)


def test_channel_stats_rejects_float_and_empty():
    with pytest.raises(ValueError, match="uint8"):
        channel_stats(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="non-empty"):
        channel_stats(torch.zeros(0, 3, 4, 4, dtype=torch.uint8))
