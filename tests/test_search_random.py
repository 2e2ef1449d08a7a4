"""Random search: budget, distinct uniform draws, sub-space unions, exhaustion, determinism."""

import pytest

from naslid.search import SubSpaceUnion, random_search
from naslid.spaces import NB201_OPS, NB201Arch, NB201Space, SubSpace


def _score(arch: NB201Arch) -> float:
    return float(sum(NB201_OPS.index(op) * (edge + 1) for edge, op in enumerate(arch.ops)))


def test_random_search_respects_budget_without_repeats() -> None:
    calls: list[NB201Arch] = []

    def objective(arch: NB201Arch) -> float:
        calls.append(arch)
        return _score(arch)

    result = random_search(objective, NB201Space(), budget=321, seed=0)
    assert result.method == "random"
    assert len(calls) == 321 == result.num_evaluations == len(set(calls))
    assert [evaluation.index for evaluation in result.history] == list(range(321))
    assert result.best_score == max(_score(arch) for arch in calls)
    assert not result.exhausted


def test_random_search_is_deterministic() -> None:
    first = random_search(_score, NB201Space(), budget=200, seed=11)
    again = random_search(_score, NB201Space(), budget=200, seed=11)
    other = random_search(_score, NB201Space(), budget=200, seed=12)
    assert first.history == again.history
    assert first.history != other.history


def test_random_search_exhausts_a_small_union() -> None:
    fixed = [["nor_conv_3x3"]] * 4
    leaves = [
        SubSpace([["none", "skip_connect"], ["none", "avg_pool_3x3"], *fixed], "nb201"),
        SubSpace([["nor_conv_1x1"], NB201_OPS, *fixed], "nb201"),
    ]
    union = SubSpaceUnion(leaves)
    result = random_search(_score, leaves, budget=100, seed=0)
    assert result.exhausted and result.num_evaluations == union.size() == 9
    assert sorted(evaluation.arch for evaluation in result.history) == sorted(union.all())


def test_random_search_batches() -> None:
    sizes: list[int] = []

    def objective_batch(archs: list[NB201Arch]) -> list[float]:
        sizes.append(len(archs))
        return [_score(arch) for arch in archs]

    batched = random_search(
        None, NB201Space(), budget=130, seed=3, objective_batch=objective_batch, batch_size=50
    )
    single = random_search(_score, NB201Space(), budget=130, seed=3, batch_size=50)
    assert sizes == [50, 50, 30]
    assert batched.history == single.history


@pytest.mark.parametrize(("arguments", "parameter"), [({"budget": 0}, "budget"), ({"seed": -2}, "seed")])
def test_random_search_rejects_bad_values(arguments: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        random_search(_score, NB201Space(), **{"budget": 10, "seed": 0, **arguments})
