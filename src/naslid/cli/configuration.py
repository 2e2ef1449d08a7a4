"""From a run command's flags to what it runs: the configuration (preset, --config, --protocol, --scale and the
flags the user set), the job runner and the ground truth; --print-config shows the configuration.
"""

from __future__ import annotations

import argparse

from naslid.cli.run_flags import setting_flags


def runner(args: argparse.Namespace):
    """The job runner the flags ask for."""
    from naslid.partition import get_runner

    return get_runner(args.runner, address=args.ray_address, gpus_per_job=args.gpus_per_job,
                      cpus_per_job=args.cpus_per_job)


def run_config(args: argparse.Namespace):
    """The preset's RunConfig with the flags the user set applied on top (naslid.runs.configure); a bad value
    names its flag."""
    from naslid.runs.presets import get_preset
    from naslid.runs.protocols import get_protocol, get_scale

    preset = get_preset(args.preset)
    config = preset.config
    if getattr(args, "config_file", None):
        from naslid.runs.config import RunConfig

        config = RunConfig.from_dict(_config_document(args.config_file))
    if getattr(args, "protocol", None):
        config = get_protocol(args.protocol).apply(config)
    if getattr(args, "scale", None):
        config = get_scale(args.scale).apply(config)
    from naslid.runs.configure import SettingError, configure, dataset_settings

    settings = {dest: value for dest, value in vars(args).items() if "." in dest and value is not None}
    for dest, name in (("space", "search_space"), ("bn", "network.bn"), ("device", "device"), ("seed", "seed")):
        if getattr(args, dest, None) is not None:
            settings[name] = getattr(args, dest)
    if getattr(args, "rank_device", None) is not None:  # torchrun: this rank's device
        settings["device"] = str(args.rank_device)
    implied = dataset_settings(getattr(args, "data.dataset", None), getattr(args, "data.path", None),
                               tiny_network=args.preset == "tiny")
    try:
        config = configure(config, settings, implied=implied)
    except SettingError as error:
        flag = setting_flags().get(error.setting)
        if flag is not None and "does not apply" in str(error):
            message = f"{flag} does not apply to the {config.search_space} space"
        elif flag is not None:
            message = f"{flag} {settings.get(error.setting)}: {error}"
        else:
            message = str(error)
        raise ValueError(f"{message} (preset {args.preset!r})") from None
    except ValueError as error:
        raise ValueError(f"{error} (preset {args.preset!r})") from None
    plan = preset.plan
    if getattr(args, "scale", None):
        from dataclasses import replace as replaced

        plan = replaced(plan, scale=args.scale)
    return config, plan


def _config_document(path: str) -> dict:
    """The run configuration in `path`: a config.json, or the "config" part of what --print-config writes."""
    from naslid.reading import read_json

    try:
        document = read_json(path, what="--config")
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    if isinstance(document, dict) and "config" in document and "schema" not in document:
        document = document["config"]
    return document


def print_config(args: argparse.Namespace) -> int:
    """--print-config: the configuration the command would run (built and checked as the command builds and checks
    it: the method, the epochs, every compared variant), as JSON on stdout; nothing is written."""
    import json

    config, plan = args.resolve_config(args)  # each run command's own (set by its parser)
    document = {"preset": args.preset, "config": config.to_dict()}
    if args.config_file:
        document["config_file"] = args.config_file
    if plan is not None:
        document["compare_plan"] = plan.to_dict()
    print(json.dumps(document, indent=1))
    return 0


def benchmark_path(flag: str | None) -> str | None:
    """--benchmark as given, the packaged NB201 table when unset, None for 'none'."""
    from naslid.bench import packaged_table_path

    if flag == "none":
        return None
    return flag if flag is not None else str(packaged_table_path())
