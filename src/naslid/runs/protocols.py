"""Published training protocols as data, the compared methods bound to them, and the scales they run at.

A `Protocol` is a named list of settings of a `RunConfig` (data and split, batch, optimizer, learning-rate
schedule and its stepping, weight decay, clipping, initialisation, augmentation, BN, off-path gradients, path
sampler, split schedule, leaf start, LID measurement, similarity, edge rule, proxy, search), each with the place
it comes from: a file of a reference repository, or "ours" with the reason. A `Method` (spos, few-shot, gm-nas,
nas-lid, random-split) is the few settings that make the method (its schedule kind and split criterion) and the
protocol its own paper's code ran. A `Scale` shrinks any protocol to a machine: the image side, the supernet's
width and depth, and every epoch count in proportion, so a protocol that runs for days on a GPU can be run
beside ours on a laptop.

Repositories cited: `marsggbo/NAS-LID` (the NAS-LID authors' release, built on `marsggbo/hyperbox`),
`skhu101/GM-NAS` (its NB201 code in `WS-GM/nasbench201`) and `aoiang/few-shot-NAS` (its NB201 code in
`Few-Shot_NasBench201`); `../shared/REFERENCE-PROTOCOLS.md` reads them side by side.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from naslid.rankers import get_ranker, is_ranker
from naslid.registry import register
from naslid.runs.config import RunConfig

SECTIONS = ("data", "network", "train", "schedule", "split", "proxy", "search")


@dataclass(frozen=True)
class Setting:
    """One configuration value and where it comes from."""

    field: str  # "<section>.<name>" of a RunConfig, e.g. "train.learning_rate"
    value: Any
    source: str  # "<repository> <path> (<key>)" for a reference's value; "ours: <why>" for a value we chose

    def to_json(self) -> dict:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "value": value, "source": self.source}


def apply_settings(config: RunConfig, settings: tuple[Setting, ...], owner: str) -> RunConfig:
    """`config` with `settings` applied (later settings win); a field the config lacks names `owner`."""
    sections: dict[str, dict[str, Any]] = {}
    for setting in settings:
        section, _, name = setting.field.partition(".")
        if section not in SECTIONS or not name:
            raise ValueError(f"{owner}: setting {setting.field!r} is not '<section>.<field>' with a section of "
                             f"{list(SECTIONS)}")
        sections.setdefault(section, {})[name] = setting.value
    changed = {}
    for section, values in sections.items():
        current = getattr(config, section)
        known = {item.name for item in fields(current)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{owner} sets {', '.join(f'{section}.{n}' for n in unknown)}, which the "
                             f"{config.search_space} space's configuration has not")
        changed[section] = replace(current, **values)
    return replace(config, **changed)  # at once: the sections are checked against each other as a whole


@dataclass(frozen=True)
class Protocol:
    """A named, complete training and ranking protocol."""

    name: str
    description: str
    settings: tuple[Setting, ...]
    # what the protocol does that naslid does not reproduce, stated wherever the protocol is reported
    differences: tuple[str, ...] = ()

    def apply(self, config: RunConfig) -> RunConfig:
        return apply_settings(config, self.settings, f"protocol {self.name!r}")

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description,
                "settings": [s.to_json() for s in self.settings], "differences": list(self.differences)}


# the commits read (every path below is inside these): NAS-LID 4946580 (2022-12-20); hyperbox c4cdf95
# (2022-12-12, the last before the NAS-LID release, which pins no hyperbox version); GM-NAS a69837d;
# few-shot-NAS ec366c1
_APP = "marsggbo/NAS-LID hyperbox_app/hyperbox_app/distributed"
_EXPERIMENT = f"{_APP}/configs/experiment/fewshot_search_nb201.yaml"
_SEARCH = f"{_APP}/engine/fewshot_search.py"
_MODEL = f"{_APP}/models/random_model.py"
_EA = f"{_APP}/scripts/fewshot/ea_search_cfgs/config.yaml"
_HYPERBOX = "marsggbo/hyperbox@c4cdf95"
_CIFAR = f"{_HYPERBOX} hyperbox/datamodules/cifar_datamodule.py"
_GMNAS = "skhu101/GM-NAS WS-GM/nasbench201"
_GM_TRAIN = f"{_GMNAS}/train_search.py"
_FEWSHOT = "aoiang/few-shot-NAS Few-Shot_NasBench201"
_FS_CONFIG = f"{_FEWSHOT}/configs/nas-benchmark/algos/FEW-SHOT-SUPERNET.config"
_FS_TRAIN = f"{_FEWSHOT}/exps/supernet/few-shot-supernet_train.py"
_FS_EVAL = f"{_FEWSHOT}/exps/supernet/few-shot-supernet_eval.py"
_EVAL_MODE = ("eval mode: the cells' untracked BNs normalise each batch with its own statistics, the stem's, "
              "head's and reduction blocks' with their running ones")

NAS_LID_RELEASE = Protocol(
    "nas-lid-release",
    "the NAS-LID authors' released NB201 configuration (few-shot split search): full 50k training set, "
    "batch 64, lr 0.001 cosine (T_max 180) stepped per epoch, 16 leaves retrained from scratch for 10 epochs, "
    "cosine LID similarity, the largest-cross-similarity edge, proxy on the test set with running BN statistics",
    (
        Setting("data.valid_fraction", 0.0, f"{_CIFAR} (the full 50k training set; its 'val' set is the test set)"),
        Setting("data.crop_padding", 4, f"{_CIFAR} (RandomCrop(32, padding=4))"),
        Setting("data.horizontal_flip", True, f"{_CIFAR} (RandomHorizontalFlip())"),
        Setting("data.rotation", 15.0, f"{_CIFAR} (RandomRotation(15))"),
        Setting("data.cutout", 0, f"{_CIFAR} (use_cutout False; the yaml's cutout entry is never used)"),
        Setting("network.affine", True, f"{_APP}/configs/model/network_cfg/nb201.yaml (bn_affine: True)"),
        Setting("network.track_running_stats", True, f"{_APP}/configs/model/network_cfg/nb201.yaml "
                "(bn_track_running_stats: True)"),
        Setting("train.batch_size", 64, f"{_EXPERIMENT} (datamodule batch_size: 64)"),
        Setting("train.learning_rate", 0.001, f"{_EXPERIMENT} (optimizer lr: 0.001)"),
        Setting("train.momentum", 0.9, f"{_EXPERIMENT} (optimizer momentum: 0.9)"),
        Setting("train.nesterov", True, f"{_EXPERIMENT} (optimizer nesterov: True)"),
        Setting("train.weight_decay", 5e-4, f"{_EXPERIMENT} (optimizer weight_decay: 0.0005)"),
        Setting("train.min_learning_rate", 1e-4, f"{_HYPERBOX} hyperbox/configs/model/scheduler_cfg/"
                "CosineAnnealingLR.yaml (eta_min: 1e-4)"),
        Setting("train.lr_period_epochs", 180.0, f"{_HYPERBOX} hyperbox/configs/model/scheduler_cfg/"
                "CosineAnnealingLR.yaml (T_max: 180)"),
        Setting("train.lr_stepping", "epoch", f"{_MODEL} (lr_schedulers().step() once per epoch)"),
        Setting("train.warmup_epochs", 0.0, f"{_EXPERIMENT} (no warm-up)"),
        Setting("train.grad_clip", 0.0, f"{_MODEL} (backward, then opt.step(): no clipping)"),
        Setting("train.label_smoothing", 0.0, f"{_MODEL} (cross-entropy)"),
        Setting("train.precision", "fp32", f"{_HYPERBOX} hyperbox/configs/trainer/default.yaml (precision 16 "
                "commented out)"),
        Setting("train.init", "kaiming-normal", f"{_HYPERBOX} hyperbox/networks/base_nas_network.py (init_weights: "
                "kaiming_normal_ on conv and linear weights, BN weight 1 and bias 0; removed in hyperbox e84c39a, "
                "2023-04)"),
        Setting("train.off_path_gradients", "zero", f"{_MODEL} (opt.zero_grad(set_to_none=False): off-path weights "
                "keep zero gradients, so weight decay and momentum act on them)"),
        Setting("train.path_sampler", "no-repeat", f"{_APP}/mutator/fewshot_mutator.py (candidates exclude the "
                "previous op of each edge)"),
        Setting("schedule.split_epochs", (20, 40, 60, 80), f"{_EXPERIMENT} (warmup_epochs: [20,40,60,80])"),
        Setting("schedule.finetune_epochs", 10, f"{_EXPERIMENT} (finetune_epoch: 10)"),
        Setting("schedule.finetune", "restart", f"{_SEARCH} (load_from_parent=False: each leaf a freshly built, "
                "kaiming-initialised model with a new optimizer)"),
        Setting("split.similarity", "cosine", f"{_SEARCH} (similarity default 'cos', per batch, averaged over the "
                "batches; not overridden by the yaml)"),
        Setting("split.edge_score", "max-cross", f"{_SEARCH} (mincut, the README's command: the edge with the "
                "largest total - best intra similarity)"),
        Setting("split.batches", 50, f"{_EXPERIMENT} (repeat_num: 50)"),
        Setting("split.batch_size", 128, f"{_SEARCH} (datamodule_cfg.batch_size = 128)"),
        Setting("split.k", 20, f"{_SEARCH} (MLE with k = 20, self excluded)"),
        Setting("split.measurement_batches", "per-point", f"{_SEARCH} (a new pass over the loader for every edge)"),
        Setting("split.measurement_augment", True, f"{_SEARCH} (the augmented, shuffled training loader)"),
        Setting("split.measurement_paths", "per-point", f"{_SEARCH} (a fresh random path per edge and batch, "
                "shared by the edge's ops)"),
        Setting("split.bn_mode", "batch", f"{_SEARCH} (no .eval(): BN in train mode while measuring)"),
        Setting("proxy.split", "test", f"{_APP}/engine/ea_search.py (trainer.validate; the datamodule's 'val' set "
                "is CIFAR-10's test set)"),
        Setting("proxy.batchnorm", "running", f"{_MODEL} (reset_running_statistics commented out: eval mode with "
                "the running statistics of training)"),
        Setting("proxy.evaluation_images", None, f"{_APP}/scripts/fewshot/ea_search.sh (limit_val_batches=1.0 in "
                "the README's command: the whole test set)"),
        Setting("proxy.precision", "fp32", f"{_HYPERBOX} hyperbox/configs/trainer/default.yaml (32-bit)"),
        Setting("search.population_size", 50, f"{_EA} (population: 50)"),
        Setting("search.generations", 100, "marsggbo/NAS-LID README (the EA command's 100 generations; the config "
                "file says 50)"),
        Setting("search.budget", None, "ours: the generations bound the search, as in the release"),
        Setting("search.num_parents", 10, f"{_EA} (selection_num: 0.2 of 50)"),
        Setting("search.num_mutations", 20, f"{_EA} (mutation_num: 0.4 of 50)"),
        Setting("search.num_crossovers", 20, f"{_EA} (crossover_num: 0.4 of 50)"),
        Setting("search.mutation_probability", 0.1, f"{_EA} (mutation_prob: 0.1)"),
    ),
    differences=(
        "the release measures LID with BN in train mode and leaves the running statistics changed; naslid "
        "restores them after every measurement (measuring never changes the model)",
        "the release's LID measurement overwrites the sampler's previous path; naslid's measurement leaves the "
        "training sampler alone",
        "the release normalises with fixed constants (mean 0.4914, 0.4822, 0.4465; std 0.2023, 0.1994, 0.2010); "
        "naslid with the training images' own statistics",
        "the release scores the proxy in batches of 64; naslid in batches of 500 (equal results: running statistics)",
    ),
)

GM_NAS = Protocol(
    "gm-nas",
    "GM-NAS's NB201 code (RSPS supernet, the README's command): 25k/25k split, batch 48, SGD 0.025 cosine over 90 "
    "epochs per epoch, weight decay 1e-4, clipping 5, cell BN without affine or running statistics, splits at "
    "epochs 20 and 40 into 4 sub-supernets re-initialised with a fresh optimizer and schedule and trained 50 epochs",
    (
        Setting("data.valid_fraction", 0.5, f"{_GM_TRAIN} (train_portion 0.5: 25k/25k)"),
        Setting("data.crop_padding", 4, f"{_GMNAS}/utils.py (RandomCrop(32, padding=4))"),
        Setting("data.horizontal_flip", True, f"{_GMNAS}/utils.py (RandomHorizontalFlip())"),
        Setting("data.rotation", 0.0, f"{_GMNAS}/utils.py (no rotation)"),
        Setting("data.cutout", 0, f"{_GMNAS}/utils.py (no cutout)"),
        Setting("network.affine", False, f"{_GMNAS}/search_model_ws_rsws.py (cell BN affine=False)"),
        Setting("network.track_running_stats", False, f"{_GM_TRAIN} (cell BN track_running_stats=False)"),
        Setting("train.batch_size", 48, f"{_GM_TRAIN} (--fs_opt 1: args.batch_size = 48)"),
        Setting("train.learning_rate", 0.025, f"{_GM_TRAIN} (learning_rate default 0.025)"),
        Setting("train.min_learning_rate", 0.001, f"{_GM_TRAIN} (learning_rate_min default 0.001)"),
        Setting("train.lr_period_epochs", 90.0, f"{_GM_TRAIN} (CosineAnnealingLR T_max = 40 + 50 epochs, also for "
                "the re-initialised sub-supernets: their rate ends near 0.011)"),
        Setting("train.lr_stepping", "epoch", f"{_GM_TRAIN} (scheduler.step() once per epoch)"),
        Setting("train.momentum", 0.9, f"{_GM_TRAIN} (momentum 0.9)"),
        Setting("train.nesterov", True, f"{_GM_TRAIN} (--fs_opt 1: args.nesterov = True)"),
        Setting("train.weight_decay", 1e-4, f"{_GM_TRAIN} (supernet_train 'rsws': args.weight_decay = 1e-4)"),
        Setting("train.grad_clip", 5.0, f"{_GMNAS}/search_model.py (clip_grad_norm_ with grad_clip 5)"),
        Setting("train.warmup_epochs", 0.0, f"{_GM_TRAIN} (no warm-up)"),
        Setting("train.label_smoothing", 0.0, f"{_GM_TRAIN} (cross-entropy)"),
        Setting("train.precision", "fp32", f"{_GM_TRAIN} (no autocast)"),
        Setting("train.init", "default", f"{_GMNAS}/search_model.py (no init calls: PyTorch's)"),
        Setting("train.off_path_gradients", "zero", f"{_GM_TRAIN} (optimizer.zero_grad(), which zeroes gradients "
                "under the torch < 2.0 it was written for)"),
        Setting("train.path_sampler", "uniform", f"{_GM_TRAIN} (a uniform random path per step)"),
        Setting("schedule.split_epochs", (20, 40), f"{_GMNAS}/../README.md (--split_ckpts 20,40)"),
        Setting("schedule.finetune_epochs", 50, f"{_GMNAS}/../README.md (--projection_warmup_epoch 50)"),
        Setting("schedule.finetune", "restart", f"{_GM_TRAIN} (--restart final: at the last split a new model, "
                "optimizer and scheduler; at epoch 20 the children inherit all three)"),
        Setting("split.gradient_batches", 100, f"{_GM_TRAIN} (repeat = 100)"),
        Setting("split.batch_size", 48, f"{_GM_TRAIN} (one training batch of 48 per repeat)"),
        Setting("split.measurement_augment", True, f"{_GM_TRAIN} (batches of the augmented training queue)"),
        Setting("split.bn_mode", "batch", f"{_GM_TRAIN} (gradients taken in train mode)"),
        Setting("proxy.split", "valid", f"{_GMNAS}/projection.py (infer on the 25k valid half)"),
        Setting("proxy.batchnorm", "running", f"{_GMNAS}/projection.py (model.eval(): {_EVAL_MODE})"),
        Setting("proxy.precision", "fp32", f"{_GMNAS}/projection.py (no autocast)"),
    ),
    differences=(
        "GM-NAS draws each step's batch with next(iter(train_queue)) (with replacement across steps); naslid "
        "passes over the shuffled data once per epoch",
        "GM-NAS scores in batches of 48, naslid in batches of 500: the cells' BNs normalise with batch statistics, "
        "so the batch size changes the scores slightly",
        "GM-NAS normalises with fixed constants (mean 0.4914, 0.4822, 0.4465; std 0.2470, 0.2435, 0.2616); naslid "
        "with the training images' own statistics",
    ),
)

FEW_SHOT_NAS = Protocol(
    "few-shot-nas",
    "Few-shot NAS's NB201 code: full 50k training set, batch 48, SGD 0.025 -> 0.001 cosine, weight decay 1e-4, "
    "no clipping, cell BN without affine or running statistics; a one-shot supernet of 600 epochs whose weights "
    "start one child per op of edge 1<-0, each trained 300 epochs with a fresh optimizer and cosine",
    (
        Setting("data.valid_fraction", 0.0, f"{_FS_TRAIN} (assert len(train_data) == 50000: the full training set)"),
        Setting("data.crop_padding", 4, f"{_FEWSHOT}/few-shot-nas-lib/datasets/get_dataset_with_transform.py "
                "(RandomCrop(32, padding=4))"),
        Setting("data.horizontal_flip", True, f"{_FEWSHOT}/few-shot-nas-lib/datasets/get_dataset_with_transform.py "
                "(RandomHorizontalFlip())"),
        Setting("data.rotation", 0.0, f"{_FEWSHOT}/few-shot-nas-lib/datasets/get_dataset_with_transform.py "
                "(no rotation)"),
        Setting("data.cutout", 0, f"{_FEWSHOT}/few-shot-nas-lib/datasets/get_dataset_with_transform.py (no cutout)"),
        Setting("network.affine", False, f"{_FS_TRAIN} (cell BN 'affine': False)"),
        Setting("network.track_running_stats", False, f"{_FEWSHOT}/supernet/README.md (--track_running_stats 0)"),
        Setting("train.batch_size", 48, f"{_FS_CONFIG} (batch_size 48)"),
        Setting("train.learning_rate", 0.025, f"{_FS_CONFIG} (LR 0.025)"),
        Setting("train.min_learning_rate", 0.001, f"{_FS_CONFIG} (eta_min 0.001)"),
        Setting("train.lr_period_epochs", None, f"{_FEWSHOT}/few-shot-nas-lib/procedures/optimizers.py (T_max = "
                "epochs of each cycle)"),
        Setting("train.lr_stepping", "epoch", f"{_FEWSHOT}/few-shot-nas-lib/procedures/optimizers.py (updated every "
                "step, but get_lr reads only the epoch: constant within an epoch)"),
        Setting("train.momentum", 0.9, f"{_FS_CONFIG} (momentum 0.9)"),
        Setting("train.nesterov", True, f"{_FS_CONFIG} (nesterov)"),
        Setting("train.weight_decay", 1e-4, f"{_FS_CONFIG} (decay 0.0001)"),
        Setting("train.grad_clip", 0.0, f"{_FS_TRAIN} (no clipping)"),
        Setting("train.warmup_epochs", 0.0, f"{_FS_CONFIG} (no warm-up)"),
        Setting("train.label_smoothing", 0.0, f"{_FS_TRAIN} (cross-entropy)"),
        Setting("train.precision", "fp32", f"{_FS_TRAIN} (no autocast)"),
        Setting("train.init", "default", f"{_FEWSHOT} (no init calls: PyTorch's)"),
        Setting("train.off_path_gradients", "zero", f"{_FS_TRAIN} (network.zero_grad(), which zeroes gradients "
                "under the torch < 2.0 it was written for)"),
        Setting("train.path_sampler", "uniform", f"{_FEWSHOT}/few-shot-nas-lib/models/cell_searchs/rank_model.py "
                "(random.choice over the architectures)"),
        Setting("schedule.split_epochs", (600,), f"{_FEWSHOT}/configs/nas-benchmark/algos/ONE-SHOT-SUPERNET.config "
                "(epochs 600)"),
        Setting("schedule.finetune_epochs", 300, f"{_FS_CONFIG} (epochs 300)"),
        Setting("schedule.finetune", "transfer", f"{_FS_TRAIN} (the one-shot weights loaded; optimizer and "
                "scheduler state loading commented out, start epoch 0)"),
        Setting("schedule.fewshot_edge", 0, f"{_FS_TRAIN} (--edge_to_split default 0: edge 1<-0)"),
        Setting("proxy.split", "test", f"{_FS_EVAL} (valid_loader over CIFAR-10's test set)"),
        Setting("proxy.batchnorm", "running", f"{_FS_EVAL} (network.eval(): {_EVAL_MODE})"),
        Setting("proxy.precision", "fp32", f"{_FS_EVAL} (no autocast)"),
    ),
    differences=(
        "Few-shot NAS samples an architecture per cell at every forward pass (rank_model.py); naslid's supernet "
        "runs one architecture in every cell, as NB201 defines it",
        "the one-shot supernet's optimizer values are taken equal to the children's (FEW-SHOT-SUPERNET.config); "
        "only its 600 epochs were read from ONE-SHOT-SUPERNET.config",
        "Few-shot NAS scores in batches of 48, naslid in batches of 500: the cells' BNs normalise with batch "
        "statistics, so the batch size changes the scores slightly",
        "Few-shot NAS normalises with fixed constants (mean 125.3, 123.0, 113.9; std 63.0, 62.1, 66.7, over 255); "
        "naslid with the training images' own statistics",
    ),
)

PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol, *, replace: bool = False) -> Protocol:
    """Add `protocol` under its `name`: `--protocol NAME`, `get_protocol` and method variants' `protocol=NAME`.
    A name registered already with another protocol is a ValueError unless `replace`."""
    register(PROTOCOLS, protocol.name, protocol, replace=replace, kind="protocol")
    return protocol


for _protocol in (NAS_LID_RELEASE, GM_NAS, FEW_SHOT_NAS):
    register_protocol(_protocol)


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}") from None


_METHOD_COLOURS = (0, 1, 2, 4, 5, 6, 8, 9)  # tab10 slots a method may take: 3 and 7 are the figures' own


@dataclass(frozen=True)
class Method:
    """A compared method: the settings that make it, and the protocol its own paper's code ran."""

    name: str
    description: str
    settings: tuple[Setting, ...]
    own_protocol: str
    colour: int | None = None  # its tab10 slot in every figure (3 and 7 are taken); None: a spare one by its name

    def __post_init__(self) -> None:
        if self.colour is not None and self.colour not in _METHOD_COLOURS:
            raise ValueError(f"method {self.name!r}: colour={self.colour!r}; expected a tab10 slot of "
                             f"{list(_METHOD_COLOURS)} (3 is the zero line's, 7 the shared root's) or None")

    def configure(self, config: RunConfig) -> RunConfig:
        return apply_settings(config, self.settings, f"method {self.name!r}")


