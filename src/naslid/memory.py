"""Out-of-memory errors as one line that names the flags deciding the size and the amount asked for.

An allocation that fails surfaces as a `RuntimeError` from torch's CPU allocator ("DefaultCPUAllocator: can't
allocate memory: you tried to allocate N bytes"), as `torch.OutOfMemoryError` on CUDA ("Tried to allocate
2.00 GiB"), or as a `MemoryError` (NumPy: "Unable to allocate 37.3 GiB ..."). `out_of_memory_named` turns any of
them into an `OutOfMemory` (a `MemoryError`) whose message the CLI prints as one line, e.g. ``out of memory while
building the supernet (--channels 100000, --cells 1, --batch-size 64); asked for 37.3 GiB: lower these or use a
device with more memory``. The innermost context names the error; outer ones let it pass unchanged.

No torch import here, so that the CLI can use it before a command has imported torch.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

# the argparse destinations of size flags, in the order they are named, with their spelling on the command line
_SIZE_FLAGS = (("channels", "--channels"), ("cells", "--cells"), ("width_mult", "--width-mult"),
               ("resolution", "--resolution"), ("batch_size", "--batch-size"), ("num_batches", "--num-batches"),
               ("num_classes", "--num-classes"), ("lid_batch_size", "--lid-batch-size"),
               ("split_batches", "--split-batches"), ("proxy_images", "--proxy-images"),
               ("train_limit", "--train-limit"))
# the run commands' size settings: dotted settings that the run flags set (named by the caller's `setting_flags`)
_SIZE_SETTINGS = ("network.channels", "network.cells_per_stage", "network.width_mult", "data.resolution",
                  "train.batch_size", "split.batch_size", "split.batches", "proxy.evaluation_images",
                  "data.train_limit")


class OutOfMemory(MemoryError):
    """An allocation failed; the message names the flags that decide the size (already one line)."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is a failed allocation not yet named: torch's CPU allocator, CUDA (or another device) out of
    memory, or a MemoryError."""
    if isinstance(error, OutOfMemory):
        return False
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("DefaultCPUAllocator" in text or "out of memory" in text.lower())


def asked(text: str) -> str:
    """The allocation an error message reports, as '; asked for 37.3 GiB' (or '' when it names none): from torch's
    CPU allocator ('allocate 40000000000 bytes'), CUDA ('Tried to allocate 2.00 GiB') or NumPy ('Unable to allocate
    37.3 GiB')."""
    found = re.search(r"allocate (\d+) bytes", text)
    if found:
        size = int(found[1])
        return f"; asked for {size / 2**30:.1f} GiB" if size >= 2**30 / 10 else f"; asked for {size / 2**20:.1f} MiB"
    found = re.search(r"allocate ([\d.]+ ?[KMGTPE]i?B)", text)
    return f"; asked for {found[1]}" if found else ""


def out_of_memory_message(doing: str, flags: str, text: str) -> str:
    """'out of memory while DOING (FLAGS); asked for N GiB: lower these or use a device with more memory'."""
    if flags:
        return f"out of memory while {doing} ({flags}){asked(text)}: lower these or use a device with more memory"
    return f"out of memory while {doing}{asked(text)}: use a device with more memory"


@contextmanager
def out_of_memory_named(doing: str, flags: str | Callable[[], str]) -> Iterator[None]:
    """Turn a failed allocation inside the block into an `OutOfMemory` naming `flags` (a string, or a function
    called only then) and the amount asked; every other error, and one already named, passes unchanged."""
    try:
        yield
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        named = flags() if callable(flags) else flags
        raise OutOfMemory(out_of_memory_message(doing, named, str(error))) from None


def flag_list(pairs: Sequence[tuple[str, object]]) -> str:
    """'--channels 16, --batch-size 64' from (flag, value) pairs, leaving out the values that are None."""
    return ", ".join(f"{flag} {value}" for flag, value in pairs if value is not None)


def network_flags(network: object) -> list[tuple[str, object]]:
    """The size flags of a network configuration: --channels and --cells (NB201), --width-mult (MobileNet spaces)."""
    return [(flag, getattr(network, name)) for name, flag in
            (("channels", "--channels"), ("cells_per_stage", "--cells"), ("width_mult", "--width-mult"))
            if hasattr(network, name)]


def run_flags(cfg: object) -> str:
    """The flags that decide a run's memory (`naslid.runs.config.RunConfig`): the network's, the batch size and,
    when set, the input resolution."""
    return flag_list([*network_flags(cfg.network), ("--batch-size", cfg.train.batch_size),
                      ("--resolution", cfg.data.resolution)])


def command_flags(args: argparse.Namespace, setting_flags: Mapping[str, str] | None = None) -> str:
    """The size flags given on a command line (unset ones are left out), for a command's catch-all message.
    `setting_flags` names the flag of each dotted run setting (the CLI passes its run flags'), so that the run
    commands' size settings are named too; this module knows no configuration."""
    pairs = [(flag, getattr(args, name, None)) for name, flag in _SIZE_FLAGS]
    pairs += [(setting_flags[setting], getattr(args, setting, None)) for setting in _SIZE_SETTINGS
              if setting in (setting_flags or {})]
    return flag_list(pairs)
