"""ImageNet-layout folders: class lists and labels, streamed and deterministic batches, transforms, clear errors."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from naslid.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FolderAugment,
    ImageFolder,
    StreamingLoader,
    decode_image,
    image_folder_classes,
    load_image_folder,
    load_split,
)
from naslid.data.streaming import centre_crop_box, random_resized_crop_box
from naslid.runs.datasets import DataConfig, prepare_data

CLASSES = ("cat", "dog", "zebra")


def _write(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> None:
    """A smooth random image (so JPEG keeps it recognisable) of `size` (width, height)."""
    rng = np.random.default_rng(seed)
    width, height = size
    small = (rng.random((max(height // 8, 1), max(width // 8, 1), 3)) * 255).astype(np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def make_folder(root: Path, train_per_class: int = 5, val_per_class: int = 2) -> Path:
    """A tiny ImageNet-layout folder: 3 classes, varied sizes, jpg/JPEG/png, grey and RGBA files, a stray text file."""
    rng = np.random.default_rng(0)
    suffixes = (".jpg", ".JPEG", ".png", ".jpeg")
    for part, count in (("train", train_per_class), ("val", val_per_class)):
        for label, name in enumerate(CLASSES):
            for index in range(count):
                size = (int(rng.integers(40, 120)), int(rng.integers(40, 120)))
                mode = ("RGB", "L", "RGBA")[index % 3] if index % 4 == 2 else "RGB"
                suffix = ".png" if mode == "RGBA" else suffixes[index % len(suffixes)]
                _write(root / part / name / f"{part}_{index:02d}{suffix}", size, seed=1000 * label + index, mode=mode)
            (root / part / name / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "images")


def _collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = list(batches)
    return torch.cat([images for images, _ in pairs]), torch.cat([labels for _, labels in pairs])


def test_classes_labels_and_sorted_files(folder):
    train, val = load_image_folder(folder, resolution=16)
    assert image_folder_classes(folder) == CLASSES == train.classes == val.classes
    assert len(train) == 15 and len(val) == 6 and train.num_classes == 3
    assert list(train.files) == sorted(train.files)  # class folders are sorted, so class order = path order
    assert train.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    pairs = zip(train.files, train.labels.tolist(), strict=True)
    assert all(CLASSES[label] == path.split("/")[0] for path, label in pairs)
    assert not any(path.endswith(".txt") for path in train.files)
    assert train.class_counts() == [5, 5, 5] and train.image_shape == (3, 16, 16)
    assert (train.mean, train.std) == (IMAGENET_MEAN, IMAGENET_STD)
    subset = train.subset([14, 0])
    assert subset.files == (train.files[14], train.files[0]) and subset.labels.tolist() == [2, 0]


def test_val_may_lack_a_class_but_keeps_the_train_labels(folder):
    for path in (folder / "val" / "dog").iterdir():
        path.unlink()
    (folder / "val" / "dog").rmdir()
    _, val = load_image_folder(folder, resolution=16)
    assert val.classes == CLASSES and sorted(set(val.labels.tolist())) == [0, 2]


def test_the_dataset_holds_paths_not_pixels(folder):
    train, _ = load_image_folder(folder, resolution=64)
    loader = StreamingLoader(train, batch_size=4, workers=0)
    tensors = [value for value in vars(train).values() if isinstance(value, torch.Tensor)]
    assert [tensor.dtype for tensor in tensors] == [torch.int64]  # the labels; no image tensor anywhere
    assert not any(isinstance(value, torch.Tensor) and value.dtype == torch.uint8 for value in vars(loader).values())
    assert len(pickle.dumps(train)) < 4096  # 15 paths, not 15 x 3 x 64 x 64 pixels
    assert train.path(0).is_file()


@pytest.mark.parametrize("layout, message", [
    (lambda root: root.rename(root.with_name("elsewhere")), "not found"),
    (lambda root: (root / "train").rename(root / "training"), "train not found"),
    (lambda root: (root / "val").rename(root / "validation"), "val not found"),
    (lambda root: (root / "val" / "emu").mkdir(), "val/emu is a class folder that"),
    (lambda root: (root / "train" / "emu").mkdir(), "train/emu holds no image"),
    (lambda root: [path.unlink() for path in (root / "val" / "cat").glob("*.*")], "val/cat holds no image"),
])
def test_bad_layouts_give_one_line_errors_naming_the_path(folder, layout, message):
    layout(folder)
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        load_image_folder(folder, resolution=16)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_train_folder_without_classes_is_refused(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="holds no class folder"):
        image_folder_classes(tmp_path)


def test_an_undecodable_file_names_itself(folder):
    broken = folder / "train" / "cat" / "train_99.jpg"
    broken.write_bytes(b"not a jpeg")
    train, _ = load_image_folder(folder, resolution=16)
    loader = StreamingLoader(train, batch_size=4, drop_last=False, workers=0)
    with pytest.raises(ValueError, match="cannot decode image .*train_99.jpg"):
        list(loader.eval_batches())


@pytest.mark.parametrize("resolution", [16, 37])
def test_evaluation_batches_shape_order_and_normalisation(folder, resolution):
    train, _ = load_image_folder(folder, resolution=resolution)
    loader = StreamingLoader(train, batch_size=4, shuffle=False, drop_last=False, workers=0)
    images, labels = _collect(loader.eval_batches())
    assert images.shape == (15, 3, resolution, resolution) and images.dtype == torch.float32
    assert labels.tolist() == train.labels.tolist() and loader.eval_batch_count() == 4
    reference = decode_image(train.path(3), resolution)  # the evaluation crop, uint8
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    torch.testing.assert_close(images[3], (reference.float() / 255 - mean) / std)


def test_a_constant_image_normalises_to_known_values(tmp_path):
    Image.new("RGB", (90, 50), (255, 0, 128)).save(tmp_path / "flat.png")
    image = decode_image(tmp_path / "flat.png", 24, FolderAugment(), np.random.default_rng(0))
    assert image.shape == (3, 24, 24) and image.dtype == torch.uint8
    assert image[:, 5, 7].tolist() == [255, 0, 128]


def test_crop_boxes_stay_inside_the_image():
    rng = np.random.default_rng(0)
    for width, height in [(500, 375), (60, 400), (400, 30), (10, 10)]:
        for _ in range(50):
            left, top, crop_width, crop_height = random_resized_crop_box(width, height, rng)
            assert 0 <= left and 0 <= top and left + crop_width <= width and top + crop_height <= height
            assert crop_width > 0 and crop_height > 0
    # resize the shorter side to 64 / 0.875 = 73.1, centre-crop 64: a 175 x 175 square of a 300 x 200 image
    left, top, side, _ = centre_crop_box(300, 200, 64)
    assert side == pytest.approx(175.0) and left == pytest.approx(62.5) and top == pytest.approx(12.5)


def test_epochs_are_deterministic_whatever_the_workers_and_differ_between_epochs(folder):
    train, _ = load_image_folder(folder, resolution=24)
    loaders = [StreamingLoader(train, batch_size=4, augment=FolderAugment(), seed=3, workers=workers)
               for workers in (0, 2)]
    first, second = (_collect(loader.epoch(1)) for loader in loaders)
    assert len(loaders[0]) == 3 and first[0].shape == (12, 3, 24, 24)
    torch.testing.assert_close(first[0], second[0], rtol=0, atol=0)
    assert torch.equal(first[1], second[1])
    other = _collect(loaders[0].epoch(2))
    assert not torch.equal(first[0], other[0])
    reseeded = _collect(StreamingLoader(train, batch_size=4, augment=FolderAugment(), seed=4, workers=0).epoch(1))
    assert not torch.equal(first[0], reseeded[0])


def test_a_resumed_epoch_replays_exactly(folder):
    """A fresh loader (a resumed process) gives epoch 1 exactly as the loader that already ran epoch 0."""
    train, _ = load_image_folder(folder, resolution=20)
    running = StreamingLoader(train, batch_size=5, augment=FolderAugment(), seed=0, workers=0)
    list(running.epoch(0))
    continued = _collect(running.epoch(1))
    resumed = _collect(StreamingLoader(train, batch_size=5, augment=FolderAugment(), seed=0, workers=0).epoch(1))
    assert torch.equal(continued[0], resumed[0]) and torch.equal(continued[1], resumed[1])


def test_run_data_split_record_round_trip(folder, tmp_path):
    cfg = DataConfig(dataset="imagefolder", path=str(folder), resolution=16, workers=0)
    data = prepare_data(cfg, batch_size=2, device=torch.device("cpu"), run_dir=tmp_path)
    record = load_split(tmp_path / "split.json")
    assert record == data.split and record.dataset_size == 15
    assert len(data.train) + len(data.valid) == 15 and len(data.test) == 6 and data.num_classes == 3
    assert isinstance(data.train, ImageFolder) and isinstance(data.train_loader, StreamingLoader)
    again = prepare_data(cfg, batch_size=2, device=torch.device("cpu"), run_dir=tmp_path)  # reuses split.json
    assert again.train.files == data.train.files and again.valid.files == data.valid.files
    evaluation = list(data.evaluation_loader("valid", 4, limit=3).eval_batches())
    assert [tuple(images.shape) for images, _ in evaluation] == [(3, 3, 16, 16)]
    batches = data.batches(5, 2, seed=1)
    assert len(batches) == 5 and batches[0][0].shape == (2, 3, 16, 16)
    _write(folder / "train" / "cat" / "extra.jpg", (50, 50), seed=9)  # other files: the stored split is refused
    with pytest.raises(ValueError, match="split was drawn from"):
        prepare_data(cfg, batch_size=2, device=torch.device("cpu"), run_dir=tmp_path)


def test_data_config_for_folders():
    cfg = DataConfig(dataset="imagefolder", path="/somewhere")
    assert cfg.resolution == 224 and "workers" not in cfg.to_dict()
    assert DataConfig(**cfg.to_dict()).to_dict() == cfg.to_dict()
    assert isinstance(cfg.augment(), FolderAugment)
    with pytest.raises(ValueError, match="needs a path"):
        DataConfig(dataset="imagefolder")
    with pytest.raises(ValueError, match="cutout=8"):
        DataConfig(dataset="imagefolder", path="/somewhere", cutout=8)
    with pytest.raises(ValueError, match="workers=-1"):
        DataConfig(dataset="imagefolder", path="/somewhere", workers=-1)


def test_train_on_a_folder_end_to_end(folder, tmp_path, capsys):
    """`naslid train` on the generated folder: 3 classes set the classifier, the run resumes with other workers."""
    from naslid.cli import main
    from naslid.runs.config import RunConfig

    run = tmp_path / "run"
    flags = ["--dataset", "imagefolder", "--data-path", str(folder), "--resolution", "16", "--channels", "4",
             "--batch-size", "4", "--epochs", "1", "--no-progress", "--device", "cpu"]
    assert main(["train", str(run), *flags, "--data-workers", "2"]) == 0
    assert "trained a supernet on 15625 architectures for 1 epochs (imagefolder)" in capsys.readouterr().out
    config = RunConfig.load(run / "config.json")
    assert (config.network.num_classes, config.network.in_channels, config.data.resolution) == (3, 3, 16)
    assert main(["train", str(run), *flags, "--data-workers", "0"]) == 0  # workers are not part of the run


def test_a_network_with_the_wrong_class_count_is_refused(folder, tmp_path):
    from naslid.nn import NB201Config
    from naslid.runs.config import RunConfig
    from naslid.runs.partition import PartitionRun
    from naslid.train import TrainConfig

    cfg = RunConfig(data=DataConfig(dataset="imagefolder", path=str(folder), resolution=16, workers=0),
                    network=NB201Config(channels=4, cells_per_stage=1, num_classes=10),
                    train=TrainConfig(batch_size=4), device="cpu")
    with pytest.raises(ValueError, match="10 outputs but the data .* has 3 classes"):
        PartitionRun(tmp_path / "run", cfg)


def test_profile_reads_a_folder(folder, tmp_path):
    from naslid.runs.profile import ProfileConfig, load_batches

    cfg = ProfileConfig(models=["nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], data="imagefolder",
                        data_path=str(folder), batch_size=4, num_batches=2, input_shape=(3, 24, 24))
    batches = load_batches(cfg, torch.device("cpu"))
    assert [tuple(batch.shape) for batch in batches] == [(4, 3, 24, 24)] * 2
    assert torch.equal(torch.cat(batches), torch.cat(load_batches(cfg, torch.device("cpu"))))  # seeded draw
