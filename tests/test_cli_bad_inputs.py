"""Every command given a bad input: exit status 2, one line on stderr, no traceback, and a finished run directory
left byte for byte as it was. Tampered run directories (a cycle in the tree, a swapped checkpoint, an edited
config) are refused the same way, and `naslid check` lists their problems."""

import hashlib
import json
import os
import shutil
import stat

import pytest
import torch

from naslid.cli import main
from naslid.runs.lock import LOCK_FILE
from naslid.runs.verify import verify_run

TINY = ["--channels", "4", "--cells", "1", "--split-epochs", "1", "--finetune-epochs", "1", "--split-batches", "1",
        "--train-limit", "300", "--no-progress"]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny partition run with a search result (about 15 s on a CPU)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["partition", str(run), *TINY]) == 0
    assert main(["search", str(run), "--budget", "4", "--no-progress", "--benchmark", "none"]) == 0
    return run


def _hashes(folder) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != LOCK_FILE}


def _call(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


# (command line with {run} a finished run and {tmp} a fresh folder, what the one line says)
CASES = [
    # train: every numeric flag's range, named
    ("train {tmp}/t --seed -1", "--seed -1: expected an integer >= 0"),
    ("train {tmp}/t --seed 9223372036854775808", "--seed 9223372036854775808: expected an integer >= 0 and < 2**63"),
    ("train {tmp}/t --seed abc", "--seed abc: expected an integer >= 0"),
    ("train {tmp}/t --channels 0", "--channels 0: expected an integer >= 1"),
    ("train {tmp}/t --cells -3", "--cells -3: expected an integer >= 1"),
    ("train {tmp}/t --batch-size 0", "--batch-size 0: expected an integer >= 1"),
    ("train {tmp}/t --lr nan", "--lr nan: expected a finite number >= 0"),
    ("train {tmp}/t --lr -1", "--lr -1: expected a finite number >= 0"),
    ("train {tmp}/t --lr 0", "--lr 0.0: learning_rate=0; expected a positive"),
    ("train {tmp}/t --epochs 0", "--epochs 0: expected an integer >= 1"),
    ("train {tmp}/t --cutout -1", "--cutout -1: expected an integer >= 0"),
    ("train {tmp}/t --resolution 0", "--resolution 0: expected an integer >= 1"),
    ("train {tmp}/t --train-limit 0", "--train-limit 0: expected an integer >= 1"),
    ("train {tmp}/t --data-workers -1", "--data-workers -1: expected an integer >= 0"),
    ("train {tmp}/t --valid-fraction 1.5", "--valid-fraction 1.5: expected a finite number >= 0 and < 1"),
    ("train {tmp}/t --rotation 500", "--rotation 500: expected a finite number >= 0 and <= 180"),
    ("train {tmp}/t --weight-decay -0.1", "--weight-decay -0.1: expected a finite number >= 0"),
    ("train {tmp}/t --grad-clip inf", "--grad-clip inf: expected a finite number >= 0"),
    ("train {tmp}/t --lr-period 0", "--lr-period 0: expected a finite number > 0"),
    ("train {tmp}/t --min-lr -1", "--min-lr -1: expected a finite number >= 0"),
    ("train {tmp}/t --calibration-batches -1", "--calibration-batches -1: expected an integer >= 0"),
    ("train {tmp}/t --proxy-images 0", "--proxy-images 0: expected an integer >= 1"),
    ("train {tmp}/t --budget 0", "--budget 0: expected an integer >= 1"),
    ("train {tmp}/t --track-every 0", "--track-every 0: expected an integer >= 1"),
    ("train {tmp}/t --width-mult 0", "--width-mult 0: expected a finite number > 0"),
    ("train {tmp}/t --preset nope", "invalid choice: 'nope'"),
    ("train {tmp}/t --dataset cifar10 --data-path {tmp}/nope.npz", "CIFAR-10 not found at"),
    ("train {tmp}/t --subspace {tmp}/nope.json", "nope.json"),
    ("train {tmp}/t --epochs 1 --channels 100000 --cells 1 --no-progress", "out of memory while building the "
     "supernet (--channels 100000, --cells 1, --batch-size"),
    # out of memory for real (each asks for terabytes, which the allocator refuses at once): one line, the flags
    ("train {tmp}/t --epochs 1 --resolution 100000 --no-progress", "--batch-size 64, --resolution 100000); asked for"),
    # partition
    ("partition {tmp}/p --split-epochs=-1,2", "--split-epochs -1,2: expected comma-separated whole numbers >= 0"),
    ("partition {tmp}/p --split-epochs a", "--split-epochs a: expected comma-separated whole numbers"),
    ("partition {tmp}/p --finetune-epochs -1", "--finetune-epochs -1: expected an integer >= 0"),
    ("partition {tmp}/p --fewshot-edge -1", "--fewshot-edge -1: expected an integer >= 0"),
    ("partition {tmp}/p --method few-shot --fewshot-edge 99", "fewshot_edge=99"),
    ("partition {tmp}/p --reliability-resamples -5", "--reliability-resamples -5: expected an integer >= 0"),
    ("partition {tmp}/p --split-batches 0", "--split-batches 0: expected an integer >= 1"),
    ("partition {tmp}/p --lid-batch-size 0", "--lid-batch-size 0: expected an integer >= 1"),
    ("partition {tmp}/p -k 0", "--k 0: expected an integer >= 1"),
    ("partition {tmp}/p --gm-repeats 0", "--gm-repeats 0: expected an integer >= 1"),
    ("partition {tmp}/p --runner processes:-1", "unknown job runner 'processes:-1'"),
    ("partition {tmp}/p --gpus-per-job -1", "--gpus-per-job -1: expected a finite number >= 0"),
    ("partition {tmp}/p --cpus-per-job nan", "--cpus-per-job nan: expected a finite number >= 0"),
    ("partition {run} --channels 8 --split-epochs 1 --finetune-epochs 1 --split-batches 1 --train-limit 300",
     "network.channels: 4 stored, 8 asked"),
    # finetune
    ("finetune {tmp}/missing", "a naslid run directory?"),
    ("finetune {run} --runner bogus", "unknown job runner 'bogus'"),
    # search
    ("search {run} --budget 0", "--budget 0: expected an integer >= 1"),
    ("search {run} --seed -1", "--seed -1: expected an integer >= 0"),
    ("search {run} --seed 99999999999999999999", "expected an integer >= 0 and < 2**63"),
    ("search {run} --max-mflops 0", "--max-mflops 0: expected a finite number > 0"),
    ("search {run} --max-params -1", "--max-params -1: expected a finite number > 0"),
    ("search {run} --algorithm x", "invalid choice: 'x'"),
    ("search {run} --out {run}", "is a directory"),
    ("search {tmp}/missing", "a naslid run directory?"),
    # compare and demo
    ("compare {tmp}/c --seeds -1", "--seeds -1: expected comma-separated whole numbers >= 0"),
    ("compare {tmp}/c --methods bogus", "unknown method 'bogus'"),
    ("compare {tmp}/c --track-every 0", "--track-every 0: expected an integer >= 1"),
    ("compare {tmp}/c --budget -3", "--budget -3: expected an integer >= 1"),
    ("compare {tmp}/c --methods spos,nas-lid --control few-shot", "--control few-shot: not among the compared "
     "methods; expected one of ['spos', 'nas-lid', 'params', 'flops']"),
    ("compare {tmp}/c --methods nas-lid[k=5],nas-lid[split.k=5]", "methods ['nas-lid[k=5]', 'nas-lid[k=5]'] name a "
     "method twice"),
    ("compare {tmp}/c --methods nas-lid[learning-rate=1e30] --channels 4 --train-limit 300 --benchmark none "
     "--no-progress", "naslid compare: error: nas-lid[learning-rate=1e30]: training diverged: the loss is"),
    ("compare {tmp}/c --methods nas-lid[learning-rate=1e30] --channels 4 --train-limit 300 --benchmark none "
     "--no-progress", "; nas-lid[learning-rate=1e30] trains at learning rate 1e+30, its own setting (--lr does not "
     "change it): lower it in the method's spelling, e.g. nas-lid[learning-rate=1e+29]"),
    ("compare {tmp}/c --methods nas-lid[k=-5] --print-config", "nas-lid[k=-5]: k=-5; expected an integer >= 2"),
    ("compare {tmp}/c --methods nas-lid[split-epochs=3:2] --print-config", "nas-lid[split-epochs=3:2]: "
     "split_epochs=(3, 2); expected strictly increasing cumulative epochs"),
    ("compare {tmp}/c --channels 100000 --cells 1 --methods spos,nas-lid --no-progress",
     "out of memory while building the supernet (--channels 100000, --cells 1, --batch-size 64); asked for"),
    ("demo --run-dir {tmp}/d --device nonsense", "device 'nonsense' is not a torch device"),
    ("demo --run-dir", "expected one argument"),
    # score and profile
    ("score {tmp}/nope.json", "not found"),
    ("score {tmp}/p.json --seed -1", "--seed -1: expected an integer >= 0"),
    ("score {tmp}/p.json --top-k 0", "--top-k 0: expected an integer >= 1"),
    ("profile --model nb201:bad", "NB201 arch string 'bad'"),
    ("profile --model nb201:" + ARCH + " --batch-size 0", "--batch-size 0: expected an integer >= 1"),
    ("profile --model nb201:" + ARCH + " -k 0", "--k 0: expected an integer >= 1"),
    ("profile --model nb201:" + ARCH + " --num-batches 0", "--num-batches 0: expected an integer >= 1"),
    ("profile --model nb201:" + ARCH + " --num-classes 0", "--num-classes 0: expected an integer >= 1"),
    ("profile --model nb201:" + ARCH + " --seed -5", "--seed -5: expected an integer >= 0"),
    ("profile --model nb201:" + ARCH + " --batch-size 100000000 --out {tmp}/p.json", "out of memory while drawing "
     "the input batches (--batch-size 100000000, --num-batches 4, --num-classes 10); asked for 4577.6 GiB"),
    ("profile --model nb201:" + ARCH + " --num-classes 1000000000000 --out {tmp}/p.json", "(--batch-size 128, "
     "--num-batches 4, --num-classes 1000000000000); asked for 238418.6 GiB: lower these"),
    # latency-table
    ("latency-table --space proxyless --resolution 10000000 --out {tmp}/l.json", "out of memory while building the "
     "latency table (--width-mult 1.0, --resolution 10000000, --batch-size 1); asked for"),
    ("latency-table --space ofa --resolution 32 --width-mult 100000 --out {tmp}/l.json", "out of memory while "
     "building the latency table (--width-mult 100000.0, --resolution 32, --batch-size 1); asked for 9536.7 GiB"),
    ("latency-table --space proxyless --resolution 32 --batch-size 1000000000 --out {tmp}/l.json",
     "(--width-mult 1.0, --resolution 32, --batch-size 1000000000); asked for 122070.3 GiB"),
    ("latency-table --space proxyless --resolution 0 --out {tmp}/l.json", "--resolution 0: expected an integer >= 1"),
    # export and retrain
    ("export {tmp}/missing", "a naslid run directory?"),
    ("export {run} --arch bogus", "--arch: NB201 arch string 'bogus'"),
    ("export {run} --device nonsense", "device 'nonsense' is not a torch device"),
    ("retrain {tmp}/missing", "a folder written by `naslid export`"),
    ("retrain {tmp}/e --epochs 0", "--epochs 0: expected an integer >= 1"),
    ("retrain {tmp}/e --lr nan", "--lr nan: expected a finite number >= 0"),
    ("retrain {tmp}/e --label-smoothing 1", "--label-smoothing 1: expected a finite number >= 0 and < 1"),
    ("retrain {tmp}/e --seed -1", "--seed -1: expected an integer >= 0"),
    ("retrain {tmp}/e --batch-size -2", "--batch-size -2: expected an integer >= 1"),
    # check
    ("check {tmp}/missing", "has 1 problem"),
    # issue 33: inputs read with a bound, special files refused, counts bounded, long values cut
    ("train {tmp}/t --config /dev/zero", "--config /dev/zero is a character device; expected a regular file"),
    ("train {tmp}/t --config {tmp}/fifo", "--config {tmp}/fifo is a FIFO; expected a regular file"),
    ("compare {tmp}/c --config {tmp}/huge.json", "--config {tmp}/huge.json is larger than 16 MiB"),
    ("train {tmp}/t --subspace /dev/zero --print-config", "--subspace /dev/zero is a character device"),
    ("score {tmp}/junk.json", "predictions file {tmp}/junk.json is not UTF-8 text (byte 0x9f at offset 2); "
     "expected a text file such as JSON or CSV"),
    ("score {tmp}/fifo.csv", "predictions file {tmp}/fifo.csv is a FIFO; expected a regular file"),
    ("report {run} --out /dev/full", "--out /dev/full is a character device, not a regular file"),
    ("report {run} --out {tmp}/fifo", "--out {tmp}/fifo is a FIFO, not a regular file"),
    ("score {tmp}/p.json --out /dev/full", "--out /dev/full is a character device"),
    ("latency-table --space proxyless --resolution 32 --repeats 1000000000000 --out {tmp}/l.json",
     "--repeats 1000000000000: expected an integer >= 1 and <= 10,000"),
    ("latency-table --space proxyless --resolution 32 --warmup 99999 --out {tmp}/l.json",
     "--warmup 99999: expected an integer >= 0 and <= 10,000"),
    ("latency-table --space proxyless --resolution 32 --calibration-networks 5000 --out {tmp}/l.json",
     "--calibration-networks 5000: expected an integer >= 0 and <= 1,000"),
    ("partition {tmp}/p --reliability-resamples 10000000", "--reliability-resamples 10000000: expected an integer "
     ">= 0 and <= 100,000"),
    ("search {run} --latency-table {tmp}/negative_latency.json", "entry 'stem' has min_ms=-2304.0; expected a finite "
     "number of milliseconds > 0; build it again with `naslid latency-table`"),
    ("search {run} --latency-table {tmp}/nan_scale_latency.json", "its calibration scale is nan; expected a finite "
     "number > 0"),
    ("compare {tmp}/c --methods nas-lid[similarity=" + "x" * 100_000 + "]",
     "characters]...xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'; expected one of ['euclidean', 'pearson'"),
    ("train {tmp}/t --seed " + "9" * 100_000, "characters]...9999999999999999999999999999999999999999999999999: "
     "expected an integer >= 0"),
]


def _hostile_files(folder) -> None:
    """Files the table's inputs name: binary junk, FIFOs, an oversized config, latency tables with bad times."""
    (folder / "junk.json").write_bytes(b"{\"\x9f\xff\x00junk")
    os.mkfifo(folder / "fifo")
    os.mkfifo(folder / "fifo.csv")
    with open(folder / "huge.json", "wb") as handle:
        handle.truncate(17 * 2**20)  # sparse: 17 MiB of zeros
    table = {"schema": "naslid.latency_table/1", "space": "nb201", "resolution": 8, "entries": {
        "stem": {"kind": "stem", "min_ms": -2304.0, "median_ms": 1.0, "spread_ms": 0.0}}, "calibration": {"scale": 1.0}}
    (folder / "negative_latency.json").write_text(json.dumps(table))
    table["entries"]["stem"]["min_ms"] = 1.0
    table["calibration"]["scale"] = float("nan")
    (folder / "nan_scale_latency.json").write_text(json.dumps(table))


@pytest.mark.parametrize("command, message", CASES, ids=[command[:120] for command, _ in CASES])
def test_a_bad_input_is_one_line_exit_2_and_leaves_the_run_unchanged(finished, tmp_path, capsys, command, message):
    before = _hashes(finished)
    _hostile_files(tmp_path)
    argv = [part.format(run=finished, tmp=tmp_path) for part in command.split()]
    code, out, err = _call(argv, capsys)
    assert code == 2, (command, out[-2000:], err[-2000:])
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in out + err and message.format(tmp=tmp_path) in err, err
    assert len(err) < 2_500, f"{len(err)} characters"  # a long value is cut, never echoed whole
    assert _hashes(finished) == before
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # never replaced by a file


def test_the_table_covers_every_command_and_sixty_inputs():
    commands = {command.split()[0] for command, _ in CASES}
    assert commands == {"train", "partition", "finetune", "search", "compare", "demo", "score", "profile", "export",
                        "retrain", "check", "latency-table", "report"}
    assert len(CASES) + len(TAMPERED) >= 60



# --- out of memory where a real allocation would take too long or fit this machine: the allocator's own error ---

# what torch's CPU allocator raises (the text of torch 2.13), CUDA's, and NumPy's
CPU_ALLOCATOR = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 40000000000 bytes. Error code 12 (Cannot allocate memory)")
CUDA_ALLOCATOR = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
                  "1.06 GiB is free. Of the allocated memory 75.10 GiB is allocated by PyTorch")
