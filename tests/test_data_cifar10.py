"""load_cifar10 from the packed npz (real and fake), torchvision's batches folder (fake), caching, errors."""

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import naslid.data.cifar10 as cifar10_module
from naslid.data import CIFAR10_CLASSES, CIFAR10_MEAN, channel_stats, load_cifar10

BATCH_NAMES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]


def _flat_colours(count: int, offset: int) -> np.ndarray:
    """One flat RGB colour per image (flat images survive JPEG almost exactly)."""
    index = np.arange(count)[:, None] + offset
    return ((index * np.array([37, 91, 53]) + np.array([11, 60, 130])) % 200 + 20).astype(np.uint8)


def _write_fake_npz(path: Path, train_per_class: int = 3, test_per_class: int = 2) -> dict[str, np.ndarray]:
    """A packed npz like the shared one: JPEGs of flat colours, ordered by class."""
    arrays, colours = {}, {}
    for split, per_class, offset in (("train", train_per_class, 0), ("test", test_per_class, 100)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        colours[split] = _flat_colours(len(labels), offset)
        encoded = []
        for colour in colours[split]:
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), tuple(int(c) for c in colour)).save(buffer, format="JPEG", quality=95)
            encoded.append(np.frombuffer(buffer.getvalue(), dtype=np.uint8))
        arrays[f"{split}_jpeg"] = np.concatenate(encoded)
        sizes = [len(e) for e in encoded]
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        arrays[f"{split}_labels"] = labels
    arrays["classes"] = np.array(CIFAR10_CLASSES)
    np.savez(path, **arrays)
    return colours


def _write_fake_batches(folder: Path, per_batch: int = 10) -> dict[str, np.ndarray]:
    """A tiny cifar-10-batches-py folder (torchvision's pickles), labels 0..9 cycling."""
    folder.mkdir(parents=True)
    generator = np.random.default_rng(0)
    data = {}
    for name in BATCH_NAMES:
        pixels = generator.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        entry = {"batch_label": name, "labels": [i % 10 for i in range(per_batch)], "data": pixels}
        (folder / name).write_bytes(pickle.dumps(entry))
        data[name] = pixels
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10_CLASSES)}))
    return data