METHODS: dict[str, Method] = {}


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add `method` under its `name`: `naslid compare --methods NAME`, `naslid partition --method NAME`. A name
    registered already with another method is a ValueError unless `replace`."""
    register(METHODS, method.name, method, replace=replace, kind="method")
    return method


for _method in (
    Method("spos", "single-path one-shot: one supernet, no split",
           (Setting("schedule.method", "spos", "Guo et al. 2020 (SPOS)"),),
           # SPOS publishes no NB201 protocol; its supernet is trained as the NAS-LID release trains its root
           own_protocol="nas-lid-release", colour=0),
    Method("few-shot", "Few-shot NAS: one child per op of one edge",
           (Setting("schedule.method", "few-shot", "Zhao et al. 2021 (Few-shot NAS)"),),
           own_protocol="few-shot-nas", colour=1),
    Method("gm-nas", "GM-NAS: two-way splits by the cosine of the cells' gradients, the edge whose groups differ most",
           (Setting("schedule.method", "split", "Hu et al. 2022 (GM-NAS)"),
            Setting("split.criterion", "gradient", f"{_GMNAS}/utils.py (1 - cosine of the concatenated gradients)"),
            Setting("split.edge_score", "min-cross", f"{_GMNAS}/utils.py (the edge with the largest cross-group "
                    "distance)"),
            Setting("split.gradient_parameters", "reference", f"{_GMNAS}/search_model_ws.py (get_split_gradients on "
                    "NB201: the cells' other edges and the two reduction blocks); skhu101/GM-NAS "
                    "Proxylessnas-GM/search/models/super_nets/super_proxyless.py and once-for-all-GM/elastic_nn/"
                    "networks/ofa_mbv3.py (MobileNet spaces: stem, every other block, head and classifier)")),
           own_protocol="gm-nas", colour=4),
    Method("nas-lid", "NAS-LID: two-way splits by the similarity of layer-wise LID profiles",
           (Setting("schedule.method", "split", "He et al. 2023 (NAS-LID)"),
            Setting("split.criterion", "lid", "He et al. 2023 (NAS-LID)")),
           own_protocol="nas-lid-release", colour=2),
    Method("random-split", "the control: NAS-LID's schedule with random edges and groups",
           (Setting("schedule.method", "split", "ours: the control"),
            Setting("split.criterion", "random", "ours: the control")),
           own_protocol="nas-lid-release", colour=5),
):
    register_method(_method)


def method_splitting_by(criterion: str) -> str | None:
    """The first registered method that splits by `criterion` (its settings set `split.criterion` to it), if any."""
    for method in METHODS.values():
        if any(s.field == "split.criterion" and s.value == criterion for s in method.settings):
            return method.name
    return None


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {list(METHODS)}") from None


@dataclass(frozen=True)
class Scale:
    """A machine's size for any protocol: data and network sizes, and every epoch count in proportion."""

    name: str
    description: str
    settings: tuple[Setting, ...] = ()
    path_epochs: int | None = None  # root-to-leaf epochs after scaling (None: the protocol's own)

    def apply(self, config: RunConfig) -> RunConfig:
        if self.path_epochs is not None:
            config = scale_epochs(config, self.path_epochs)
        return apply_settings(config, self.settings, f"scale {self.name!r}")

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "path_epochs": self.path_epochs,
                "settings": [s.to_json() for s in self.settings]}


