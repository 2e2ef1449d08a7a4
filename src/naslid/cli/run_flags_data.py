"""The run commands' flags, generated from the configuration fields that declare one (naslid.options.flag).

Do not edit: `python -m naslid.cli.run_flags_generator` writes this file from `naslid.runs.configure.run_options()`
and the registries named below, and tests/test_cli_run_flags.py fails while the two differ. It imports no torch,
so that every `naslid COMMAND --help` answers at once; a registry's choices are read from the registry itself once
its module is imported (`RegisteredNames`), so entries that plug-ins register are offered.
"""

from naslid.options import CliFlag, RegisteredNames, integer, memory_format, number, on_off, whole_numbers

# (dotted setting, flag) of every configuration field with a flag, in the order of
# naslid.runs.configure.run_options()
RUN_OPTIONS: tuple[tuple[str, CliFlag], ...] = (
    ("data.dataset", CliFlag(("--dataset",), choices=("digits", "cifar10", "imagefolder"), help=(
        "training data (imagefolder: ROOT/train/CLASS/*.jpg and ROOT/val/CLASS/*.jpg, streamed)"))),
    ("data.path", CliFlag(("--data-path",), help=(
        "CIFAR-10: the packed npz or a cifar-10-batches-py folder; imagefolder: ROOT"))),
    ("data.train_limit", CliFlag(("--train-limit",), parse=integer(1), help=(
        "use a class-balanced subset of this many training images"))),
    ("data.valid_fraction", CliFlag(("--valid-fraction",), parse=number(0, below=1), help=(
        "share of the training images held out as the valid part (0.5: NB201's 25k/25k; 0: train on all, score on "
        "the test part)"))),
    ("data.cutout", CliFlag(("--cutout",), parse=integer(0), help=(
        "cutout square side in pixels (0: off)"))),
    ("data.rotation", CliFlag(("--rotation",), parse=number(0, maximum=180), help=(
        "random rotation augmentation in degrees (NAS-LID release: 15)"))),
    ("data.resolution", CliFlag(("--resolution",), parse=integer(1), help=(
        "resize images to this many pixels a side (e.g. 16); imagefolder: crop side (default 224)"))),
    ("data.workers", CliFlag(("--data-workers",), parse=integer(0), help=(
        "imagefolder: decoding processes (default min(8, CPU cores))"))),
    ("network.channels", CliFlag(("--channels",), parse=integer(1), help=(
        "supernet width C (NB201 and the paper: 16)"))),
    ("network.cells_per_stage", CliFlag(("--cells",), parse=integer(1), help=(
        "cells per stage N (NB201 and the paper: 5)"))),
    ("network.width_mult", CliFlag(("--width-mult",), parse=number(0, above=True), help=(
        "MobileNet spaces: width multiplier (1.0; OFA also 1.2)"))),
    ("train.batch_size", CliFlag(("--batch-size",), parse=integer(1), help=(
        "training batch size"))),
    ("train.learning_rate", CliFlag(("--lr",), parse=number(0), help=(
        "initial learning rate (cosine schedule)"))),
    ("train.min_learning_rate", CliFlag(("--min-lr",), parse=number(0), help=(
        "the cosine's final learning rate"))),
    ("train.weight_decay", CliFlag(("--weight-decay",), parse=number(0), help=(
        "SGD weight decay"))),
    ("train.grad_clip", CliFlag(("--grad-clip",), parse=number(0), help=(
        "largest gradient norm (0: no clipping)"))),
    ("train.precision", CliFlag(("--precision",), choices=("auto", "fp32", "bf16"), help=(
        "auto: bf16 on CUDA, fp32 on CPU"))),
    ("train.channels_last", CliFlag(("--memory-format",), parse=memory_format, metavar="{channels-last,contiguous}",
        help=(
        "layout of images and weights: channels-last (default; faster on CUDA and on the CPU) or contiguous (NCHW; "
        "the CPU's BatchNorm then sums more exactly, a difference of float rounding)"))),
    ("train.step", CliFlag(("--train-step",),
        choices=RegisteredNames("naslid.train.steps", "TRAIN_STEPS", ("module", "fixed-kernels")), help=(
        "module (default): one module per op; fixed-kernels: the same SPOS step with a path-independent kernel "
        "sequence, replayed as one CUDA graph on a GPU"))),
    ("train.lr_stepping", CliFlag(("--lr-stepping",), choices=("step", "epoch"), help=(
        "learning rate updated every SGD step or once per epoch (the NAS-LID release)"))),
    ("train.lr_period_epochs", CliFlag(("--lr-period",), parse=number(0, above=True), help=(
        "the cosine's period T_max in epochs (default: the schedule's length; the NAS-LID release: 180)"))),
    ("train.off_path_gradients", CliFlag(("--off-path-gradients",), choices=("none", "zero"), help=(
        "none: ops off the path get no update; zero: zero gradients, so weight decay and momentum still move them "
        "(the reference codes)"))),
    ("train.path_sampler", CliFlag(("--path-sampler",), choices=("uniform", "no-repeat"), help=(
        "uniform paths, or never the previous step's choice on a point (the NAS-LID release)"))),
    ("train.init", CliFlag(("--init",), choices=("default", "kaiming-normal"), help=(
        "weight initialisation: PyTorch's default or kaiming normal (the NAS-LID release)"))),
    ("schedule.split_epochs", CliFlag(("--split-epochs",), parse=whole_numbers, partition=True, help=(
        "cumulative split epochs, e.g. 20,40,60,80"))),
    ("schedule.finetune_epochs", CliFlag(("--finetune-epochs",), parse=integer(0), partition=True, help=(
        "fine-tuning epochs per leaf"))),
    ("schedule.finetune", CliFlag(("--finetune",), choices=("inherit", "transfer", "restart"), partition=True,
        help=(
        "how leaves start fine-tuning: inherit (weights, optimizer and place in the cosine), transfer (weights; "
        "fresh optimizer and cosine: Few-shot NAS) or restart (fresh weights, optimizer and cosine: the NAS-LID "
        "release, GM-NAS)"))),
    ("schedule.fewshot_edge", CliFlag(("--fewshot-edge",), parse=integer(0), partition=True, help=(
        "choice point that few-shot NAS splits one child per choice (NB201: edge index 0-5)"))),
    ("split.similarity", CliFlag(("--similarity",), choices=("euclidean", "pearson", "cosine"), partition=True,
        help=(
        "LID profile similarity"))),
    ("split.edge_score", CliFlag(("--edge-score",), choices=RegisteredNames(
            "naslid.partition.mincut", "EDGE_SCORES", ("intra", "max-cross", "min-cross", "gap", "separation-z")),
        partition=True, help=(
        "which point a split takes: intra (the paper's text), max-cross (the authors' released code), min-cross "
        "(GM-NAS's rule), gap (intra - cross) or separation-z (gap over its bootstrap spread across the "
        "measurement batches); gm-nas always uses min-cross; naslid.partition.EDGE_SCORES defines each"))),
    ("split.batches", CliFlag(("--split-batches",), parse=integer(1), partition=True, help=(
        "batches the split similarity is averaged over (the paper: 50)"))),
    ("split.batch_size", CliFlag(("--lid-batch-size",), parse=integer(1), partition=True, help=(
        "n of each LID estimate (the paper: 128)"))),
    ("split.k", CliFlag(("-k", "--k"), parse=integer(1), partition=True, help=(
        "neighbours of the LID MLE (the paper: 20)"))),
    ("split.bn_mode", CliFlag(("--bn-mode",), choices=("batch", "eval"), partition=True, help=(
        "BN statistics while measuring splits"))),
    ("split.gradient_batches", CliFlag(("--gm-repeats",), parse=integer(1), partition=True, help=(
        "batches GM-NAS's gradient similarity is averaged over (GM-NAS: 100)"))),
    ("split.measurement_batches", CliFlag(("--lid-batches",), choices=("shared", "per-point"), partition=True,
        help=(
        "split measurement batches: shared (one set for every edge) or per-point (fresh for each edge: the NAS-LID "
        "release)"))),
    ("split.measurement_augment", CliFlag(("--lid-augment",), parse=on_off, metavar="{on,off}", partition=True,
        help=(
        "draw the split measurement batches with the training augmentation (the NAS-LID release: on)"))),
    ("split.measurement_paths", CliFlag(("--lid-paths",), choices=("per-batch", "per-point"), partition=True, help=(
        "random paths while measuring: per-batch (one shared by every edge: paired) or per-point (fresh per edge "
        "and batch: the NAS-LID release)"))),
    ("split.reliability_resamples", CliFlag(("--reliability-resamples",), parse=integer(0, 100000), partition=True,
        help=(
        "bootstrap resamples of the measurement batches behind each split (how often each point would be chosen "
        "and its grouping recur; default 200, 0: off)"))),
    ("proxy.calibration_batches", CliFlag(("--calibration-batches",), parse=integer(0), help=(
        "BN recalibration batches per evaluated arch (0: off)"))),
    ("proxy.evaluation_images", CliFlag(("--proxy-images",), parse=integer(1), help=(
        "held-out images each architecture is scored on"))),
    ("proxy.batchnorm", CliFlag(("--proxy-bn",), choices=("recalibrate", "running", "batch"), help=(
        "BN statistics of a proxy score: recalibrated per architecture (default), the supernet's running ones (the "
        "NAS-LID release) or each batch's own (GM-NAS, Few-shot NAS)"))),
    ("proxy.split", CliFlag(("--proxy-split",), choices=("valid", "test"), help=(
        "the part the proxy scores on: valid (held out of training) or test (the NAS-LID release)"))),
    ("search.budget", CliFlag(("--budget",), parse=integer(1), help=(
        "architectures the evolutionary search may evaluate"))),
)
# the spaces whose network configuration's flags are listed above (with another space registered, the CLI
# reads the flags from the library)
NETWORK_SPACES = ("nb201", "proxyless", "ofa")

# the choices of the run flags that set no single field
PRESETS = RegisteredNames(
    "naslid.runs.presets", "PRESETS", ("tiny", "demo", "cpu", "paper", "authors"))
PROTOCOLS = RegisteredNames(
    "naslid.runs.protocols", "PROTOCOLS", ("nas-lid-release", "gm-nas", "few-shot-nas"))
SCALES = RegisteredNames("naslid.runs.protocols", "SCALES", ("full", "cpu", "tiny"))
METHODS = RegisteredNames(
    "naslid.runs.protocols", "METHODS", ("spos", "few-shot", "gm-nas", "nas-lid", "random-split"))
BN_CHOICES = ("tracked", "batch-stats")
PROTOCOL_CHOICES = ("common", "own")
