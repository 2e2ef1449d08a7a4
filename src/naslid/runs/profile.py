"""`naslid profile`: build the models asked for, profile their layer-wise LID on shared batches, write JSON and a plot.

Model specs:
- ``nb201:<arch string>``: an NB201 network, from a trained supernet checkpoint when one is given (a dict with
  the supernet ``model`` state_dict and its ``model_config``, as naslid train writes), else freshly
  initialised with the seed; profiled at its 17 layers (15 cells and 2 reduction blocks).
- ``torchvision:<name>``: any torchvision model (needs torchvision importable), randomly initialised
  unless a checkpoint is given.
- ``path/to/file.py:factory`` or ``package.module:factory``: ``factory()`` must return an ``nn.Module``.

Data from a .pt / .npy file is fed as it is stored: integer tensors (token ids) stay integer, with no
normalisation; float tensors are read as float32 and uint8 ones (pixel values) cast to float32, as before.
Each profile carries notes on what its values can mean: the model is untrained (no checkpoint loaded),
the inputs are Gaussian noise (the default data), or samples were found along another axis than the first.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from naslid.atomic import write_with
from naslid.data import StreamingLoader, load_cifar10, load_digits_dataset, load_image_folder, normalize_images
from naslid.lid import LIDProfile, get_estimator, profile_layers, save_profiles
from naslid.memory import flag_list, is_out_of_memory, out_of_memory_named
from naslid.nn import NB201Config, NB201Network, NB201SuperNet
from naslid.runs.config import resolve_device
from naslid.spaces import NB201Arch, format_arch, parse_arch
from naslid.train import non_finite_tensors

logger = logging.getLogger(__name__)

DATA_SOURCES = ("gaussian", "digits", "cifar10", "imagefolder")
NB201_LAYERS = [f"cells.{index}" for index in range(17)]  # the default NB201 shape (N = 5): 15 cells + 2 reductions
GAUSSIAN_NOTE = ("inputs are synthetic Gaussian noise (the default data): the profile shows how the network maps "
                 "noise, not real data; choose real inputs with data (--data)")
_SHORT_OPS = {"none": "none", "skip_connect": "skip", "nor_conv_1x1": "1x1", "nor_conv_3x3": "3x3",
              "avg_pool_3x3": "pool"}


@dataclass
class ProfileConfig:
    """What `naslid profile` measures; defaults follow NAS-LID (n = 128, k = 20, reference MLE)."""

    models: list[str] = field(default_factory=list)  # model specs (module docstring)
    checkpoints: list[str] = field(default_factory=list)  # none, one for all models, or one per model
    # "gaussian", "digits", "cifar10" or "imagefolder" (both need data_path), or a .pt / .npy tensor file
    data: str = "gaussian"
    data_path: str | None = None
    batch_size: int = 128  # n: NAS-LID reference
    num_batches: int = 4
    estimator: str = "mle"
    k: int = 20  # NAS-LID reference; unused by twonn
    mode: str = "eval"  # BN running statistics ("eval") or batch statistics ("train"); restored either way
    layers: list[str] | None = None  # module names; None: NB201's 17 layers, else the blocks (default_layers)
    sample_axis: int | None = None  # the layer outputs' axis of samples; None: found by the batch size
    input_shape: tuple[int, int, int] = (3, 32, 32)  # for gaussian inputs; imagefolder: the crop side
    num_classes: int = 10  # for freshly built NB201 and torchvision models
    seed: int = 0  # initialisation of fresh models and the data draw
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("models is empty; give at least one model spec such as 'nb201:<arch string>'")
        if len(self.checkpoints) not in (0, 1, len(self.models)):
            raise ValueError(
                f"{len(self.checkpoints)} checkpoints for {len(self.models)} models; give none, one for all "
                "models, or one per model"
            )
        for name in ("batch_size", "num_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        axis = self.sample_axis
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int)):
            raise ValueError(f"sample_axis must be an integer axis; got {axis!r}")


@dataclass
class ProfileModel:
    """One model ready to profile: the module, how to run a batch, which layers, and its label."""

    spec: str
    label: str
    model: nn.Module
    forward: Callable[[nn.Module, Any], Any] | None = None
    layers: list[str] | None = None
    notes: list[str] = field(default_factory=list)  # e.g. that the weights are a fresh initialisation


def run_profile(cfg: ProfileConfig, output: str | Path, plot: str | Path | None = None,
                progress: bool = False) -> tuple[list[LIDProfile], Path, Path]:
    """Profile every model of `cfg` on the same batches; write the JSON to `output` and the plot to `plot`.

    `plot` defaults to `output` with the suffix .png. Returns the profiles and the two paths written.
    """
    device = resolve_device(cfg.device)
    estimator = get_estimator(cfg.estimator, **({} if cfg.estimator == "twonn" else {"k": cfg.k}))
    for path in (output, plot):
        if path is not None and Path(path).is_dir():
            raise ValueError(f"output {path} is a directory; expected a file path")
    if cfg.data == "gaussian":  # draw inputs with the channels a checkpoint's network was trained on
        cfg = replace(cfg, input_shape=(_checkpoint_in_channels(cfg), *cfg.input_shape[1:]))
    sizes = _size_flags(cfg)  # what an out-of-memory message names
    with out_of_memory_named("drawing the input batches", sizes):
        batches = load_batches(cfg, device)
    data_notes = [GAUSSIAN_NOTE] if cfg.data == "gaussian" else []
    profiles = []
    for index, spec in enumerate(cfg.models):
        checkpoint = _checkpoint_for(cfg, index)
        with out_of_memory_named(f"building model {spec!r}", sizes):
            entry = build_model(spec, checkpoint, cfg, in_channels=batches[0].shape[1])
            entry.model.to(device)
        try:
            with out_of_memory_named(f"profiling model {spec!r}", sizes):  # raises a MemoryError, not a RuntimeError
                profile = profile_layers(
                    entry.model, batches, layers=cfg.layers or entry.layers, estimator=estimator,
                    forward=entry.forward, mode=cfg.mode, label=entry.label, progress=progress,
                    sample_axis=cfg.sample_axis, notes=[*entry.notes, *data_notes],
                )
        except RuntimeError as error:  # torch reports shape mismatches (input channels, sizes) this way
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"model {spec!r} cannot run on the {cfg.data} inputs of shape "
                             f"{tuple(batches[0].shape)} and dtype {batches[0].dtype}: {first}") from None
        logger.info("%s: LID %s", entry.label, " ".join(f"{value:.1f}" for value in profile.mean))
        profiles.append(profile)
    protocol = {
        "models": list(cfg.models), "checkpoints": list(cfg.checkpoints), "data": cfg.data,
        "data_path": cfg.data_path, "n": cfg.batch_size, "num_batches": cfg.num_batches, "k": estimator.k,
        "estimator": estimator.name, "estimator_params": estimator.params(), "mode": cfg.mode,
        "seed": cfg.seed, "device": str(device), "torch": torch.__version__, "config": _plain(asdict(cfg)),
    }
    output = save_profiles(output, profiles, protocol)
    plot_path = Path(plot) if plot is not None else output.with_suffix(".png")
    title = f"LID profiles: {estimator.name}, n = {cfg.batch_size}, k = {estimator.k}, {cfg.data} data"
    plot_profiles(profiles, plot_path, title=title)
    return profiles, output, plot_path


def _size_flags(cfg: ProfileConfig) -> str:
    """The flags of `naslid profile` that decide its memory: samples per batch and batches held at once, and the
    classifier width of freshly built models."""
    return flag_list([("--batch-size", cfg.batch_size), ("--num-batches", cfg.num_batches),
                      ("--num-classes", cfg.num_classes)])


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _checkpoint_in_channels(cfg: ProfileConfig) -> int:
    """The input channels the NB201 checkpoints of `cfg` were trained with (default: `input_shape`'s)."""
    channels = set()
    for index, spec in enumerate(cfg.models):
        checkpoint = _checkpoint_for(cfg, index)
        if spec.startswith("nb201:") and checkpoint is not None:
            channels.add(_nb201_config(_read_checkpoint(checkpoint), checkpoint).in_channels)
    if len(channels) > 1:
        raise ValueError(f"the checkpoints take {sorted(channels)} input channels; profile them in separate calls")
    return channels.pop() if channels else cfg.input_shape[0]


def _checkpoint_for(cfg: ProfileConfig, index: int) -> str | None:
    if not cfg.checkpoints:
        return None
    return cfg.checkpoints[0] if len(cfg.checkpoints) == 1 else cfg.checkpoints[index]


# --- data ---------------------------------------------------------------------------------------------


def load_batches(cfg: ProfileConfig, device: torch.device) -> list[torch.Tensor]:
    """`num_batches` input batches of `batch_size`, the same for every model (a paired comparison)."""
    count = cfg.batch_size * cfg.num_batches
    generator = torch.Generator().manual_seed(cfg.seed)
    if cfg.data == "gaussian":
        inputs = torch.randn(count, *cfg.input_shape, generator=generator)
    elif cfg.data in ("digits", "cifar10"):
        if cfg.data == "digits":
            train, _ = load_digits_dataset(seed=cfg.seed)
        else:
            from naslid.data import default_cifar10_path

            # no path: where every command looks ($NASLID_CIFAR10, ~/.cache/naslid/cifar10, ../shared/data/cifar10)
            path = cfg.data_path or default_cifar10_path()
            train, _ = load_cifar10(path, train_limit=count, test_limit=1, seed=cfg.seed)
        _check_count(len(train), count, cfg.data)
        order = torch.randperm(len(train), generator=generator)[:count]
        inputs = normalize_images(train.images[order], train.mean, train.std)
    elif cfg.data == "imagefolder":
        if not cfg.data_path:
            raise ValueError("data 'imagefolder' needs data_path (--data-path): ROOT with train/CLASS/*.jpg")
        train, _ = load_image_folder(cfg.data_path, resolution=cfg.input_shape[-1])
        _check_count(len(train), count, cfg.data)
        chosen = train.subset(torch.randperm(len(train), generator=generator)[:count])
        loader = StreamingLoader(chosen, cfg.batch_size, shuffle=False, drop_last=False)  # the evaluation crop
        inputs = torch.cat([images for images, _ in loader.eval_batches()])
    else:
        inputs = _read_tensor_file(Path(cfg.data))
        _check_count(len(inputs), count, cfg.data)
        inputs = inputs[torch.randperm(len(inputs), generator=generator)[:count]]
    return [chunk.to(device) for chunk in inputs.split(cfg.batch_size)]


def _check_count(available: int, needed: int, source: str) -> None:
    if available < needed:
        raise ValueError(f"data {source!r} holds {available} inputs; batch_size x num_batches needs {needed}")


def _read_tensor_file(path: Path) -> torch.Tensor:
    if path.suffix not in (".pt", ".npy"):
        raise ValueError(f"data must be one of {list(DATA_SOURCES)} or a .pt / .npy tensor file; got {str(path)!r}")
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} not found")
    array = torch.load(path, map_location="cpu", weights_only=True) if path.suffix == ".pt" else np.load(path)
    tensor = torch.as_tensor(array)
    if tensor.ndim < 2:
        raise ValueError(f"{path}: expected a tensor of inputs N x ...; got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point() or tensor.dtype in (torch.uint8, torch.bool):
        return tensor.float()  # images: float32, as the models' weights; uint8 pixels unscaled, as before
    if tensor.is_complex():
        raise ValueError(f"{path}: complex inputs ({tensor.dtype}) are not supported")
    return tensor  # integer token ids, fed as they are (an embedding needs them integer)


# --- models -------------------------------------------------------------------------------------------


def build_model(spec: str, checkpoint: str | None, cfg: ProfileConfig, in_channels: int = 3) -> ProfileModel:
    """The model a spec names (see the module docstring), with `checkpoint` loaded when given."""
    family, separator, rest = spec.partition(":")
    if not separator or not rest:
        raise ValueError(
            f"model spec {spec!r} is not understood; expected 'nb201:<arch string>', 'torchvision:<name>', "
            "'path/to/file.py:factory' or 'package.module:factory'"
        )
    if family == "nb201":
        return _nb201_model(spec, parse_arch(rest), checkpoint, cfg, in_channels)
    if family == "torchvision":
        model = _seeded(cfg.seed, lambda: _torchvision_model(rest, cfg.num_classes))
        label = rest
        fresh = _untrained_note(f"torchvision {rest}", cfg.seed)
    else:
        target, _, factory = spec.rpartition(":")
        model = _seeded(cfg.seed, lambda: _user_model(target, factory))
        label = f"{Path(target).stem if target.endswith('.py') else target}:{factory}"
        fresh = (f"no checkpoint loaded: the weights are those {label}() built, untrained unless it loads "
                 "weights itself")
    if checkpoint is not None:
        try:
            model.load_state_dict(_state_dict(_read_checkpoint(checkpoint), checkpoint))
        except RuntimeError as error:
            raise ValueError(f"checkpoint {checkpoint} does not fit model {spec!r} "
                             f"({str(error).splitlines()[0]})") from None
    return ProfileModel(spec=spec, label=label, model=model, notes=[] if checkpoint is not None else [fresh])


def _untrained_note(what: str, seed: int) -> str:
    return (f"untrained: {what} is freshly initialised (seed {seed}), no checkpoint loaded; its profile shows the "
            "initialisation, not learned features")


def nb201_label(arch: NB201Arch) -> str:
    """A short legend label for an NB201 arch: the official string with short op names."""
    text = format_arch(arch)
    for name, short in _SHORT_OPS.items():
        text = text.replace(name, short)
    return text


def _nb201_model(spec: str, arch: NB201Arch, checkpoint: str | None, cfg: ProfileConfig,
                 in_channels: int) -> ProfileModel:
    label = nb201_label(arch)
    if checkpoint is None:
        config = NB201Config(num_classes=cfg.num_classes, in_channels=in_channels)
        model = _seeded(cfg.seed, lambda: NB201Network(arch, config=config))
        return ProfileModel(spec=spec, label=label, model=model, layers=_cell_layers(model),
                            notes=[_untrained_note(f"NB201 network {label}", cfg.seed)])
    state = _read_checkpoint(checkpoint)
    config = _nb201_config(state, checkpoint)  # the network's shape comes from the checkpoint itself
    if config.in_channels != in_channels:
        raise ValueError(f"checkpoint {checkpoint} was trained on {config.in_channels}-channel inputs, but the "
                         f"{cfg.data} data has {in_channels} channels; choose data with {config.in_channels}")
    supernet = NB201SuperNet(config=config)
    try:
        supernet.load_state_dict(_state_dict(state, checkpoint))
    except RuntimeError as error:
        raise ValueError(f"checkpoint {checkpoint} does not fit the network of its own model_config "
                         f"({str(error).splitlines()[0]})") from None

    def forward(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return model(batch, arch)

    return ProfileModel(spec=spec, label=label, model=supernet, forward=forward, layers=_cell_layers(supernet))


def _cell_layers(model: nn.Module) -> list[str]:
    """Module names of every cell and reduction block of an NB201 network (17 for N = 5, 5 for N = 1)."""
    return [f"cells.{index}" for index in range(len(model.cells))]


def _nb201_config(state: Any, checkpoint: str) -> NB201Config:
    """The NB201Config stored in a naslid checkpoint (its 'model_config')."""
    saved_config = (state.get("model_config") or state.get("config")) if isinstance(state, dict) else None
    if not isinstance(saved_config, dict) or not saved_config:
        raise ValueError(f"checkpoint {checkpoint} has no 'model_config' dict; is it an NB201 supernet checkpoint?")
    try:
        return NB201Config(**saved_config)
    except TypeError:
        raise ValueError(f"checkpoint {checkpoint}: model_config {saved_config} is not an NB201 config") from None


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with a seeded initialisation, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _torchvision_model(name: str, num_classes: int) -> nn.Module:
    try:
        import torchvision
    except Exception as error:  # ImportError, or a build that fails to load against this torch
        raise ValueError(
            f"torchvision models need torchvision, which is not importable here ({type(error).__name__}: "
            f"{error}); install the torchvision build that matches torch {torch.__version__}"
        ) from None
    known = torchvision.models.list_models(module=torchvision.models)  # the classification models
    if name not in known:
        raise ValueError(f"torchvision has no classification model {name!r}; known: {', '.join(sorted(known))}")
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def _user_model(target: str, factory: str) -> nn.Module:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} not found")
        module_spec = importlib.util.spec_from_file_location(f"naslid_user_model_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        try:
            module_spec.loader.exec_module(module)
        except SyntaxError as error:
            raise ValueError(f"model file {path} has a syntax error at line {error.lineno}: {error.msg}") from None
        except Exception as error:  # the user's module failed while importing
            raise ValueError(f"model file {path} failed to import: {type(error).__name__}: {error}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise ValueError(f"cannot import module {target!r} for the model spec ({error})") from None
    build = getattr(module, factory, None)
    if not callable(build):
        names = sorted(name for name in vars(module) if not name.startswith("_") and callable(vars(module)[name]))
        raise ValueError(f"{target} has no callable {factory!r}; callables there: {names}")
    try:
        model = build()
    except Exception as error:  # the user's factory failed
        if is_out_of_memory(error):
            raise  # named by the caller, with the sizes
        raise ValueError(f"{target}:{factory}() failed: {type(error).__name__}: {error}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{target}:{factory}() returned {type(model).__name__}; expected a torch.nn.Module")
    return model


def _read_checkpoint(path: str) -> Any:
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise ValueError(f"checkpoint {path} could not be read ({error})") from None


def _state_dict(state: Any, path: str) -> dict:
    """The model weights in a checkpoint: its 'model' or 'state_dict' entry, or the dict itself."""
    weights = None
    if isinstance(state, nn.Module):
        weights = state.state_dict()
    elif isinstance(state, dict):
        for key in ("model", "state_dict"):
            if isinstance(state.get(key), dict):
                weights = state[key]
                break
        if weights is None and state and all(isinstance(value, torch.Tensor) for value in state.values()):
            weights = state
    if weights is not None:
        bad = non_finite_tensors(weights)
        if bad:
            raise ValueError(f"checkpoint {path} holds non-finite weights ({', '.join(bad[:3])}); it comes from a "
                             "diverged run")
        return weights
    raise ValueError(f"checkpoint {path} holds no state_dict (looked for 'model', 'state_dict' or a tensor dict)")


# --- plot ---------------------------------------------------------------------------------------------


def plot_profiles(profiles: Sequence[LIDProfile], path: str | Path, title: str = "") -> Path:
    """LID per layer for each profile (mean line, band of +- one std), the layer names on the x axis, as PNG;
    models with other layers than the first get their own panel (`naslid.runs.plots.profiles_figure`)."""
    from naslid.runs.plots import profiles_figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = profiles_figure(profiles, title)
    write_with(path, lambda handle: figure.savefig(handle, format=path.suffix[1:] or None, dpi=120))
    return path
