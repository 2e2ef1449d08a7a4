"""Checks that a run directory's configuration, partition tree and checkpoints belong together.

A run is opened only when they agree (`naslid.runs.opened.OpenedRun` calls `verify_run`), a report is written only
of a run that passes (`naslid report`), and `naslid check RUN` lists every problem; on a comparison folder, every run
in it. The files are read through `naslid.runs.run_directory`; the checkpoints and the network's shapes need torch.
Each problem is one line naming the file and the repair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import torch

from naslid.nn import build_supernet_for
from naslid.partition import PartitionNode, PartitionTree
from naslid.runs.config import RunConfig, config_digest, with_resolved_paths
from naslid.runs.run_directory import RESULT_FILES, RunDirectory, comparison_runs
from naslid.spaces import SubSpace
from naslid.train import load_checkpoint


def verify_run(run_dir: str | Path, *, missing_ok: bool = False) -> list[str]:
    """Every disagreement between `run_dir`'s config.json, partition_tree.json and node checkpoints, one line each.

    Checked: the children of every split partition their parent's space exactly, parents and children agree and
    form no cycle, the root holds the configured space, and every checkpoint the tree names is that node's
    (node id, parent, sub-space), was trained under this configuration (digest) and has the configured network's
    shapes. Checkpoints written before they recorded their node, parent or digest are checked for what they hold.
    `missing_ok`: a checkpoint file that is gone or unreadable is left to the run, whose reader says how it is
    redone (`OpenedRun.read_checkpoint`).
    """
    directory = RunDirectory(run_dir)
    run_dir = directory.path
    if not directory.has_config() and comparison_runs(run_dir):
        return [f"{run}: {problem}" if not problem.startswith(str(run)) else problem
                for run in comparison_runs(run_dir) for problem in verify_run(run, missing_ok=missing_ok)]
    unknown = _unregistered_space(directory)
    if unknown:
        return [unknown]
    try:
        cfg = RunConfig.load(directory.config_path)
    except (OSError, ValueError) as error:
        return [f"{error}; is {run_dir} a naslid run directory? restore config.json, or start again"]
    tree_path = directory.tree_path
    if not directory.has_tree():
        return _lost_tree(directory)  # else nothing trained yet, or the root's first epochs: nothing to check against
    try:
        tree = directory.read_tree()
    except (OSError, ValueError) as error:
        return [f"{error}; restore it from a copy, or start again in a new run directory"]
    problems = [f"{tree_path}: {problem}; restore it from a copy, or start again in a new run directory"
                for problem in tree_problems(tree, SubSpace(cfg.space, cfg.search_space))]
    shapes = _network_shapes(cfg)
    digest = config_digest(with_resolved_paths(cfg))
    checked = [_checkpoint_problems(run_dir, node, cfg, shapes, digest, missing_ok)
               for node in sorted(tree.nodes.values(), key=lambda n: n.id) if node.checkpoint is not None]
    code = _other_code(run_dir, cfg, checked)
    if code:
        return problems + [code]
    return problems + [problem for found in checked for problem in found.problems]


def _unregistered_space(directory: RunDirectory) -> str | None:
    """The problem of a run whose space this process does not know (a space of one's own, not imported)."""
    from naslid.nn import SUPERNETS

    try:
        name = directory.read_config().get("search_space", "nb201")
    except (OSError, ValueError):
        return None  # RunConfig.load says what is wrong with the file
    path = directory.config_path
    if not isinstance(name, str) or name in SUPERNETS:
        return None
    return (f"{path}: the run's search space {name!r} is not registered in this process (known: {sorted(SUPERNETS)}); "
            f"pass --import MODULE, the module that registers it, as the run was made (docs/own-space.md); the run's "
            "files are left alone")


def _lost_tree(directory: RunDirectory) -> list[str]:
    """A missing tree is a problem once the run holds what only follows it: a child's checkpoint or results."""
    later = sorted(path.name for path in directory.nodes_path.glob("node*.pt")
                   if path != directory.checkpoint_path(0))
    later += [name for name in RESULT_FILES if directory.file(name).is_file()]
    if not later:
        return []
    return [f"{directory.tree_path} is missing, but the run holds {', '.join(later[:4])}, which only follow it; "
            "restore it from a copy, or start again in a new run directory"]


@dataclass
class _Checked:
    """What checking one checkpoint found."""

    problems: list[str] = field(default_factory=list)
    shape: str | None = None  # the network-shape mismatch, when there is one
    same_settings: bool = False  # the checkpoint records config.json's digest


def _other_code(run_dir: Path, cfg: RunConfig, checked: list[_Checked]) -> str | None:
    """When every checkpoint was trained under config.json as it is (the digests agree) and none has the shapes of
    the network built from it now, the code that builds the network differs (another module registering the space),
    not the files: one problem that says so, and no advice to delete good checkpoints."""
    if not checked or not all(found.shape and found.same_settings for found in checked):
        return None
    from naslid.nn import SUPERNETS
    from naslid.registry import describe

    return (f"{run_dir}: none of its {len(checked)} checkpoints has the shapes of the network the "
            f"{cfg.search_space!r} space builds from config.json now ({checked[0].shape}), though each was trained "
            f"under this config.json: the code registered for {cfg.search_space!r} "
            f"({describe(SUPERNETS.get(cfg.search_space))}) is not the code the run was made with; import the module "
            "the run was made with (--import MODULE). The checkpoints are left alone")


def tree_problems(tree: PartitionTree, root_space: SubSpace) -> list[str]:
    """What is wrong with the tree as a partition of `root_space` (empty: nothing)."""
    problems = []
    if tree.root.parent is not None:
        problems.append(f"the root (node 0) names parent {tree.root.parent}")
    if tree.root.subspace != root_space:
        problems.append(f"the root's space {tree.root.subspace} is not config.json's {root_space}")
    for node in tree.nodes.values():
        for child_id in node.children:
            child = tree.nodes[child_id]
            if child.parent != node.id:
                problems.append(f"node {node.id} lists child {child_id}, whose parent is {child.parent}")
        if node.parent is not None and node.id not in tree.nodes[node.parent].children:
            problems.append(f"node {node.id} names parent {node.parent}, which does not list it as a child")
    problems += _cycle_problems(tree)
    for node in tree.nodes.values():
        if node.children and all(child in tree.nodes for child in node.children):
            problems += _partition_problems(node, [tree.nodes[child] for child in node.children])
    return problems


def _cycle_problems(tree: PartitionTree) -> list[str]:
    problems, reached, stack = [], set(), [0]
    while stack:
        node_id = stack.pop()
        if node_id in reached:
            problems.append(f"node {node_id} is reached twice from the root: the tree has a cycle or a shared child")
            continue
        reached.add(node_id)
        stack.extend(tree.nodes[node_id].children)
    unreached = sorted(set(tree.nodes) - reached)
    if unreached:
        problems.append(f"nodes {unreached} cannot be reached from the root (a cycle, or a lost parent)")
    return problems


def _partition_problems(parent: PartitionNode, children: list[PartitionNode]) -> list[str]:
    """Children partition the parent exactly: each inside it, no two overlapping, their sizes adding up."""
    problems = []
    for child in children:
        if child.subspace.space.name != parent.subspace.space.name or not all(
                set(ops) <= set(allowed) for ops, allowed in zip(child.subspace.allowed, parent.subspace.allowed,
                                                                 strict=True)):
            problems.append(f"node {child.id}'s space is not inside its parent {parent.id}'s")
    for first, second in combinations(children, 2):  # two boxes overlap unless some point's choices are disjoint
        if all(set(a) & set(b) for a, b in zip(first.subspace.allowed, second.subspace.allowed, strict=True)):
            problems.append(f"nodes {first.id} and {second.id} (children of node {parent.id}) overlap")
    total = sum(child.subspace.size() for child in children)
    if not problems and total != parent.subspace.size():
        problems.append(f"the children {parent.children} of node {parent.id} hold {total} architectures, their "
                        f"parent {parent.subspace.size()}")
    return problems


def _network_shapes(cfg: RunConfig) -> dict[str, tuple[int, ...]] | None:
    """The state_dict shapes of the configured supernet, built on the meta device (no memory); None if it cannot be."""
    try:
        with torch.device("meta"):
            net = build_supernet_for(cfg.search_space, cfg.network)
    except Exception:  # a network that does not build on the meta device: its shapes are not checked
        return None
    return {name: tuple(value.shape) for name, value in net.state_dict().items()}


def _checkpoint_problems(run_dir: Path, node: PartitionNode, cfg: RunConfig,
                         shapes: dict[str, tuple[int, ...]] | None, digest: str, missing_ok: bool) -> _Checked:
    path = run_dir / node.checkpoint
    if node.is_leaf:
        repair = f"delete it and run `naslid finetune {run_dir}` to redo it, or restore it from a copy"
    else:
        repair = "restore it from a copy (it is needed again only if a child loses its own), or start again"
    if not path.is_file():
        return _Checked([] if missing_ok else [f"{path}, node {node.id}'s checkpoint, is missing: "
                        + (f"run `naslid finetune {run_dir}` to redo it" if node.is_leaf else repair)])
    try:
        state = load_checkpoint(path)
    except ValueError as error:  # unreadable: with missing_ok, the run's reader says how it redoes the file
        return _Checked([] if missing_ok else [f"{error}; {repair}"])
    problems = []
    owner = state.get("node")
    if owner is not None and owner != node.id:
        problems.append(f"holds node {owner}'s weights, not node {node.id}'s")
    if "parent" in state and state["parent"] != node.parent:
        problems.append(f"records parent {state['parent']}, the tree node {node.id}'s parent {node.parent}")
    if state.get("subspace") is not None:
        try:
            subspace = SubSpace.from_json(state["subspace"])
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"records no readable sub-space ({error})")
        else:
            if subspace != node.subspace:
                problems.append(f"was trained on the sub-space {subspace}, not node {node.id}'s {node.subspace}")
    if state.get("config_digest") not in (None, digest):
        problems.append("was trained under other settings than config.json holds now (its digest differs): "
                        "restore config.json, or start again")
    shape = _shape_mismatch(state.get("model"), shapes)
    if shape is not None:
        problems.append(f"holds a network of another shape than config.json's network ({shape}): another space or "
                        "width; restore config.json")
    problems += _epoch_problems(state, node, cfg)
    return _Checked([f"{path}: {problem}; {repair}" for problem in problems], shape,
                    state.get("config_digest") == digest)


