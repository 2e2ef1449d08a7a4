"""A cost budget for search: only architectures at or under a FLOPs or parameter limit are considered."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from naslid.spaces import ChoiceArch

CostFunction = Callable[[ChoiceArch], Mapping[str, float]]


class CostConstraint:
    """`constraint(arch)` is True when `costs(arch)` is within every given limit; costs are cached per arch.

    `costs` returns at least ``mflops`` (multiply-accumulates, millions) and ``params_m`` (millions of
    parameters), e.g. a supernet's `arch_costs` at the run's input resolution.
    """

    def __init__(self, costs: CostFunction, max_mflops: float | None = None, max_params_m: float | None = None) -> None:
        if max_mflops is None and max_params_m is None:
            raise ValueError("a cost constraint needs max_mflops or max_params_m")
        self.costs = costs
        self.limits = {name: limit for name, limit in (("mflops", max_mflops), ("params_m", max_params_m))
                       if limit is not None}
        self._cache: dict[ChoiceArch, Mapping[str, float]] = {}

    def cost(self, arch: ChoiceArch) -> Mapping[str, float]:
        if arch not in self._cache:
            self._cache[arch] = self.costs(arch)
        return self._cache[arch]

    def __call__(self, arch: ChoiceArch) -> bool:
        cost = self.cost(arch)
        return all(cost[name] <= limit for name, limit in self.limits.items())

    def to_dict(self) -> dict:
        return {f"max_{name}": limit for name, limit in self.limits.items()}


def cost_constraint(costs: CostFunction, max_mflops: float | None = None,
                    max_params_m: float | None = None) -> CostConstraint | None:
    """A `CostConstraint`, or None when no limit is given (the search is unconstrained)."""
    if max_mflops is None and max_params_m is None:
        return None
    return CostConstraint(costs, max_mflops, max_params_m)
