"""Image-classification folders in the ImageNet layout (ROOT/train/CLASS/*.jpg, ROOT/val/CLASS/*.jpg), as file lists.

Nothing is decoded here: an `ImageFolder` holds relative file paths and labels, and `StreamingLoader`
(naslid.data.streaming) decodes the images on demand. No download: the folder must already hold the images.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

# torchvision's ImageNet statistics (0..1 units), the usual normalisation of ImageNet-style folders
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # matched case-insensitively
FOLDER_PARTS = ("train", "val")
_LAYOUT = "ROOT/train/CLASS/*.jpg and ROOT/val/CLASS/*.jpg"


@dataclass(frozen=True, eq=False)
class ImageFolder:
    """A labelled list of image files under `root`, decoded only when a loader asks for them.

    Parameters
    ----------
    name : str
        What the data is; split files record it. It ends in a hash of the file list, so a split drawn on
        other files is refused.
    root : str
        Folder the file paths are relative to (ROOT/train or ROOT/val).
    files : tuple of str
        Relative POSIX paths, sorted by class, then by path: positions are stable across runs.
    labels : torch.Tensor
        int64, one per file, values in 0..len(classes)-1.
    classes : tuple of str
        Class names (the sorted folder names of ROOT/train), index = label.
    resolution : int
        Side in pixels of the square images the loaders give.
    mean, std : tuple of float
        Per-channel normalisation in 0..1 units (ImageNet's).
    """

    name: str
    root: str
    files: tuple[str, ...]
    labels: torch.Tensor
    classes: tuple[str, ...]
    resolution: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if not isinstance(self.labels, torch.Tensor) or self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise ValueError(f"image folder {self.name!r}: labels must be an int64 tensor of shape N")
        if len(self.files) != len(self.labels):
            raise ValueError(f"image folder {self.name!r}: {len(self.files)} files but {len(self.labels)} labels")
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, int) or self.resolution < 1:
            raise ValueError(f"image folder {self.name!r}: resolution must be a positive integer, "
                             f"got {self.resolution!r}")

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """C, H, W of one image as the loaders give it (always RGB)."""
        return 3, self.resolution, self.resolution

    def path(self, index: int) -> Path:
        """Full path of the file at position `index`."""
        return Path(self.root) / self.files[index]

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ImageFolder:
        """The files at `indices` (in that order), with the same name, classes and statistics."""
        index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise ValueError(f"image folder {self.name!r}: subset indices span {int(index.min())}.."
                             f"{int(index.max())}, expected 0..{len(self) - 1}")
        return replace(self, files=tuple(self.files[i] for i in index.tolist()), labels=self.labels[index])

    def class_counts(self) -> list[int]:
        """Number of images of each class, in class order."""
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()


def image_folder_classes(root: str | os.PathLike) -> tuple[str, ...]:
    """The class names of an ImageNet-layout folder: the sorted subfolders of ROOT/train."""
    train = _part_folder(Path(root), "train")
    classes = tuple(_class_folders(train))
    if not classes:
        raise ValueError(f"{train} holds no class folder; expected the ImageNet layout {_LAYOUT}")
    return classes


def load_image_folder(root: str | os.PathLike, resolution: int) -> tuple[ImageFolder, ImageFolder]:
    """The train and val parts of the ImageNet-layout folder `root`, as file lists at `resolution` pixels.

    Classes are the sorted subfolders of ROOT/train; every class folder of ROOT/val must be one of them
    (val may lack some). Images are files ending in .jpg, .jpeg or .png (any case), searched recursively
    in each class folder; each class folder must hold at least one.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} not found; expected the ImageNet layout {_LAYOUT}")
    classes = image_folder_classes(root)
    parts = []
    for part in FOLDER_PARTS:
        folder = _part_folder(root, part)
        present = _class_folders(folder)
        unknown = [name for name in present if name not in classes]
        if unknown:
            raise ValueError(f"{folder / unknown[0]} is a class folder that {root / 'train'} lacks "
                             f"(classes: {', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''})")
        files: list[str] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            if name not in present:
                continue
            images = _image_files(folder / name)
            if not images:
                raise ValueError(f"class folder {folder / name} holds no image "
                                 f"({'/'.join(IMAGE_EXTENSIONS)}, any case)")
            files.extend(f"{name}/{path}" for path in images)
            labels.extend([label] * len(images))
        if not files:
            raise ValueError(f"{folder} holds no image; expected the ImageNet layout {_LAYOUT}")
        digest = hashlib.sha256("\n".join(files).encode()).hexdigest()[:10]
        parts.append(ImageFolder(
            name=f"imagefolder-{part}[{len(files)} files, {digest}]",
            root=str(folder.resolve()),
            files=tuple(files),
            labels=torch.tensor(labels, dtype=torch.int64),
            classes=classes,
            resolution=resolution,
        ))
    return parts[0], parts[1]


def _part_folder(root: Path, part: str) -> Path:
    folder = root / part
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found; expected the ImageNet layout {_LAYOUT}")
    return folder


def _class_folders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def _image_files(folder: Path) -> list[str]:
    """Image files under `folder` (recursively), as sorted POSIX paths relative to it."""
    found = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append((Path(directory) / name).relative_to(folder).as_posix())
    return sorted(found)
