"""A cost budget for search: only architectures at or under a FLOPs, parameter or latency limit are considered."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from naslid.spaces import ChoiceArch

CostFunction = Callable[[ChoiceArch], Mapping[str, float]]
LatencyFunction = Callable[[ChoiceArch], float]


def with_latency(costs: CostFunction, latency: LatencyFunction | None) -> CostFunction:
    """`costs` with ``latency_ms`` added from `latency` (e.g. a latency table's prediction); `costs` without one."""
    if latency is None:
        return costs
    return lambda arch: {**costs(arch), "latency_ms": float(latency(arch))}


class CostConstraint:
    """`constraint(arch)` is True when `costs(arch)` is within every given limit; costs are cached per arch.

    `costs` returns at least ``mflops`` (multiply-accumulates, millions) and ``params_m`` (millions of
    parameters), e.g. a supernet's `arch_costs` at the run's input resolution. With `latency` (arch ->
    milliseconds, e.g. `naslid.nn.latency.latency_function`), the costs also hold ``latency_ms``, which
    `max_latency_ms` limits.
    """

    def __init__(self, costs: CostFunction, max_mflops: float | None = None, max_params_m: float | None = None,
                 max_latency_ms: float | None = None, latency: LatencyFunction | None = None) -> None:
        if max_mflops is None and max_params_m is None and max_latency_ms is None:
            raise ValueError("a cost constraint needs max_mflops, max_params_m or max_latency_ms")
        if max_latency_ms is not None and latency is None:
            raise ValueError(f"max_latency_ms={max_latency_ms} needs a latency function (a latency table: "
                             "`naslid latency-table`, then --latency-table FILE)")
        self.costs = with_latency(costs, latency)
        self.limits = {name: limit for name, limit in (("mflops", max_mflops), ("params_m", max_params_m),
                                                       ("latency_ms", max_latency_ms)) if limit is not None}
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


def cost_constraint(costs: CostFunction, max_mflops: float | None = None, max_params_m: float | None = None,
                    max_latency_ms: float | None = None, latency: LatencyFunction | None = None
                    ) -> CostConstraint | None:
    """A `CostConstraint`, or None when no limit is given (the search is unconstrained)."""
    if max_mflops is None and max_params_m is None and max_latency_ms is None:
        return None
    return CostConstraint(costs, max_mflops, max_params_m, max_latency_ms, latency)