def scale_epochs(config: RunConfig, path_epochs: int) -> RunConfig:
    """`config` with its split epochs, fine-tuning epochs, cosine period and warm-up multiplied by
    `path_epochs / total_epochs` (rounded; split epochs kept strictly increasing and >= 1; a positive
    fine-tuning count stays >= 1)."""
    schedule, train = config.schedule, config.train
    factor = path_epochs / schedule.total_epochs
    splits: list[int] = []
    for epoch in schedule.split_epochs:
        splits.append(max(round(epoch * factor), splits[-1] + 1 if splits else 1))
    finetune = max(round(schedule.finetune_epochs * factor), 1) if schedule.finetune_epochs else 0
    period = None if train.lr_period_epochs is None else train.lr_period_epochs * factor
    return replace(config, schedule=replace(schedule, split_epochs=tuple(splits), finetune_epochs=finetune),
                   train=replace(train, lr_period_epochs=period, warmup_epochs=train.warmup_epochs * factor))


_CPU_SEARCH = (
    Setting("search.population_size", 20, "ours: the cpu preset's search"),
    Setting("search.generations", 10, "ours: the cpu preset's search"),
    Setting("search.budget", 200, "ours: the cpu preset's search"),
    Setting("search.num_parents", 5, "ours: the cpu preset's search"),
    Setting("search.num_mutations", 10, "ours: the cpu preset's search"),
    Setting("search.num_crossovers", 10, "ours: the cpu preset's search"),
)

