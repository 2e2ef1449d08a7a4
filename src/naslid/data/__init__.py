"""Datasets (CIFAR-10 from npz or torchvision folder, bundled digits, ImageNet-layout folders), seeded splits,
loaders (on-device for in-memory sets, streaming for folders)."""

from naslid.data.augment import (
    AugmentConfig,
    AugmentParameters,
    apply_cutout,
    crop_with_padding,
    denormalize_images,
    draw_augment_parameters,
    flip_where,
    normalize_images,
    rotate_images,
)
from naslid.data.cifar10 import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    default_cifar10_path,
    load_cifar10,
    user_cifar10_path,
)
from naslid.data.dataset import ImageDataset, channel_stats
from naslid.data.digits import load_digits_dataset
from naslid.data.folder import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolder,
    image_folder_classes,
    load_image_folder,
)
from naslid.data.loader import DeviceLoader, epoch_seed
from naslid.data.resize import resize_dataset
from naslid.data.split import (
    SPLIT_SCHEMA,
    SplitRecord,
    apply_split,
    balanced_split_indices,
    balanced_subset_indices,
    load_split,
    save_split,
    split_train_valid,
)
from naslid.data.streaming import FolderAugment, StreamingLoader, decode_image, default_workers

__all__ = [
    "AugmentConfig", "AugmentParameters", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "DeviceLoader",
    "FolderAugment", "IMAGENET_MEAN", "IMAGENET_STD", "ImageDataset", "ImageFolder", "SPLIT_SCHEMA", "SplitRecord",
    "StreamingLoader", "apply_cutout", "apply_split", "balanced_split_indices", "balanced_subset_indices",
    "channel_stats", "crop_with_padding", "decode_image", "default_workers", "denormalize_images",
    "draw_augment_parameters", "epoch_seed", "flip_where", "image_folder_classes", "load_cifar10",
    "default_cifar10_path", "user_cifar10_path",
    "load_digits_dataset", "load_image_folder", "load_split", "normalize_images", "resize_dataset", "rotate_images",
    "save_split", "split_train_valid",
]
