"""A run directory's files, named once and read without torch.

`RunDirectory` is what report, check and the other readers of a run use to find and read its files: the
configuration (as JSON), the partition tree, each node's training history, the result files and the writer's lock.
Importing this module imports no torch; reading the tree or a checkpoint imports what it needs on first use.
Who writes the files: `naslid.runs.partition` (config, split, tree, checkpoints), `naslid.runs.results` (metrics,
ranking curve, comparison tables), `naslid.runs.tracking`, `naslid.runs.search` and `naslid.runs.compare`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from naslid.reading import read_json
from naslid.runs.lock import lock_run_directory, release_run_directory

if TYPE_CHECKING:
    from naslid.partition import PartitionTree

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
TREE_FILE = "partition_tree.json"
SPLIT_FILE = "split.json"  # the train/valid indices every method of a run shares
NODES_FOLDER = "nodes"  # node<ID>.pt, one checkpoint per node (node<ID>_<finetune>.pt for a fresh fine-tuning cycle)
TRACKING_FILE = "tracking.json"
TIMINGS_FILE = "timings.json"
SHARED_ROOT_FILE = "shared_root.json"
PROXY_SCORES_FILE = "proxy_scores.json"
METRICS_FILE = "metrics.jsonl"
RANKING_CURVE_FILE = "ranking_curve.jsonl"
COMPARE_FILE = "compare.json"
COMPARE_MARKDOWN_FILE = "compare.md"
COMPARE_CSV_FILE = "compare.csv"
SEARCH_ALGORITHMS = ("evolution", "random")
COMPARE_SEARCH_FILE = "search.json"


def search_file_name(algorithm: str) -> str:
    """The file `naslid search --algorithm ALGORITHM` writes in a run directory (compare writes search.json)."""
    return f"search_{algorithm}.json"


# the search results a run may hold, in the order a reader prefers them
SEARCH_FILES = (*(search_file_name(algorithm) for algorithm in SEARCH_ALGORITHMS), COMPARE_SEARCH_FILE)
# the files only a run whose tree exists can hold (a lost tree is a problem once one of them is there)
RESULT_FILES = (METRICS_FILE, PROXY_SCORES_FILE, COMPARE_SEARCH_FILE, *SEARCH_FILES[:-1])


class RunDirectory:
    """The files of one partition run directory (`naslid train`, `naslid partition`, or a method of a comparison).

    Paths and reads only: nothing here trains, and nothing is cached, so every call sees the files as they are.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """The path of the run's file `name` (one of this module's `*_FILE` names)."""
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def tree_path(self) -> Path:
        return self.path / TREE_FILE

    @property
    def split_path(self) -> Path:
        return self.path / SPLIT_FILE

    @property
    def nodes_path(self) -> Path:
        return self.path / NODES_FOLDER

    def checkpoint_path(self, node_id: int, variant: str | None = None) -> Path:
        """Where node `node_id`'s checkpoint is written (`variant`: a fresh fine-tuning cycle's, e.g. "restart")."""
        return self.nodes_path / (f"node{node_id}.pt" if variant is None else f"node{node_id}_{variant}.pt")

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def has_tree(self) -> bool:
        return self.tree_path.is_file()

    def has_trained_state(self) -> bool:
        """Whether the run holds anything trained (a partition tree or a checkpoint), not just a configuration."""
        return self.has_tree() or any(self.nodes_path.glob("*.pt"))

    def read_config(self) -> dict[str, Any]:
        """config.json as written (a dict; `naslid.runs.config.RunConfig.load` turns it into the dataclasses)."""
        data = read_json(self.config_path, what="run configuration")
        if not isinstance(data, dict):
            raise ValueError(f"run configuration {self.config_path} holds a {type(data).__name__}; expected an object")
        return data

    def read_tree(self) -> PartitionTree:
        """The partition tree; a missing or damaged file is an error naming it."""
        from naslid.partition import PartitionTree  # imports torch: only when a tree is read

        return PartitionTree.load(self.tree_path)

    def optional_json(self, name: str) -> tuple[Any, str | None]:
        """(data, None) for the run's JSON file `name`, or (None, why) when it is absent or unreadable."""
        path = self.file(name)
        if not path.is_file():
            return None, f"{path.name} not found"
        try:
            return json.loads(path.read_text()), None
        except (OSError, ValueError) as error:
            return None, f"{path.name} could not be read ({error})"

    def timings(self) -> dict[str, float]:
        """Seconds per phase, summed over every call that worked on the run (empty when none were recorded)."""
        data, _ = self.optional_json(TIMINGS_FILE)
        return data if isinstance(data, dict) else {}

    def histories(self, tree: PartitionTree, problems: list[str] | None = None) -> dict[int, list[dict]]:
        """Each node's training history, read from its checkpoint (ancestors' epochs included), by node id.

        A node whose checkpoint is missing is left out; so is one whose file cannot be read, when `problems` is
        given (one line per such node is appended to it). Without `problems`, a damaged file is an error.
        """
        from naslid.train import load_checkpoint  # imports torch: only when a checkpoint is read

        histories = {}
        for node in tree.nodes.values():
            if node.checkpoint is None:
                continue
            path = self.path / node.checkpoint
            if problems is None:
                if path.is_file():
                    histories[node.id] = load_checkpoint(path)["history"]
                continue
            try:
                histories[node.id] = list(load_checkpoint(path)["history"])
            except (OSError, ValueError, KeyError) as error:
                problems.append(f"node {node.id}: {error}")
        return histories

    def lock(self) -> bool:
        """Take the writer's lock (`naslid.runs.lock`); True once held, an error naming the holder otherwise."""
        return lock_run_directory(self.path)

    def release(self) -> None:
        release_run_directory(self.path)

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporary files a killed writer left (call only while holding the lock)."""
        stale = [path for folder in (self.path, self.nodes_path) if folder.is_dir()
                 for path in folder.glob("*.tmp") if path.is_file()]
        for path in stale:
            logger.info("removing %s, left by an interrupted write", path)
            path.unlink(missing_ok=True)
        return stale


def comparison_runs(folder: str | os.PathLike) -> list[Path]:
    """The run directories of a `naslid compare` folder (each method's, each seed's, the shared roots), in order;
    empty for any other folder."""
    folder = Path(folder)
    runs = sorted(path.parent for pattern in ("*/" + CONFIG_FILE, "seed*/*/" + CONFIG_FILE)
                  for path in folder.glob(pattern))
    return runs if (folder / COMPARE_FILE).is_file() or runs else []