NUMPY_ALLOCATOR = "Unable to allocate 37.3 GiB for an array with shape (10000000000,) and data type float32"


def _cpu_out_of_memory(*args, **kwargs):
    raise RuntimeError(CPU_ALLOCATOR)


def _cuda_out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError(CUDA_ALLOCATOR)


def _numpy_out_of_memory(*args, **kwargs):
    raise MemoryError(NUMPY_ALLOCATOR)


@pytest.fixture(scope="module")
def exported(finished, tmp_path_factory):
    """`naslid export` of the finished run, into a folder of its own (the run is only read)."""
    folder = tmp_path_factory.mktemp("exported") / "export"
    assert main(["export", str(finished), "--out", str(folder)]) == 0
    return folder


def _without_leaf_checkpoint(run):
    (run / "nodes" / "node2.pt").unlink()  # finetune trains the leaf again


# (what fails, how, the command line with {run} a copy of the finished run, {export} its export and {tmp} a fresh
# folder, what the one line says); patched, not provoked: these commands take no flag that makes them allocate much
PATCHED = [
    ("naslid.runs.search.RunEvaluator.evaluate_many", _cpu_out_of_memory,
     "search {run} --budget 4 --no-progress --benchmark none", "out of memory while scoring architectures "
     "(--channels 4, --cells 1, --batch-size 64); asked for 37.3 GiB: lower these or use a device with more memory"),
    ("naslid.runs.search.RunEvaluator.evaluate_many", _cuda_out_of_memory,
     "search {run} --budget 4 --no-progress --benchmark none", "scoring architectures (--channels 4, --cells 1, "
     "--batch-size 64); asked for 2.00 GiB"),
    ("naslid.runs.export._path_supernet", _cpu_out_of_memory, "export {run} --out {tmp}/e",
     "out of memory while exporting the architecture (--channels 4, --cells 1, --batch-size 64); asked for 37.3 GiB"),
    ("naslid.runs.opened.build_supernet_for", _cpu_out_of_memory, "export {run} --out {tmp}/e",
     "out of memory while building the supernet (--channels 4, --cells 1, --batch-size 64); asked for 37.3 GiB"),
    ("naslid.runs.partition.train_supernet", _cpu_out_of_memory, "finetune {run} --no-progress",
     "out of memory while training node 2 (--channels 4, --cells 1, --batch-size 64); asked for 37.3 GiB"),
    ("naslid.runs.retrain.train_supernet", _cpu_out_of_memory,
     "retrain {export} --out {tmp}/r --epochs 1 --batch-size 7 --device cpu --no-progress",
     "out of memory while retraining the exported architecture (--channels 4, --cells 1, --batch-size 7)"),
    ("naslid.runs.opened.build_supernet_for", _cuda_out_of_memory, "demo --run-dir {tmp}/d --no-progress "
     "--benchmark none", "out of memory while building the supernet (--channels 8, --cells 1, --batch-size 64"),
    ("naslid.runs.compare.RunEvaluator", _cpu_out_of_memory, "compare {tmp}/c --methods spos --no-progress "
     "--benchmark none --channels 4 --split-epochs 1 --finetune-epochs 1 --train-limit 300",
     "out of memory while running spos (--channels 4, --cells 1, --batch-size 64); asked for 37.3 GiB"),
    # one the command's own steps do not name: the command line's size flags
    ("naslid.runs.profile.run_profile", _numpy_out_of_memory, "profile --model nb201:" + ARCH + " --batch-size 64",
     "out of memory while running `naslid profile` (--batch-size 64); asked for 37.3 GiB: lower these"),
]