def test_real_npz_subset_is_balanced_and_plausible(shared_data):
    path = shared_data / "cifar10"
    train, test = load_cifar10(path, train_limit=200, test_limit=100, seed=0)
    assert train.images.shape == (200, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64
    assert train.class_counts() == [20] * 10 and test.class_counts() == [10] * 10
    assert train.classes == CIFAR10_CLASSES and train.mean == CIFAR10_MEAN
    mean, _ = channel_stats(train.images)
    assert all(abs(m - r) < 0.05 for m, r in zip(mean, CIFAR10_MEAN, strict=True))
    again, _ = load_cifar10(path / "cifar10_jpeg_packed.npz", train_limit=200, test_limit=100, seed=0)
    other, _ = load_cifar10(path, train_limit=200, test_limit=100, seed=1)
    assert torch.equal(train.images, again.images)
    assert not torch.equal(train.images, other.images)


def test_fake_npz_decodes_pixels_and_labels(tmp_path):
    colours = _write_fake_npz(tmp_path / "cifar10_jpeg_packed.npz")
    train, test = load_cifar10(tmp_path)
    assert len(train) == 30 and len(test) == 20 and train.name == "cifar10-train"
    expected = torch.from_numpy(colours["train"].astype(np.int16))[:, :, None, None]
    assert (train.images.to(torch.int16) - expected).abs().max() <= 3
    assert train.labels.tolist() == np.repeat(np.arange(10), 3).tolist()


def test_normalization_from_train_images(tmp_path):
    _write_fake_npz(tmp_path / "cifar10_jpeg_packed.npz")
    train, test = load_cifar10(tmp_path, normalization="train")
    assert (train.mean, train.std) == channel_stats(train.images) and test.mean == train.mean
    with pytest.raises(ValueError, match="normalization must be one of"):
        load_cifar10(tmp_path, normalization="imagenet")


def test_cache_is_written_once_and_read_back(tmp_path, monkeypatch):
    npz = tmp_path / "data" / "cifar10_jpeg_packed.npz"
    npz.parent.mkdir()
    _write_fake_npz(npz)
    cache = tmp_path / "cache"
    fresh_train, fresh_test = load_cifar10(npz, train_limit=12, seed=5)
    cached_train, cached_test = load_cifar10(npz, train_limit=12, seed=5, cache_dir=cache)
    assert sorted(p.name.split("-")[1] for p in cache.iterdir()) == ["test", "train"]
    assert not [p for p in cache.iterdir() if p.suffix != ".npy"]

    def _must_not_decode(*args, **kwargs):
        raise AssertionError("decoded although the cache exists")

    monkeypatch.setattr(cifar10_module, "_decode_jpegs", _must_not_decode)
    reread_train, reread_test = load_cifar10(npz, train_limit=12, seed=5, cache_dir=cache)
    triples = ((fresh_train, cached_train, reread_train), (fresh_test, cached_test, reread_test))
    for first, second, third in triples:
        assert torch.equal(first.images, second.images) and torch.equal(first.images, third.images)
        assert torch.equal(first.labels, third.labels)


def test_batches_folder_and_its_parent(tmp_path):
    data = _write_fake_batches(tmp_path / "cifar-10-batches-py")
    for path in (tmp_path, tmp_path / "cifar-10-batches-py"):
        train, test = load_cifar10(path)
        assert train.images.shape == (50, 3, 32, 32) and test.images.shape == (10, 3, 32, 32)
        # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major.
        first = data["data_batch_1"][0]
        assert torch.equal(train.images[0, 1], torch.from_numpy(first[1024:2048].reshape(32, 32)))
        second = data["data_batch_2"][0]
        assert torch.equal(train.images[10, 2], torch.from_numpy(second[2048:].reshape(32, 32)))
        assert torch.equal(test.images[3].flatten(), torch.from_numpy(data["test_batch"][3]))
        assert train.classes == CIFAR10_CLASSES and train.class_counts() == [5] * 10
    limited, _ = load_cifar10(tmp_path, train_limit=20, seed=0)
    assert limited.class_counts() == [2] * 10


def test_missing_paths_say_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found.*cifar10_jpeg_packed.npz.*cifar-10-batches-py"):
        load_cifar10(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 data in folder.*data_batch_1"):
        load_cifar10(tmp_path)
    _write_fake_batches(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_4"):
        load_cifar10(tmp_path)


def test_corrupt_files_raise_value_errors(tmp_path):
    not_npz = tmp_path / "notes.txt"
    not_npz.write_text("hello")
    with pytest.raises(ValueError, match="not an .npz"):
        load_cifar10(not_npz)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match="cannot be read.*train_jpeg"):
        load_cifar10(garbage)
    partial = tmp_path / "partial.npz"
    np.savez(partial, train_jpeg=np.zeros(3, dtype=np.uint8), classes=np.array(CIFAR10_CLASSES))
    with pytest.raises(ValueError, match="lacks arrays train_offsets, train_labels, test_jpeg"):
        load_cifar10(partial)


def test_inconsistent_offsets_and_undecodable_jpeg(tmp_path):
    good = tmp_path / "good.npz"
    _write_fake_npz(good)
    arrays = dict(np.load(good))
    bad_offsets = tmp_path / "offsets.npz"
    np.savez(bad_offsets, **{**arrays, "train_offsets": arrays["train_offsets"][:-1]})
    with pytest.raises(ValueError, match="train_offsets must be 31 integers"):
        load_cifar10(bad_offsets)
    nine_classes = tmp_path / "classes.npz"
    np.savez(nine_classes, **{**arrays, "classes": arrays["classes"][:9]})
    with pytest.raises(ValueError, match="expected 10 CIFAR-10 class names"):
        load_cifar10(nine_classes)
    scrambled = arrays["test_jpeg"].copy()
    start, stop = arrays["test_offsets"][4], arrays["test_offsets"][5]
    scrambled[start:stop] = 7
    bad_jpeg = tmp_path / "jpeg.npz"
    np.savez(bad_jpeg, **{**arrays, "test_jpeg": scrambled})
    with pytest.raises(ValueError, match="test image 4 is not a decodable JPEG"):
        load_cifar10(bad_jpeg)


def test_corrupt_batch_pickle_and_bad_limits(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_fake_batches(folder)
    with pytest.raises(ValueError, match="train_limit must be None or an integer in 1..50"):
        load_cifar10(folder, train_limit=51)
    (folder / "test_batch").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="test_batch is not a readable pickle"):
        load_cifar10(folder)
    wrong_width = {"data": np.zeros((2, 100), dtype=np.uint8), "labels": [0, 1]}
    (folder / "test_batch").write_bytes(pickle.dumps(wrong_width))
    with pytest.raises(ValueError, match="'data' must be uint8 N x 3072"):
        load_cifar10(folder)
