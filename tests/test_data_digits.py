"""scikit-learn's bundled digits as an ImageDataset pair."""

import torch

from naslid.data import channel_stats, load_digits_dataset


def test_digits_shapes_scaling_and_balance():
    train, test = load_digits_dataset(test_fraction=0.2, seed=0)
    assert len(train) + len(test) == 1797
    assert train.image_shape == (1, 8, 8) and train.images.dtype == torch.uint8
    assert train.num_classes == 10 and train.classes[3] == "3"
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    for part, fraction in ((train, 0.8), (test, 0.2)):
        counts = torch.tensor(part.class_counts(), dtype=torch.float64)
        totals = torch.tensor(train.class_counts(), dtype=torch.float64) + torch.tensor(test.class_counts())
        assert torch.all((counts - fraction * totals).abs() <= 0.5 + 1e-9)
    assert train.mean == test.mean and (train.mean, train.std) == channel_stats(train.images)


def test_digits_split_is_seeded():
    first_train, first_test = load_digits_dataset(seed=1)
    again_train, _ = load_digits_dataset(seed=1)
    other_train, _ = load_digits_dataset(seed=2)
    assert torch.equal(first_train.images, again_train.images)
    assert not torch.equal(first_train.images, other_train.images)
    assert first_test.name == "digits-test[seed 1]"