SCALES: dict[str, Scale] = {}


def register_scale(scale: Scale, *, replace: bool = False) -> Scale:
    """Add `scale` under its `name`: `--scale NAME` and `get_scale`. A name registered already with another scale is a
    ValueError unless `replace`."""
    register(SCALES, scale.name, scale, replace=replace, kind="scale")
    return scale


for _scale in (
    Scale("full", "the protocol as published: every size and epoch count its own"),
    Scale("cpu", "the cpu preset's size: CIFAR-10 average-pooled to 16x16 (crop padding 2), C=8 N=1, the "
          "root-to-leaf schedule shrunk to 35 epochs in proportion, proxy on 1,000 images, a 200-evaluation search",
          (Setting("data.resolution", 16, "ours: the cpu preset"),
           Setting("data.crop_padding", 2, "ours: pad 4 at 32 pixels, halved with the image"),
           Setting("network.channels", 8, "ours: the cpu preset"),
           Setting("network.cells_per_stage", 1, "ours: the cpu preset"),
           Setting("proxy.evaluation_images", 1000, "ours: the cpu preset"),
           *_CPU_SEARCH),
          path_epochs=35),
    Scale("tiny", "the tiny preset's size: the bundled 8x8 digits, C=8 N=1, the schedule shrunk to 4 epochs, "
          "2 measurement batches: a pipeline check whose rankings mean nothing",
          (Setting("data.dataset", "digits", "ours: the tiny preset"),
           Setting("data.path", None, "ours: the digits are bundled"),
           Setting("data.resolution", None, "ours: the digits' own 8x8"),
           Setting("data.crop_padding", 1, "ours: the tiny preset"),
           Setting("data.horizontal_flip", False, "ours: digits are not mirror-symmetric"),
           Setting("network.channels", 8, "ours: the tiny preset"),
           Setting("network.cells_per_stage", 1, "ours: the tiny preset"),
           Setting("network.in_channels", 1, "ours: grey digits"),
           Setting("split.batches", 2, "ours: the tiny preset"),
           Setting("split.gradient_batches", 2, "ours: the tiny preset"),
           Setting("split.batch_size", 64, "ours: the tiny preset"),
           Setting("split.k", 10, "ours: the tiny preset"),
           Setting("proxy.calibration_batches", 2, "ours: the tiny preset"),
           Setting("proxy.evaluation_images", None, "ours: every held-out digit"),
           Setting("search.population_size", 20, "ours: the tiny preset"),
           Setting("search.generations", 10, "ours: the tiny preset"),
           Setting("search.budget", 100, "ours: the tiny preset"),
           Setting("search.num_parents", 5, "ours: the tiny preset"),
           Setting("search.num_mutations", 10, "ours: the tiny preset"),
           Setting("search.num_crossovers", 10, "ours: the tiny preset")),
          path_epochs=4),
):
    register_scale(_scale)


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; known: {sorted(SCALES)}") from None