@pytest.mark.parametrize("target, failure, command, message", PATCHED,
                         ids=[f"{target.rpartition('.')[2]}-{command.split()[0]}-{failure.__name__}"
                              for target, failure, command, _ in PATCHED])
def test_out_of_memory_is_one_line_naming_the_size_flags(finished, exported, tmp_path, capsys, monkeypatch, target,
                                                         failure, command, message):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    if command.startswith("finetune"):
        _without_leaf_checkpoint(run)
    monkeypatch.chdir(tmp_path)  # the demo finds no CIFAR-10 from here: the bundled digits
    monkeypatch.setattr(target, failure)
    argv = [part.format(run=run, export=exported, tmp=tmp_path) for part in command.split()]
    code, out, err = _call(argv, capsys)
    assert code == 2, (command, out, err)
    assert err.count("\n") == 1 and "Traceback" not in out + err and message in err, err


def test_an_error_that_is_not_out_of_memory_passes_unchanged():
    from naslid.memory import OutOfMemory, out_of_memory_named

    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        with out_of_memory_named("building", "--channels 4"):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
    with pytest.raises(OutOfMemory, match=r"^out of memory while training \(--channels 4\); asked for 37.3 GiB"):
        with out_of_memory_named("running", "--batch-size 9"), out_of_memory_named("training", "--channels 4"):
            _cpu_out_of_memory()  # the innermost context names it; the outer one lets it pass


