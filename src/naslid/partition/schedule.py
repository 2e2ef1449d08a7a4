"""The split schedule as data: which method, when to split, how to fine-tune the leaves.

- ``spos``: no split; one supernet trained for all the epochs.
- ``few-shot`` (Zhao et al. 2021): one-shot training, then one edge split into one child per op.
- ``split``: NAS-LID / GM-NAS / random splits into two groups at each split epoch (2^levels leaves).
Then every leaf is fine-tuned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from naslid.options import flag, integer, whole_numbers

METHODS = ("spos", "few-shot", "split")
# how a leaf starts its fine-tuning after the last split:
# - "inherit": the parent's weights, optimizer state and place in the learning-rate schedule (one cosine for the
#   whole path from the root);
# - "transfer": the parent's weights, a fresh optimizer and a fresh cosine cycle of `finetune_epochs` (Few-shot
#   NAS: each child sub-supernet starts from the one-shot weights with a new optimizer and schedule);
# - "restart": a fresh initialisation, a fresh optimizer and cycle (the NAS-LID release's default,
#   `load_from_parent=False`; GM-NAS re-initialises its sub-supernets): the splits supply only the sub-spaces.
FINETUNE_MODES = ("inherit", "transfer", "restart")


@dataclass
class ScheduleConfig:
    """When to split and how to fine-tune; defaults: the NAS-LID authors' split schedule (16 leaves), with leaves
    that inherit (the release restarts them: `finetune="restart"`)."""

    method: str = "split"
    split_epochs: tuple[int, ...] = field(default=(20, 40, 60, 80), metadata=flag(
        "--split-epochs", parse=whole_numbers, partition=True,
        help="cumulative split epochs, e.g. 20,40,60,80"))  # cumulative epochs; each level doubles the leaves
    finetune_epochs: int = field(default=10, metadata=flag(
        "--finetune-epochs", parse=integer(0), partition=True,
        help="fine-tuning epochs per leaf"))  # per leaf after the last split (the authors' config: 10)
    finetune: str = field(default="inherit", metadata=flag(
        "--finetune", choices=FINETUNE_MODES, partition=True,
        help="how leaves start fine-tuning: inherit (weights, optimizer and place in the cosine), transfer "
        "(weights; fresh optimizer and cosine: Few-shot NAS) or restart (fresh weights, optimizer and cosine: the "
        "NAS-LID release, GM-NAS)"))  # one of FINETUNE_MODES: inherit, transfer or restart (see above)
    # choice point split one child per choice by few-shot NAS (its NB201 release: 1<-0)
    fewshot_edge: int = field(default=0, metadata=flag(
        "--fewshot-edge", parse=integer(0), partition=True,
        help="choice point that few-shot NAS splits one child per choice (NB201: edge index 0-5)"))

    def __post_init__(self) -> None:
        if any(isinstance(e, bool) or not isinstance(e, int) for e in self.split_epochs):
            raise ValueError(f"split_epochs={self.split_epochs}; expected integer epochs")
        self.split_epochs = tuple(self.split_epochs)
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; expected one of {list(METHODS)}")
        if self.finetune not in FINETUNE_MODES:
            raise ValueError(f"finetune={self.finetune!r}; expected one of {list(FINETUNE_MODES)}")
        if not self.split_epochs or any(e < 1 for e in self.split_epochs):
            raise ValueError(f"split_epochs={self.split_epochs}; expected positive epochs")
        if list(self.split_epochs) != sorted(set(self.split_epochs)):
            raise ValueError(f"split_epochs={self.split_epochs}; expected strictly increasing cumulative epochs")
        finetune_epochs = self.finetune_epochs
        if isinstance(finetune_epochs, bool) or not isinstance(finetune_epochs, int) or finetune_epochs < 0:
            raise ValueError(f"finetune_epochs={self.finetune_epochs}; expected >= 0")
        if self.finetune != "inherit" and self.finetune_epochs == 0 and self.method != "spos":
            raise ValueError(f"finetune={self.finetune!r} starts each leaf on a fresh optimizer and learning-rate "
                             "cycle and needs finetune_epochs >= 1")
        if isinstance(self.fewshot_edge, bool) or not isinstance(self.fewshot_edge, int) or self.fewshot_edge < 0:
            raise ValueError(f"fewshot_edge={self.fewshot_edge!r}; expected a choice-point index >= 0 (NB201: 0..5)")

    @property
    def split_points(self) -> tuple[int, ...]:
        """Epochs at which a split happens for this method."""
        if self.method == "spos":
            return ()
        if self.method == "few-shot":
            return (self.split_epochs[-1],)
        return self.split_epochs

    @property
    def total_epochs(self) -> int:
        """The length of the training schedule: the last split epoch plus the fine-tuning."""
        return self.split_epochs[-1] + self.finetune_epochs

    def supernet_epochs(self) -> int:
        """Supernet-epochs the schedule trains in all (a cost measure comparable across methods)."""
        if self.method == "spos":
            return self.total_epochs
        if self.method == "few-shot":
            return self.split_epochs[-1] + 5 * self.finetune_epochs
        total, leaves, previous = 0, 1, 0
        for epoch in self.split_epochs:
            total += leaves * (epoch - previous)
            leaves, previous = leaves * 2, epoch
        return total + leaves * self.finetune_epochs

    def to_dict(self) -> dict:
        return {**asdict(self), "split_epochs": list(self.split_epochs)}