PROTOCOL_CHOICES = ("common", "own")


def method_config(config: RunConfig, method: str, protocols: str = "common", scale: str = "full") -> RunConfig:
    """`config` set up for one compared method (a name, or a variant spelling: see `parse_method`).

    protocols="common": every method on `config`'s training (same data, seed and schedule), with only the
    settings that make the method; "own": the method's own paper's protocol replaces the training and ranking
    settings (the data location, device and seeds stay `config`'s), at `scale`.
    """
    variant = parse_method(method)
    if protocols not in PROTOCOL_CHOICES:
        raise ValueError(f"protocols={protocols!r}; expected one of {list(PROTOCOL_CHOICES)}")
    name = variant.protocol or (variant.method.own_protocol if protocols == "own" else None)
    if name is not None:
        config = get_scale(scale).apply(get_protocol(name).apply(config))
    return variant.configure(config)


def method_protocol_name(method: str, protocols: str, common: str) -> str:
    """The name of the protocol `method` (a spelling, variants included) runs under: its own, or `common`."""
    variant = parse_method(method)
    return variant.protocol or (variant.method.own_protocol if protocols == "own" else common)


# --- method variants: a method name with overrides, e.g. nas-lid[similarity=cosine,edge-score=max-cross] ---

_VARIANT_SECTIONS = ("split", "schedule", "train", "proxy", "data", "search", "network")