def _shape_mismatch(model: object, shapes: dict[str, tuple[int, ...]] | None) -> str | None:
    """How the checkpoint's weights differ from the configured network's shapes (None: they agree, or unknown)."""
    if shapes is None:
        return None
    if not isinstance(model, dict):
        return "it holds no network weights"
    missing = [name for name in shapes if name not in model]
    unexpected = [name for name in model if name not in shapes]
    wrong = [f"{name} {tuple(model[name].shape)} in the file, {shapes[name]} from config.json"
             for name in shapes if name in model and tuple(getattr(model[name], "shape", ())) != shapes[name]]
    if not (missing or unexpected or wrong):
        return None
    return wrong[0] if wrong else (f"{len(missing)} weights missing, {len(unexpected)} unknown (e.g. "
                                   f"{(missing or unexpected)[0]})")


def _epoch_problems(state: dict, node: PartitionNode, cfg: RunConfig) -> list[str]:
    """The history is one entry per epoch up to the checkpoint's epoch, which is at least what the tree records."""
    epoch, history = state.get("epoch"), state.get("history")
    if not isinstance(epoch, int) or not isinstance(history, list):
        return []
    problems = []
    if [entry.get("epoch") if isinstance(entry, dict) else None for entry in history] != list(range(1, epoch + 1)):
        problems.append(f"its history does not run epoch by epoch from 1 to its epoch {epoch} (edited?)")
    fresh_cycle = node.finetuned and node.parent is not None and cfg.schedule.finetune in ("transfer", "restart")
    recorded = cfg.schedule.finetune_epochs if fresh_cycle else node.trained_epochs
    if epoch < recorded:
        problems.append(f"is at epoch {epoch}, but the tree records node {node.id} trained to epoch {recorded}")
    return problems
