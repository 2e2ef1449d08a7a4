"""SPOS training of (sub-)supernets, with exact resume from atomic checkpoints."""

from naslid.nn.nb201_step import FixedKernelStep, masked_sgd_
from naslid.train.checkpoint import CHECKPOINT_SCHEMA, load_checkpoint, non_finite_tensors, save_checkpoint
from naslid.train.distributed import DataParallel, global_batchnorm, init_from_environment, is_main_process
from naslid.train.spos import (
    TrainConfig,
    TrainingDiverged,
    TrainState,
    channels_last_for,
    checkpoint_dict,
    create_optimizer,
    lr_at,
    new_train_state,
    restore_train_state,
    train_supernet,
)
from naslid.train.steps import PRECISIONS, TRAIN_STEPS, ModuleStep, TrainStep, autocast_for, register_train_step

__all__ = [
    "CHECKPOINT_SCHEMA", "DataParallel", "FixedKernelStep", "ModuleStep", "PRECISIONS", "TRAIN_STEPS", "TrainStep",
    "TrainConfig", "TrainState", "TrainingDiverged",
    "autocast_for", "channels_last_for", "checkpoint_dict", "create_optimizer", "global_batchnorm",
    "init_from_environment", "is_main_process", "load_checkpoint", "lr_at", "masked_sgd_", "new_train_state",
    "non_finite_tensors", "register_train_step", "restore_train_state", "save_checkpoint", "train_supernet",
]