@dataclass(frozen=True)
class MethodVariant:
    """A compared method with overrides of its settings; `spelling` names it everywhere (folders, tables)."""

    spelling: str
    method: Method
    overrides: tuple[tuple[str, str], ...] = ()  # (key as written, value text), in the spelling's order
    protocol: str | None = None  # `protocol=NAME`: the published protocol this variant trains on

    @property
    def name(self) -> str:
        return self.spelling

    def settings_for(self, config: RunConfig) -> tuple[Setting, ...]:
        """The overrides as settings of `config`'s fields (values parsed by each field's type)."""
        return tuple(_variant_setting(self.spelling, key, text, config) for key, text in self.overrides
                     if key != "protocol")

    def configure(self, config: RunConfig) -> RunConfig:
        try:
            return apply_settings(self.method.configure(config), self.settings_for(config),
                                  f"method {self.spelling!r}")
        except ValueError as error:
            message = str(error)
            if message.startswith(f"method {self.spelling!r}") or message.startswith(f"{self.spelling}:"):
                raise
            raise ValueError(f"{self.spelling}: {message}") from None


def parse_method(spelling: str) -> MethodVariant:
    """`name` or `name[key=value,...]`: a registered method with overrides of any split, schedule, training,
    proxy, data or search field (`edge-score=max-cross`, `finetune=restart`, `split.batch-size=64`,
    `split-epochs=20:40` for a tuple, `none` for None, `on`/`off` for booleans) or `protocol=NAME`."""
    text = spelling.strip()
    if "[" not in text:
        if "]" in text or "=" in text:
            raise ValueError(f"method {spelling!r}: write overrides as name[key=value,...]")
        return MethodVariant(text, get_method(text))
    base, _, rest = text.partition("[")
    if not rest.endswith("]") or "[" in rest or "]" in rest[:-1]:
        raise ValueError(f"method {spelling!r}: write overrides as name[key=value,...] with one closing bracket")
    method = get_method(base.strip())
    overrides: list[tuple[str, str]] = []
    for item in rest[:-1].split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key or not value:
            raise ValueError(f"method {spelling!r}: override {item.strip()!r} is not key=value")
        if key in (k for k, _ in overrides):
            raise ValueError(f"method {spelling!r}: {key} is set twice")
        overrides.append((key, value))
    overrides = [(_canonical_key(spelling, key), value) for key, value in overrides]
    keys = [key for key, _ in overrides]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise ValueError(f"method {spelling!r}: {twice} is set twice")
    protocol = dict(overrides).get("protocol")
    if protocol is not None:
        get_protocol(protocol)  # an unknown name fails here
    canonical = f"{method.name}[{','.join(f'{k}={v}' for k, v in overrides)}]"
    return MethodVariant(canonical, method, tuple(overrides), protocol)


