"""Seeded, class-balanced index selection: subsets, train/valid splits, and the split's JSON record."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from naslid.atomic import write_json
from naslid.data.dataset import ImageDataset

SPLIT_SCHEMA = "naslid.split/1"


@dataclass(frozen=True)
class SplitRecord:
    """Which positions of a dataset went to train and to valid, and how they were drawn."""

    dataset_name: str
    dataset_size: int
    valid_fraction: float
    seed: int
    train_indices: tuple[int, ...]
    valid_indices: tuple[int, ...]


def _labels_array(labels: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"labels must be a 1-D integer array, got dtype {array.dtype} shape {array.shape}")
    return array.astype(np.int64, copy=False)


def _rank_within_class(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded random rank 0, 1, 2, ... of each position among the positions of its class."""
    generator = np.random.default_rng(seed)
    order = generator.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]  # grouped by class, random within a class
    sorted_labels = labels[order]
    class_starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - class_starts
    return rank


def balanced_subset_indices(
    labels: Sequence[int] | np.ndarray | torch.Tensor, count: int, seed: int
) -> np.ndarray:
    """`count` positions drawn class by class in turn (seeded), sorted ascending.

    Every class gets ``count // num_classes`` or one more (the lower labels get the extras) while it has
    images left; a class that runs out leaves its share to the others.
    """
    label_array = _labels_array(labels)
    if not isinstance(count, int | np.integer) or not 0 < count <= len(label_array):
        raise ValueError(f"subset count must be an integer in 1..{len(label_array)}, got {count!r}")
    rank = _rank_within_class(label_array, seed)
    chosen = np.lexsort((label_array, rank))[:count]  # round robin: all rank-0 picks, then rank 1, ...
    return np.sort(chosen)


def balanced_split_indices(
    labels: Sequence[int] | np.ndarray | torch.Tensor, valid_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train and valid positions, ``round(n_c * valid_fraction)`` of each class c to valid."""
    label_array = _labels_array(labels)
    if not 0.0 < float(valid_fraction) < 1.0:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction!r}")
    rank = _rank_within_class(label_array, seed)
    class_sizes = np.bincount(label_array) if label_array.size else np.zeros(0, dtype=np.int64)
    valid_per_class = np.rint(class_sizes * float(valid_fraction)).astype(np.int64)
    is_valid = rank < valid_per_class[label_array]
    train, valid = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(
            f"valid_fraction {valid_fraction} on {len(label_array)} images leaves {len(train)} train and "
            f"{len(valid)} valid images; both parts must be non-empty"
        )
    return train, valid


def split_train_valid(
    dataset: ImageDataset, valid_fraction: float = 0.5, seed: int = 0
) -> tuple[ImageDataset, ImageDataset, SplitRecord]:
    """Split `dataset` into class-balanced train and valid parts (NB201 uses half of CIFAR-10 train each).

    Returns the two datasets and the record of their index lists, to be saved with `save_split`.
    `valid_fraction=0` keeps every image for training and leaves valid empty (the protocols that train on
    all 50k CIFAR-10 training images and score on the test set).
    """
    if float(valid_fraction) == 0.0:
        train_indices, valid_indices = np.arange(len(dataset)), np.zeros(0, dtype=np.int64)
    else:
        train_indices, valid_indices = balanced_split_indices(dataset.labels, valid_fraction, seed)
    record = SplitRecord(
        dataset_name=dataset.name,
        dataset_size=len(dataset),
        valid_fraction=float(valid_fraction),
        seed=int(seed),
        train_indices=tuple(train_indices.tolist()),
        valid_indices=tuple(valid_indices.tolist()),
    )
    train, valid = apply_split(dataset, record)
    return train, valid, record


def apply_split(dataset: ImageDataset, record: SplitRecord) -> tuple[ImageDataset, ImageDataset]:
    """The train and valid parts of `dataset` that `record` names; refuses a record of other data."""
    if record.dataset_name != dataset.name or record.dataset_size != len(dataset):
        raise ValueError(
            f"split was drawn from {record.dataset_name!r} with {record.dataset_size} images, "
            f"but the dataset given is {dataset.name!r} with {len(dataset)} images"
        )
    train = _renamed(dataset.subset(list(record.train_indices)), "train")
    valid = _renamed(dataset.subset(list(record.valid_indices)), "valid")
    return train, valid


def _renamed(dataset: ImageDataset, part: str) -> ImageDataset:
    return replace(dataset, name=f"{dataset.name}/{part}")


def save_split(path: str | os.PathLike, record: SplitRecord) -> Path:
    """Write `record` as JSON (schema ``naslid.split/1``) via a temporary file and a rename."""
    path = Path(path)
    payload = {
        "schema": SPLIT_SCHEMA,
        "protocol": {
            "dataset": record.dataset_name,
            "dataset_size": record.dataset_size,
            "valid_fraction": record.valid_fraction,
            "seed": record.seed,
            "class_balanced": True,
        },
        "train_indices": list(record.train_indices),
        "valid_indices": list(record.valid_indices),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, payload, trailing_newline=True)


def load_split(path: str | os.PathLike) -> SplitRecord:
    """Read a split written by `save_split`; refuses other schemas and inconsistent index lists."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path} (expected JSON with schema {SPLIT_SCHEMA!r})")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"split file {path} is not valid JSON: {error}") from None
    schema = payload.get("schema") if isinstance(payload, dict) else None
    if schema != SPLIT_SCHEMA:
        raise ValueError(
            f"split file {path} has schema {schema!r}; this version of naslid reads {SPLIT_SCHEMA!r}"
        )
    try:
        protocol = payload["protocol"]
        record = SplitRecord(
            dataset_name=str(protocol["dataset"]),
            dataset_size=int(protocol["dataset_size"]),
            valid_fraction=float(protocol["valid_fraction"]),
            seed=int(protocol["seed"]),
            train_indices=tuple(int(index) for index in payload["train_indices"]),
            valid_indices=tuple(int(index) for index in payload["valid_indices"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"split file {path} lacks a field or has a bad value ({error!r}); expected 'protocol' with "
            "dataset, dataset_size, valid_fraction, seed, and lists 'train_indices', 'valid_indices'"
        ) from None
    combined = record.train_indices + record.valid_indices
    if len(set(combined)) != len(combined) or any(not 0 <= index < record.dataset_size for index in combined):
        raise ValueError(
            f"split file {path}: train and valid indices must be distinct positions "
            f"in 0..{record.dataset_size - 1}"
        )
    return record