# --- tampered run directories ----------------------------------------------------------------------------------


def _edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _edit_checkpoint(path, change) -> None:
    state = torch.load(path, weights_only=False)
    change(state)
    torch.save(state, path)


def _nodes(tree: dict) -> dict:
    return {node["id"]: node for node in tree["nodes"]}


def _missing_child(run):
    _edit_json(run / "partition_tree.json", lambda tree: _nodes(tree)[0]["children"].append(42))


def _cycle(run):
    _edit_json(run / "partition_tree.json", lambda tree: _nodes(tree)[1]["children"].append(0))


def _overlap(run):
    def change(tree):
        _nodes(tree)[2]["subspace"] = _nodes(tree)[1]["subspace"]
    _edit_json(run / "partition_tree.json", change)


def _swapped(run):
    shutil.copyfile(run / "nodes" / "node1.pt", run / "nodes" / "node2.pt")


def _wider_config(run):
    _edit_json(run / "config.json", lambda config: config["network"].update(channels=8))


def _unknown_setting(run):
    _edit_json(run / "config.json", lambda config: config["train"].update(speed=3))


def _wrong_kind(run):
    _edit_json(run / "config.json", lambda config: config["schedule"].update(split_epochs=None))


def _lost_tree(run):
    (run / "partition_tree.json").unlink()