@functools.cache
def _reference_config() -> RunConfig:
    """The configuration whose fields variant keys are resolved against to spell them one way (NB201's network)."""
    return RunConfig()


def _canonical_key(spelling: str, key: str) -> str:
    """One spelling per setting, so that `nas-lid[split.k=5]` and `nas-lid[k=5]` are one method: the field's name
    with dashes, prefixed by its section only where the name alone is ambiguous. A key the reference configuration
    does not resolve (another space's network field) stays as written; the method's own configuration checks it."""
    if key == "protocol":
        return key
    try:
        section, name = _variant_field(spelling, key, _reference_config())
    except ValueError:
        return key
    short = name.replace("_", "-")
    sections = [s for s in _VARIANT_SECTIONS if name in {f.name for f in fields(getattr(_reference_config(), s))}]
    return short if sections == [section] else f"{section}.{short}"


def method_folder(method: str) -> str:
    """The folder a compared method's run lives in: its canonical spelling where that is a plain, short file name
    (every simple spelling, as before), else the method's name and a digest of the spelling, so that a variant
    value never becomes a path component (`spos[cache-dir=../../x]` is `spos-<12 hex digits>`)."""
    spelling = _spelling(method)  # a training-free ranker's folder follows the same rule
    if _PLAIN_FOLDER.fullmatch(spelling):
        return spelling
    return f"{spelling.partition('[')[0]}-{hashlib.sha256(spelling.encode()).hexdigest()[:12]}"


