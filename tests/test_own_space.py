"""A search space of one's own through the CLI (issue 20, item 1): examples/chain_space.py, imported with
--import, runs partition, search and export; an installed entry point makes it visible with no flag."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chain_space.py"


def _naslid(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "naslid.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=environment, cwd=cwd)


@pytest.mark.slow
def test_the_example_space_runs_partition_search_and_export(tmp_path):
    run = tmp_path / "chain"
    listed = _naslid("spaces", "--import", EXAMPLE)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:3] == ["chain", "3", "64"]
    done = _naslid("partition", run, "--import", EXAMPLE, "--space", "chain", "--dataset", "digits",
                   "--split-epochs", "1", "--finetune-epochs", "1", "--split-batches", "1", "--no-progress")
    assert done.returncode == 0, done.stderr
    tree = json.loads((run / "partition_tree.json").read_text())
    assert tree["space"] == "chain" and len([n for n in tree["nodes"] if not n.get("children")]) == 2
    searched = _naslid("search", run, "--import", EXAMPLE, "--no-progress")
    assert searched.returncode == 0, searched.stderr
    best = json.loads((run / "search_evolution.json").read_text())["best"]["arch"]
    assert len(best.split("-")) == 3
    exported = _naslid("export", run, "--import", EXAMPLE)
    assert exported.returncode == 0, exported.stderr
    program = torch.export.load(run / "export" / "model.pt2").module()
    assert program(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    # without the import the run's space is unknown, and the error says how to make it known
    refused = _naslid("search", run)
    assert refused.returncode == 2 and "--import MODULE" in refused.stderr and refused.stderr.count("\n") == 1


@pytest.mark.slow
def test_an_installed_entry_point_registers_the_space_for_every_command(tmp_path):
    site = tmp_path / "site"
    info = site / "chainspace-0.1.dist-info"
    info.mkdir(parents=True)
    shutil.copy(EXAMPLE, site / "chainspace_module.py")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: chainspace\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[naslid.spaces]\nchain = chainspace_module\n")
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = _naslid("spaces", env=env)
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:3] == ["chain", "3", "64"] for line in listed.stdout.splitlines())
    printed = _naslid("train", tmp_path / "r", "--space", "chain", "--dataset", "digits", "--print-config", env=env)
    assert printed.returncode == 0, printed.stderr
    config = json.loads(printed.stdout)["config"]
    assert config["search_space"] == "chain" and config["network"] == {"channels": 8, "in_channels": 1,
                                                                       "num_classes": 10}


@pytest.mark.slow
def test_bad_imports_and_unknown_spaces_are_one_line(tmp_path):
    missing = _naslid("spaces", "--import", tmp_path / "nope.py")
    assert missing.returncode == 2 and missing.stderr == f"naslid spaces: error: --import {tmp_path / 'nope.py'}: " \
        "no such file\n"
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    failed = _naslid("spaces", "--import", broken)
    assert failed.returncode == 2 and "RuntimeError: boom" in failed.stderr and failed.stderr.count("\n") == 1
    unknown = _naslid("train", tmp_path / "r", "--space", "nope", "--print-config")
    assert unknown.returncode == 2 and "search space 'nope'" in unknown.stderr and "--import MODULE" in unknown.stderr


@pytest.mark.slow
def test_worker_processes_load_the_imported_modules(tmp_path):
    """`--runner processes:N` spawns fresh workers: they import what the command imported before any job runs."""
    script = textwrap.dedent(f"""
        import functools
        from naslid.partition import ProcessPoolRunner
        from naslid.plugins import load_plugins
        from naslid.spaces import get_space
        load_plugins([{str(EXAMPLE)!r}])
        spaces = ProcessPoolRunner(2).run([functools.partial(get_space, "chain")] * 2)
        print([space.name for space in spaces])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['chain', 'chain']"