def _unimported_space(run):
    _edit_json(run / "config.json", lambda config: config.update(search_space="chain"))


def _edited_history(run):
    _edit_checkpoint(run / "nodes" / "node1.pt", lambda state: state["history"].pop(0))


def _foreign_shape(run):
    def change(state):
        name = next(iter(state["model"]))
        state["model"][name] = torch.zeros(3, 3)
    _edit_checkpoint(run / "nodes" / "node2.pt", change)


TAMPERED = [
    (_missing_child, "search", "node 0 lists child 42, which is not in the tree"),
    (_missing_child, "export", "node 0 lists child 42"),
    (_cycle, "search", "partition_tree.json: node 1 lists child 0, whose parent is None"),
    (_cycle, "export", "restore it from a copy, or start again"),
    (_cycle, "finetune", "partition_tree.json"),
    (_overlap, "search", "nodes 1 and 2 (children of node 0) overlap"),
    (_overlap, "export", "overlap"),
    (_swapped, "search", "node2.pt: holds node 1's weights, not node 2's; delete it and run `naslid finetune"),
    (_swapped, "export", "holds node 1's weights"),
    (_swapped, "finetune", "holds node 1's weights"),
    (_wider_config, "search", "digest differs"),
    (_wider_config, "export", "digest differs"),
    (_wider_config, "finetune", "digest differs"),
    (_unknown_setting, "search", "run config section 'train' has no setting 'speed'"),
    (_wrong_kind, "export", "run config schedule.split_epochs=None; expected a list of integers"),
    (_edited_history, "search", "node1.pt: its history does not run epoch by epoch"),
    (_foreign_shape, "search", "holds a network of another shape than config.json's network"),
    (_foreign_shape, "check", "has 1 problem"),
    (_cycle, "check", "problems (listed above)"),
    # issue 33: report reads only what the other readers accept; check finds a lost tree, names --import
    (_swapped, "report", "fails verification, so no report is written: "),
    (_swapped, "report", "node2.pt: holds node 1's weights, not node 2's"),
    (_wider_config, "report", "digest differs"),
    (_overlap, "report", "nodes 1 and 2 (children of node 0) overlap"),
    (_cycle, "report", "partition_tree.json: node 1 lists child 0, whose parent is None"),
    (_missing_child, "report", "node 0 lists child 42, which is not in the tree"),
    (_lost_tree, "check", "has 1 problem"),
    (_lost_tree, "report", "partition_tree.json is missing, but the run holds node1.pt, node2.pt, metrics.jsonl"),
    (_unimported_space, "check", "has 1 problem"),
    (_unimported_space, "search", "no supernet for search space 'chain'"),
]


