"""Device-resident loader and the vectorised augmentations, checked against per-image references."""

import pytest
import torch
import torch.nn.functional as functional

from naslid.data import (
    AugmentConfig,
    DeviceLoader,
    ImageDataset,
    apply_cutout,
    channel_stats,
    crop_with_padding,
    denormalize_images,
    draw_augment_parameters,
    epoch_seed,
    flip_where,
    normalize_images,
)


def _dataset(count: int = 50, size: int = 8) -> ImageDataset:
    """Random images whose label is their position (so batches can be traced back)."""
    generator = torch.Generator().manual_seed(123)
    images = torch.randint(0, 256, (count, 3, size, size), generator=generator, dtype=torch.uint8)
    mean, std = channel_stats(images)
    return ImageDataset(
        name="toy", images=images, labels=torch.arange(count), classes=tuple(str(i) for i in range(count)),
        mean=mean, std=std,
    )


def _collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = list(batches)
    return torch.cat([images for images, _ in pairs]), torch.cat([labels for _, labels in pairs])


def test_lengths_shapes_and_coverage():
    dataset = _dataset()
    loader = DeviceLoader(dataset, batch_size=16, augment=AugmentConfig(), seed=0)
    assert len(loader) == 3 and loader.eval_batch_count() == 4 and loader.eval_batch_count(50) == 1
    batches = list(loader.epoch(0))
    assert len(batches) == 3
    for images, labels in batches:
        assert images.shape == (16, 3, 8, 8) and images.dtype == torch.float32
        assert labels.shape == (16,) and labels.dtype == torch.int64
    labels = torch.cat([labels for _, labels in batches])
    assert len(set(labels.tolist())) == 48  # a permutation, last 2 dropped
    keep_last = DeviceLoader(dataset, batch_size=16, drop_last=False, seed=0)
    assert len(keep_last) == 4
    assert sorted(_collect(keep_last.epoch(1))[1].tolist()) == list(range(50))


def test_eval_batches_are_in_order_unaugmented_and_keep_the_last():
    dataset = _dataset()
    loader = DeviceLoader(dataset, batch_size=16, augment=AugmentConfig(cutout=4), seed=0)
    batches = list(loader.eval_batches())
    assert [len(labels) for _, labels in batches] == [16, 16, 16, 2]
    images, labels = _collect(batches)
    assert labels.tolist() == list(range(50))
    expected = normalize_images(dataset.images, dataset.mean, dataset.std)
    torch.testing.assert_close(images, expected)


def test_same_seed_and_epoch_replay_exactly_and_resume_matches():
    dataset = _dataset()
    augment = AugmentConfig(crop_padding=2, horizontal_flip=True, cutout=3)
    uninterrupted = DeviceLoader(dataset, batch_size=10, augment=augment, seed=4)
    runs = [_collect(uninterrupted.epoch(epoch)) for epoch in range(3)]
    resumed = DeviceLoader(dataset, batch_size=10, augment=augment, seed=4)  # fresh, starts at epoch 2
    images, labels = _collect(resumed.epoch(2))
    assert torch.equal(images, runs[2][0]) and torch.equal(labels, runs[2][1])
    assert not torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][0], runs[1][0])
    other_seed = _collect(DeviceLoader(dataset, batch_size=10, augment=augment, seed=5).epoch(0))
    assert not torch.equal(other_seed[1], runs[0][1])


def test_epoch_seed_is_distinct_and_stable():
    seeds = {epoch_seed(seed, epoch) for seed in range(5) for epoch in range(50)}
    assert len(seeds) == 250 and all(0 <= value < 2**63 for value in seeds)
    assert epoch_seed(0, 1) == epoch_seed(0, 1) and epoch_seed(0, 1) != epoch_seed(1, 0)


def test_no_crop_no_flip_is_identity_after_denormalising():
    dataset = _dataset()
    augment = AugmentConfig(crop_padding=0, horizontal_flip=False, cutout=0)
    loader = DeviceLoader(dataset, batch_size=25, augment=augment, shuffle=False)
    images, labels = _collect(loader.epoch(7))
    assert labels.tolist() == list(range(50))
    restored = denormalize_images(images, dataset.mean, dataset.std) * 255
    torch.testing.assert_close(restored, dataset.images.float(), atol=1e-3, rtol=0)