_PLAIN_FOLDER = re.compile(r"[A-Za-z0-9._=,:\[\]-]{1,100}")


def split_methods(text: str) -> tuple[str, ...]:
    """A comma-separated list of method spellings (commas inside brackets belong to a variant), normalised."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return tuple(_spelling(part) for part in parts if part.strip())


def _spelling(text: str) -> str:
    """A method's canonical spelling, or a training-free ranker's (`naslid.rankers`)."""
    return get_ranker(text).spelling if is_ranker(text) else parse_method(text).spelling


def _variant_field(spelling: str, key: str, config: RunConfig) -> tuple[str, str]:
    """The (section, field) a variant key names: `section.field` or a field name unique among the sections."""
    name = key.replace("-", "_")
    if "." in name:
        section, _, field_name = name.partition(".")
        if section not in _VARIANT_SECTIONS or field_name not in {f.name for f in fields(getattr(config, section))}:
            raise ValueError(f"{spelling}: unknown setting {key!r}; expected a field of {list(_VARIANT_SECTIONS)}")
        return section, field_name
    matches = [(section, name) for section in _VARIANT_SECTIONS
               if name in {f.name for f in fields(getattr(config, section))}]
    if not matches:
        raise ValueError(f"{spelling}: unknown setting {key!r}; expected a field of {list(_VARIANT_SECTIONS)} "
                         "(e.g. similarity, edge-score, finetune, split-epochs) or protocol")
    if len(matches) > 1:
        named = ", ".join(f"{s}.{n.replace('_', '-')}" for s, n in matches)
        raise ValueError(f"{spelling}: setting {key!r} is ambiguous; write one of {named}")
    return matches[0]


def _variant_setting(spelling: str, key: str, text: str, config: RunConfig) -> Setting:
    section, name = _variant_field(spelling, key, config)
    kind = next(f.type for f in fields(getattr(config, section)) if f.name == name)
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    return Setting(f"{section}.{name}", _parse_value(spelling, key, text, kind), f"ours: the variant {spelling}")


def _parse_value(spelling: str, key: str, text: str, kind: str) -> Any:
    """`text` as a value of a field whose annotation is `kind` (a string such as 'int | None')."""
    options = {part.strip() for part in kind.split("|")}
    if text.lower() == "none" and "None" in options:
        return None
    try:
        if options & {"bool"}:
            values = {"on": True, "true": True, "off": False, "false": False}
            if text.lower() not in values:
                raise ValueError
            return values[text.lower()]
        if any(option.startswith("tuple") for option in options):
            return tuple(int(part) for part in text.split(":"))
        if "int" in options and "float" not in options:
            return int(text)
        if "float" in options:
            return float(text)
        if "Any" in options and "str" not in options:
            raise ValueError
    except ValueError:
        raise ValueError(f"{spelling}: {key}={text!r} is not a valid {kind} (tuples as 20:40, booleans on/off, "
                         "None as none)") from None
    return text
