"""Random rotation (torchvision's RandomRotation with its defaults), vectorised on the device."""

import pytest
import torch

from naslid.data import (
    AugmentConfig,
    DeviceLoader,
    ImageDataset,
    channel_stats,
    crop_with_padding,
    draw_augment_parameters,
    flip_where,
    rotate_images,
)


def _dataset(count: int = 40, size: int = 8) -> ImageDataset:
    generator = torch.Generator().manual_seed(7)
    images = torch.randint(1, 256, (count, 3, size, size), generator=generator, dtype=torch.uint8)  # no 0 pixel
    mean, std = channel_stats(images)
    return ImageDataset(name="toy", images=images, labels=torch.arange(count),
                        classes=tuple(str(i) for i in range(count)), mean=mean, std=std)


def _epoch(loader, index):
    pairs = list(loader.epoch(index))
    return torch.cat([images for images, _ in pairs]), torch.cat([labels for _, labels in pairs])


def _by_hand(dataset, config, seed, epoch_index, batch_size):
    """The loader's epoch rebuilt from its documented steps: shuffle, then draws, crop, flip, rotate, normalise."""
    from naslid.data import epoch_seed

    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch_index))
    order = torch.randperm(len(dataset), generator=generator)
    draws = draw_augment_parameters(config, len(dataset), 8, 8, generator)
    images = dataset.images[order]
    images = crop_with_padding(images, config.crop_padding, draws.crop_offsets)
    images = flip_where(images, draws.flips)
    if draws.angles is not None:
        images = rotate_images(images, draws.angles)
    mean = torch.tensor(dataset.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(dataset.std).reshape(1, -1, 1, 1)
    images = images.float() * (1.0 / (255.0 * std)) - mean / std
    count = len(dataset) // batch_size * batch_size
    return images[:count], dataset.labels[order][:count]


def test_zero_degrees_leaves_every_draw_and_batch_as_before():
    dataset = _dataset()
    off = AugmentConfig()
    assert off.rotation_degrees == 0 and AugmentConfig(rotation_degrees=0.0) == off
    generator = torch.Generator().manual_seed(3)
    draws = draw_augment_parameters(off, 40, 8, 8, generator)
    assert draws.angles is None
    images, labels = _epoch(DeviceLoader(dataset, batch_size=16, augment=off, seed=2), 1)
    expected_images, expected_labels = _by_hand(dataset, off, seed=2, epoch_index=1, batch_size=16)
    assert torch.equal(labels, expected_labels) and torch.equal(images, expected_images)


def test_rotation_draws_come_after_the_others_and_are_within_range():
    for config in (AugmentConfig(), AugmentConfig(cutout=4)):
        rotating = AugmentConfig(config.crop_padding, config.horizontal_flip, config.cutout, rotation_degrees=15)
        plain = draw_augment_parameters(config, 500, 8, 8, torch.Generator().manual_seed(1))
        rotated = draw_augment_parameters(rotating, 500, 8, 8, torch.Generator().manual_seed(1))
        for name in ("crop_offsets", "flips", "cutout_centres"):
            a, b = getattr(plain, name), getattr(rotated, name)
            assert (a is None and b is None) or torch.equal(a, b), name
        angles = rotated.angles
        assert angles.shape == (500,) and angles.dtype == torch.float32
        assert angles.min() >= -15 and angles.max() <= 15
        assert angles.min() < -13 and angles.max() > 13 and abs(angles.mean()) < 1.5  # spread over the range
        assert torch.equal(rotated.rows(10, 20).angles, angles[10:20])
        assert torch.equal(rotated.to("cpu").angles, angles)
    with_angles = draw_augment_parameters(AugmentConfig(rotation_degrees=15), 4, 8, 8, torch.Generator())
    assert with_angles.rows(0, 2).crop_offsets.shape == (2, 2)


def test_ninety_degrees_is_a_counter_clockwise_quarter_turn():
    images = torch.randint(0, 256, (3, 3, 9, 9), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    rotated = rotate_images(images, torch.tensor([90.0, -90.0, 0.0]))
    assert rotated.dtype == torch.uint8
    assert torch.equal(rotated[0], torch.rot90(images[0], 1, dims=(-2, -1)))  # top row moves to the left column
    assert torch.equal(rotated[1], torch.rot90(images[1], -1, dims=(-2, -1)))
    assert torch.equal(rotated[2], images[2])
    even = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)  # even side: the centre is a corner
    assert torch.equal(rotate_images(even, torch.tensor([90.0, 180.0]))[0], torch.rot90(even[0], 1, dims=(-2, -1)))
    assert torch.equal(rotate_images(even, torch.tensor([90.0, 180.0]))[1], torch.rot90(even[1], 2, dims=(-2, -1)))


def test_small_rotation_fills_corners_with_zero_and_copies_pixel_values():
    images = torch.full((1, 1, 16, 16), 200, dtype=torch.uint8)
    rotated = rotate_images(images, torch.tensor([30.0]))
    assert rotated[0, 0, 0, 0] == 0 and rotated[0, 0, 8, 8] == 200  # corners leave, the centre stays
    assert set(rotated.unique().tolist()) == {0, 200}  # nearest neighbour: no new values


def test_rotation_in_the_loader_is_deterministic_per_seed_and_epoch_and_follows_the_flip():
    dataset = _dataset()
    config = AugmentConfig(rotation_degrees=15)
    loader = DeviceLoader(dataset, batch_size=16, augment=config, seed=2)
    first, labels = _epoch(loader, 1)
    again, _ = _epoch(DeviceLoader(dataset, batch_size=16, augment=config, seed=2), 1)
    assert torch.equal(first, again)
    assert not torch.equal(first, _epoch(loader, 2)[0])
    assert not torch.equal(first, _epoch(DeviceLoader(dataset, batch_size=16, augment=config, seed=3), 1)[0])
    expected, expected_labels = _by_hand(dataset, config, seed=2, epoch_index=1, batch_size=16)
    assert torch.equal(labels, expected_labels) and torch.equal(first, expected)
    # the zero fill is black before normalisation: it reads as -mean/std after it
    black = -(torch.tensor(dataset.mean) / torch.tensor(dataset.std)).reshape(-1, 1, 1)
    assert bool(torch.isclose(first, black.expand_as(first[0])).any())


@pytest.mark.parametrize("value", [-1.0, 180, 200.0, float("nan"), True, "15"])
def test_invalid_rotation_raises(value):
    with pytest.raises(ValueError, match="rotation_degrees"):
        AugmentConfig(rotation_degrees=value)
