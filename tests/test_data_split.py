"""Seeded class-balanced subsets and train/valid splits, and the naslid.split/1 JSON record."""

import json

import numpy as np
import pytest
import torch

from naslid.data import (
    SPLIT_SCHEMA,
    ImageDataset,
    apply_split,
    balanced_subset_indices,
    load_split,
    save_split,
    split_train_valid,
)


def _dataset(per_class: int = 20, classes: int = 5) -> ImageDataset:
    count = per_class * classes
    images = torch.arange(count, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(count, 1, 1, 1)
    labels = torch.arange(count) // per_class  # ordered by class, like the CIFAR-10 npz
    return ImageDataset(
        name="toy", images=images.expand(count, 1, 2, 2).clone(), labels=labels,
        classes=tuple(str(c) for c in range(classes)), mean=(0.5,), std=(0.2,),
    )


def test_balanced_subset_is_balanced_sorted_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    chosen = balanced_subset_indices(labels, 203, seed=3)
    assert len(chosen) == 203 and len(set(chosen.tolist())) == 203
    assert np.all(np.diff(chosen) > 0)
    counts = np.bincount(labels[chosen], minlength=10)
    assert counts.tolist() == [21, 21, 21] + [20] * 7
    assert np.array_equal(chosen, balanced_subset_indices(labels, 203, seed=3))
    assert not np.array_equal(chosen, balanced_subset_indices(labels, 203, seed=4))


def test_balanced_subset_gives_a_short_class_all_it_has():
    labels = np.array([0] * 3 + [1] * 30)
    chosen = balanced_subset_indices(labels, 10, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [3, 7]


@pytest.mark.parametrize("count", [0, 101, 2.5])
def test_balanced_subset_rejects_bad_counts(count):
    with pytest.raises(ValueError, match="1..100"):
        balanced_subset_indices(np.zeros(100, dtype=np.int64), count, seed=0)


def test_split_is_balanced_disjoint_complete_and_seeded():
    dataset = _dataset()
    train, valid, record = split_train_valid(dataset, valid_fraction=0.25, seed=7)
    assert valid.class_counts() == [5] * 5 and train.class_counts() == [15] * 5
    assert set(record.train_indices).isdisjoint(record.valid_indices)
    assert sorted(record.train_indices + record.valid_indices) == list(range(100))
    assert torch.equal(valid.images, dataset.images[list(record.valid_indices)])
    assert train.name == "toy/train" and valid.name == "toy/valid"
    again = split_train_valid(dataset, valid_fraction=0.25, seed=7)[2]
    other = split_train_valid(dataset, valid_fraction=0.25, seed=8)[2]
    assert again == record and other.valid_indices != record.valid_indices


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5])
def test_split_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="valid_fraction"):
        split_train_valid(_dataset(), valid_fraction=fraction)


def test_a_zero_valid_fraction_trains_on_every_image():
    dataset = _dataset()
    train, valid, record = split_train_valid(dataset, valid_fraction=0.0)
    assert len(train) == len(dataset) and len(valid) == 0
    assert record.train_indices == tuple(range(len(dataset))) and record.valid_indices == ()
    assert torch.equal(train.images, dataset.images)


def test_split_rejects_an_empty_part():
    with pytest.raises(ValueError, match="non-empty"):
        split_train_valid(_dataset(per_class=2), valid_fraction=0.1)


def test_save_and_load_round_trip_reproduces_the_split(tmp_path):
    dataset = _dataset()
    train, valid, record = split_train_valid(dataset, valid_fraction=0.5, seed=1)
    path = save_split(tmp_path / "run" / "split.json", record)
    assert [p.name for p in path.parent.iterdir()] == ["split.json"]  # no temporary file left
    payload = json.loads(path.read_text())
    assert payload["schema"] == SPLIT_SCHEMA
    assert payload["protocol"] == {
        "dataset": "toy", "dataset_size": 100, "valid_fraction": 0.5, "seed": 1, "class_balanced": True,
    }
    loaded = load_split(path)
    assert loaded == record
    train_again, valid_again = apply_split(dataset, loaded)
    assert torch.equal(train_again.images, train.images) and torch.equal(valid_again.labels, valid.labels)


def test_apply_split_refuses_other_data():
    record = split_train_valid(_dataset(), seed=0)[2]
    with pytest.raises(ValueError, match="drawn from 'toy' with 100 images"):
        apply_split(_dataset(per_class=10), record)


def test_load_split_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="naslid.split/1"):
        load_split(tmp_path / "missing.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_split(bad_json)
    record = split_train_valid(_dataset(), seed=0)[2]
    path = save_split(tmp_path / "split.json", record)
    payload = json.loads(path.read_text())
    for schema in ("naslid.split/2", None):
        path.write_text(json.dumps({**payload, "schema": schema}))
        with pytest.raises(ValueError, match="reads 'naslid.split/1'"):
            load_split(path)
    path.write_text(json.dumps({key: value for key, value in payload.items() if key != "valid_indices"}))
    with pytest.raises(ValueError, match="valid_indices"):
        load_split(path)
    path.write_text(json.dumps({**payload, "valid_indices": payload["train_indices"][:1]}))
    with pytest.raises(ValueError, match="distinct"):
        load_split(path)