@pytest.mark.slow
def test_ray_workers_load_the_imported_modules(tmp_path):
    """`--runner ray` workers import the same modules before they unpickle a job."""
    script = textwrap.dedent(f"""
        import functools
        from naslid.partition.ray_runner import RayRunner
        from naslid.plugins import load_plugins
        from naslid.spaces import get_space
        load_plugins([{str(EXAMPLE)!r}])
        runner = RayRunner(num_cpus=1)
        print([space.name for space in runner.run([functools.partial(get_space, "chain")] * 2)])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['chain', 'chain']"


# --- a plug-in is checked when it registers (issue 33): a name taken already, or a space that cannot work ---

_CHAIN = EXAMPLE.read_text()


def _without(text: str, old: str, new: str = "") -> str:
    assert old in text
    return text.replace(old, new)


BROKEN_PLUGINS = [
    ("nb201_again", "from naslid.spaces import NB201Space, register_space\nclass Mine(NB201Space):\n    pass\n"
     "register_space('nb201', Mine)\n", "search space 'nb201' is already registered (naslid.spaces.nb201.NB201Space); "
     "registering naslid_user_nb201_again.Mine under the same name needs replace=True"),
    ("chain_five_classes", _without(_CHAIN, "nn.Linear(c, self.config.num_classes)", "nn.Linear(c, 5)"),
     "(naslid_user_chain_five_classes.ChainSuperNet): a forward of 2 images gives shape (2, 5); expected (2, 13)"),
    ("chain_no_make_arch", _without(_CHAIN, "    def make_arch(self, ops) -> ChainArch:\n        return "
                                            "ChainArch(tuple(ops))\n"), "search space 'chain' "
     "(naslid_user_chain_no_make_arch.ChainSpace) lacks make_arch"),
    ("chain_no_probes", _without(_CHAIN, "return list(self.blocks)", "return []"),
     "probed_layers() gives 0 modules; expected at least one nn.Module"),
    ("chain_probes_twice", _without(_CHAIN, "return list(self.blocks)", "return [self.blocks[0], self.blocks[0]]"),
     "probed_layers() lists a module twice"),
    ("chain_probe_unused", _without(_CHAIN, "return list(self.blocks)", "return [*self.blocks, nn.ReLU()]"),
     "its 4 probed layers fired 3 times in one forward; each must fire exactly once"),
    ("chain_bad_round_trip", _without(_CHAIN, 'return "-".join(arch.ops)', 'return "+".join(arch.ops)'),
     "make_arch, format, parse or canonical_key failed"),
]


@pytest.fixture
def restored_spaces():
    """Registrations a test's imports make are undone afterwards."""
    from naslid import nn as naslid_nn
    from naslid import spaces
    from naslid.spaces import base

    saved = dict(spaces.SPACES), dict(base._INSTANCES), dict(naslid_nn.SUPERNETS)
    yield
    for table, entries in zip((spaces.SPACES, base._INSTANCES, naslid_nn.SUPERNETS), saved, strict=True):
        table.clear()
        table.update(entries)


@pytest.mark.parametrize("name, text, message", BROKEN_PLUGINS, ids=[name for name, _, _ in BROKEN_PLUGINS])
def test_a_plugin_that_breaks_the_contract_is_refused_when_imported(restored_spaces, tmp_path, capsys, name, text,
                                                                    message):
    from naslid.cli import main

    module = tmp_path / f"{name}.py"
    module.write_text(text)
    assert main(["spaces", "--import", str(module)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_second_module_registering_a_taken_name_is_refused_unless_it_says_replace(restored_spaces, tmp_path,
                                                                                      capsys):
    from naslid.cli import main
    from naslid.spaces import SPACES

    copy = tmp_path / "chain_again.py"
    copy.write_text(_CHAIN)
    assert main(["spaces", "--import", str(EXAMPLE), "--import", str(copy)]) == 2
    assert ("search space 'chain' is already registered (naslid_user_chain_space.ChainSpace); registering "
            "naslid_user_chain_again.ChainSpace") in capsys.readouterr().err
    assert main(["spaces", "--import", str(EXAMPLE), "--import", str(EXAMPLE)]) == 0  # the same module: no harm
    replacing = tmp_path / "chain_replacing.py"
    replacing.write_text(_CHAIN.replace("register_space(ChainSpace.name, ChainSpace)",
                                        "register_space(ChainSpace.name, ChainSpace, replace=True)")
                         .replace("ChainSuperNet)\n", "ChainSuperNet, replace=True)\n"))
    assert main(["spaces", "--import", str(replacing)]) == 0
    assert SPACES["chain"].__module__ == "naslid_user_chain_replacing"