@pytest.mark.parametrize("tamper, command, message", TAMPERED,
                         ids=[f"{tamper.__name__}-{command}" for tamper, command, _ in TAMPERED])
def test_a_tampered_run_is_refused_in_one_line_naming_file_and_repair(finished, tmp_path, capsys, tamper, command,
                                                                      message):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    tamper(run)
    before = _hashes(run)
    argv = [command, str(run), *(["--no-progress"] if command in ("search", "finetune") else [])]
    code, out, err = _call(argv, capsys)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in out + err and message in err + out, (out, err)
    assert _hashes(run) == before


def test_check_lists_every_problem_and_passes_a_sound_run(finished, tmp_path, capsys):
    assert _call(["check", str(finished)], capsys)[0] == 0
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    _swapped(run)
    _wider_config(run)
    code, out, err = _call(["check", str(run)], capsys)
    problems = out.splitlines()
    assert code == 2 and len(problems) >= 4 and f"has {len(problems)} problems" in err
    assert any("node2.pt: holds node 1's weights" in line for line in problems)
    assert sum("digest differs" in line for line in problems) == 3  # nodes 0, 1 and 2


def test_check_names_the_lost_tree_and_the_missing_import(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    _lost_tree(run)
    code, out, err = _call(["check", str(run)], capsys)
    assert code == 2 and f"{run / 'partition_tree.json'} is missing, but the run holds node1.pt, node2.pt" in out
    shutil.copyfile(finished / "partition_tree.json", run / "partition_tree.json")
    _unimported_space(run)
    code, out, err = _call(["check", str(run)], capsys)
    assert code == 2 and "space 'chain' is not registered in this process" in out and "--import MODULE" in out
    assert "restore config.json" not in out and "start again" not in out


def test_check_and_report_on_a_comparison_folder_check_every_run_in_it(finished, tmp_path, capsys):
    folder = tmp_path / "cmp"
    for method in ("spos", "nas-lid"):
        shutil.copytree(finished, folder / method)
    (folder / "compare.json").write_text(json.dumps({"schema": "naslid.compare/2"}))
    code, out, err = _call(["check", str(folder)], capsys)
    assert code == 0, err
    _swapped(folder / "nas-lid")
    code, out, err = _call(["check", str(folder)], capsys)
    assert code == 2 and f"has {len(out.splitlines())} problems" in err
    assert out.startswith(f"{folder / 'nas-lid' / 'nodes' / 'node2.pt'}: holds node 1's weights")
    assert "restore config.json, or start again" not in out
    code, out, err = _call(["report", str(folder)], capsys)
    assert code == 2 and "fails verification" in err and not (folder / "report.html").exists()


def test_checkpoints_of_another_modules_network_are_not_called_damaged(finished, tmp_path, monkeypatch):
    """Every checkpoint trained under config.json as it is, none of the shapes the registered code builds: the code
    differs (another module registering the space), and the checkpoints are not to be deleted."""
    from naslid.nn import SUPERNETS, NB201Config, NB201SuperNet

    class Wider(NB201SuperNet):
        def __init__(self, config=None):
            super().__init__(config=config)
            self.extra = torch.nn.Parameter(torch.zeros(1))

    monkeypatch.setitem(SUPERNETS, "nb201", (NB201Config, Wider))
    problems = verify_run(finished)
    assert len(problems) == 1, problems
    assert "none of its 3 checkpoints has the shapes of the network the 'nb201' space builds" in problems[0]
    assert "--import MODULE" in problems[0] and "delete" not in problems[0]


def test_checkpoints_written_before_they_named_their_node_still_open(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    for path in (run / "nodes").glob("*.pt"):
        _edit_checkpoint(path, lambda state: [state.pop(key, None) for key in ("node", "parent", "config_digest")])
    assert verify_run(run) == []
    _swapped(run)  # what an old checkpoint still holds (its sub-space) is checked
    assert any("was trained on the sub-space" in problem for problem in verify_run(run))


def test_checkpoints_record_whose_they_are(finished):
    from naslid.runs.config import RunConfig, config_digest

    digest = config_digest(RunConfig.load(finished / "config.json"))
    tree = json.loads((finished / "partition_tree.json").read_text())
    for node in tree["nodes"]:
        state = torch.load(finished / node["checkpoint"], weights_only=False)
        assert (state["node"], state["parent"], state["config_digest"]) == (node["id"], node["parent"], digest)
        assert state["subspace"] == node["subspace"]
