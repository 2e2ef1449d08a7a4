"""Changing a RunConfig by dotted setting names, with the rules that keep its parts consistent.

What the CLI's run flags do, for Python users too: `configure(config, {"train.batch_size": 64, ...})` applies
settings by the names config.json and `--print-config` use, moves the network to another search space, sets the
input channels and classes the dataset needs, and sets every seed at once. A bad value raises `SettingError`
naming the setting, so a caller can name its own spelling of it (the CLI names the flag).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from naslid.nn import SUPERNETS, network_config_class
from naslid.options import CliFlag
from naslid.runs.config import RunConfig

# what the native resolution of each dataset is (MobileNet spaces keep small images at their size)
_NATIVE_RESOLUTION = {"digits": 8, "cifar10": 32}
# settings that are not a field of one section but set several (see `configure`)
DERIVED_SETTINGS = ("search_space", "network.bn", "seed", "device")
# network.bn: "tracked" (BN affine with running statistics) or "batch-stats" (neither: GM-NAS's NB201 supernet)
BN_CHOICES = ("tracked", "batch-stats")


class SettingError(ValueError):
    """A setting that does not apply or has a bad value; `setting` is its dotted name."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def run_options(partition: bool = True) -> list[tuple[str, CliFlag]]:
    """(dotted setting, flag) of every RunConfig field that declares a command-line flag (`naslid.options.flag`):
    what the CLI's run flags are generated from. `partition=False` leaves out the split and schedule settings
    (`CliFlag.partition`). A network flag is listed once for all the spaces whose configurations share it."""
    classes = {"network": [config_class for config_class, _ in SUPERNETS.values()]}
    options: dict[str, CliFlag] = {}
    for section in ("data", "network", "train", "schedule", "split", "proxy", "search"):
        for config_class in classes.get(section) or [_section_class(section)]:
            for item in fields(config_class):
                cli = item.metadata.get("cli")
                if cli is not None and (partition or not cli.partition):
                    options.setdefault(f"{section}.{item.name}", cli)
    return list(options.items())


def _section_class(section: str) -> type:
    """The dataclass of a RunConfig section (the type its default holds)."""
    return type(RunConfig.__dataclass_fields__[section].default_factory())


def with_seed(config: RunConfig, seed: int, *, data: bool = True) -> RunConfig:
    """`config` with every seed set to `seed`: initialisation, path sampling, split batches, search, and (unless
    `data` is False, as a comparison's seeds want: the same train/valid split for every seed) the data split."""
    config = replace(config, seed=seed, train=replace(config.train, seed=seed),
                     split=replace(config.split, seed=seed), search=replace(config.search, seed=seed))
    return replace(config, data=replace(config.data, seed=seed)) if data else config


def with_space(config: RunConfig, space: str, dataset: str | None = None, resolution: int | None = None) -> RunConfig:
    """`config` moved to search space `space`: its supernet's default network, keeping the data's channels and
    classes; MobileNet spaces keep small images at their resolution (a small-input stem) instead of shrinking them
    32-fold. `dataset` and `resolution` are what the run will use when they differ from `config`'s."""
    if space == config.search_space:
        return config
    config_class = network_config_class(space)
    names = {item.name for item in fields(config_class)}
    carried = {name: getattr(config.network, name) for name in ("in_channels", "num_classes")
               if name in names and hasattr(config.network, name)}
    dataset = dataset or config.data.dataset
    side = resolution or (config.data.resolution if dataset == config.data.dataset else None) \
        or _NATIVE_RESOLUTION.get(dataset, 224)
    if "small_input" in names and side < 64:
        carried["small_input"] = True
    return replace(config, search_space=space, network=config_class(**carried), space=None)


def dataset_settings(dataset: str | None, data_path: str | None, tiny_network: bool = False) -> dict[str, Any]:
    """The settings a dataset implies for the network and augmentation (dotted names): RGB or grey input, one
    output per class of an image folder, the NB201 crop and flip for CIFAR-10 on the digits-sized tiny network."""
    settings: dict[str, Any] = {}
    if dataset == "cifar10" and tiny_network:
        # the tiny network was sized for 1-channel 8x8 digits; CIFAR-10 needs 3 input channels and flips
        settings.update({"network.in_channels": 3, "data.crop_padding": 4, "data.horizontal_flip": True})
    if dataset == "digits":
        settings["network.in_channels"] = 1
    if dataset == "imagefolder" and data_path is not None:
        from naslid.data import image_folder_classes

        classes = image_folder_classes(data_path)
        settings.update({"network.in_channels": 3, "network.num_classes": len(classes),
                         "data.horizontal_flip": True})
    return settings


def configure(config: RunConfig, settings: Mapping[str, Any], *, implied: Mapping[str, Any] | None = None,
              ) -> RunConfig:
    """`config` with `settings` applied (dotted names: ``train.batch_size``, ``data.path``; and the derived
    ``search_space``, ``network.bn`` ('tracked' or 'batch-stats'), ``seed`` (every seed) and ``device``).

    `implied` holds settings that follow from others (`dataset_settings`): they apply unless `settings` sets the
    same name. The search space changes first (it replaces the network section), then the sections, then the
    seed. Raises `SettingError` naming the first setting that does not apply or is refused.
    """
    settings = dict(settings)
    if "search_space" in settings:
        config = with_space(config, settings.pop("search_space"), settings.get("data.dataset"),
                            settings.get("data.resolution"))
    merged = {**(implied or {}), **settings}
    if "data.path" in merged and merged["data.path"] is not None:  # `x.npz` and `/abs/x.npz` are the same data
        merged["data.path"] = str(Path(os.fspath(merged["data.path"])).expanduser().resolve())
    bn = merged.pop("network.bn", None)
    if bn is not None:
        if bn not in BN_CHOICES:
            raise SettingError("network.bn", f"network.bn={bn!r}; expected 'tracked' or 'batch-stats'")
        merged["network.affine"] = merged["network.track_running_stats"] = bn == "tracked"
    seed, device = merged.pop("seed", None), merged.pop("device", None)
    sections: dict[str, dict[str, Any]] = {}
    for name, value in merged.items():
        section, _, field = name.partition(".")
        if not field or section not in {item.name for item in fields(RunConfig)}:
            raise SettingError(name, f"{name} is not a setting; expected SECTION.FIELD as in config.json")
        sections.setdefault(section, {})[field] = value
    for section, values in sections.items():
        current = getattr(config, section)
        unknown = [field for field in values if field not in {item.name for item in fields(current)}]
        if unknown:
            raise SettingError(f"{section}.{unknown[0]}", f"{section}.{unknown[0]} does not apply to the "
                               f"{config.search_space} space")
        try:
            config = replace(config, **{section: replace(current, **values)})
        except ValueError as error:  # the section's own check names the field as `field=value`
            named = next((field for field in values if str(error).startswith(f"{field}=")), None)
            raise SettingError(f"{section}.{named}" if named else section, str(error)) from None
    if device is not None:
        config = replace(config, device=device)
    if seed is not None:
        config = with_seed(config, seed)
    return config
