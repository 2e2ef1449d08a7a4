"""SPOS training of (sub-)supernets, with exact resume from atomic checkpoints."""

from naslid.train.checkpoint import CHECKPOINT_SCHEMA, load_checkpoint, non_finite_tensors, save_checkpoint
from naslid.train.fixed_kernels import FixedKernelStep, masked_sgd_
from naslid.train.spos import (
    TrainConfig,
    TrainingDiverged,
    TrainState,
    autocast_for,
    checkpoint_dict,
    create_optimizer,
    lr_at,
    new_train_state,
    restore_train_state,
    train_supernet,
)

__all__ = [
    "CHECKPOINT_SCHEMA", "FixedKernelStep", "TrainConfig", "TrainState", "TrainingDiverged", "autocast_for",
    "checkpoint_dict", "create_optimizer", "load_checkpoint", "lr_at", "masked_sgd_", "new_train_state",
    "non_finite_tensors", "restore_train_state",
    "save_checkpoint", "train_supernet",
]