def test_flip_only_gives_the_original_or_its_mirror():
    dataset = _dataset()
    augment = AugmentConfig(crop_padding=0, horizontal_flip=True)
    images, labels = _collect(DeviceLoader(dataset, batch_size=50, augment=augment, seed=2).epoch(0))
    restored = (denormalize_images(images, dataset.mean, dataset.std) * 255).round().to(torch.uint8)
    originals = dataset.images[labels]
    same = (restored == originals).flatten(1).all(1)
    mirrored = (restored == torch.flip(originals, dims=[-1])).flatten(1).all(1)
    assert torch.all(same | mirrored) and same.any() and mirrored.any()


def _reference_crop(image: torch.Tensor, padding: int, top: int, left: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    return functional.pad(image, (padding,) * 4)[:, top:top + height, left:left + width]


def test_crop_matches_a_per_image_reference():
    images = _dataset(count=20).images
    offsets = torch.randint(0, 7, (20, 2), generator=torch.Generator().manual_seed(0))
    cropped = crop_with_padding(images, 3, offsets)
    for index in range(20):
        top, left = offsets[index].tolist()
        assert torch.equal(cropped[index], _reference_crop(images[index], 3, top, left))
    centred = torch.full((20, 2), 3)
    assert torch.equal(crop_with_padding(images, 3, centred), images)


def test_cutout_matches_a_per_image_reference_and_clips_at_borders():
    images = torch.ones(3, 2, 8, 8)
    centres = torch.tensor([[0, 0], [4, 5], [7, 7]])
    masked = apply_cutout(images, 4, centres)
    for index, (row, column) in enumerate(centres.tolist()):
        expected = torch.ones(2, 8, 8)
        expected[:, max(row - 2, 0):row + 2, max(column - 2, 0):column + 2] = 0
        assert torch.equal(masked[index], expected)
    assert (masked[1] == 0).sum() == 2 * 16 and (masked[0] == 0).sum() == 2 * 4


def test_flip_where_mirrors_only_flagged_images():
    images = _dataset(count=4).images
    flipped = flip_where(images, torch.tensor([True, False, True, False]))
    assert torch.equal(flipped[0], torch.flip(images[0], dims=[-1])) and torch.equal(flipped[1], images[1])


def test_loader_output_equals_per_image_reference_of_its_draws():
    dataset = _dataset()
    augment = AugmentConfig(crop_padding=2, horizontal_flip=True, cutout=3)
    images, labels = _collect(DeviceLoader(dataset, batch_size=50, augment=augment, seed=9).epoch(3))
    generator = torch.Generator().manual_seed(epoch_seed(9, 3))
    order = torch.randperm(50, generator=generator)
    draws = draw_augment_parameters(augment, 50, 8, 8, generator)
    assert torch.equal(labels, order)
    for position, index in enumerate(order.tolist()):
        top, left = draws.crop_offsets[position].tolist()
        image = _reference_crop(dataset.images[index], 2, top, left)
        if draws.flips[position]:
            image = torch.flip(image, dims=[-1])
        image = normalize_images(image[None], dataset.mean, dataset.std)[0]
        row, column = draws.cutout_centres[position].tolist()
        image[:, max(row - 1, 0):row + 2, max(column - 1, 0):column + 2] = 0
        torch.testing.assert_close(images[position], image)


def test_normalised_epoch_has_zero_mean_unit_std_per_channel():
    dataset = _dataset(count=200)
    images, _ = _collect(DeviceLoader(dataset, batch_size=64, drop_last=False).epoch(0))
    torch.testing.assert_close(images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(images.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)


def test_dtype_and_channels_last():
    loader = DeviceLoader(_dataset(), batch_size=8, augment=AugmentConfig(), dtype=torch.bfloat16,
                          channels_last=True)
    images, _ = next(loader.epoch(0))
    assert images.dtype == torch.bfloat16
    assert images.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "positive integer"),
        ({"batch_size": 51}, "exceeds the 50 images"),
        ({"batch_size": 8, "seed": -1}, "seed"),
        ({"batch_size": 8, "dtype": torch.int64}, "floating"),
        ({"batch_size": 8, "augment": {"crop_padding": 4}}, "AugmentConfig"),
    ],
)
def test_loader_argument_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        DeviceLoader(_dataset(), **arguments)


def test_epoch_index_and_augment_config_errors():
    loader = DeviceLoader(_dataset(), batch_size=8)
    with pytest.raises(ValueError, match="epoch_index"):
        loader.epoch(-1)
    with pytest.raises(ValueError, match="batch_size"):
        loader.eval_batches(0)
    with pytest.raises(ValueError, match="crop_padding must be an integer >= 0"):
        AugmentConfig(crop_padding=-1)
    with pytest.raises(ValueError, match="cutout"):
        AugmentConfig(cutout=2.5)
    assert len(DeviceLoader(_dataset(), batch_size=51, drop_last=False)) == 1
