"""Search: evolutionary and random search over (unions of) sub-spaces, on any objective."""

from naslid.search.budget import CostConstraint, cost_constraint, with_latency
from naslid.search.evolution import SearchConfig, crossover, evolutionary_search, mutate
from naslid.search.proxy import ProxyConfig, ProxyEvaluator, accuracy, recalibrate_batchnorm
from naslid.search.random_search import random_search
from naslid.search.result import SEARCH_SCHEMA, Evaluation, SearchResult, load_search_result
from naslid.search.union import SubSpaceUnion

__all__ = [
    "SEARCH_SCHEMA",
    "CostConstraint",
    "cost_constraint",
    "Evaluation",
    "ProxyConfig",
    "ProxyEvaluator",
    "accuracy",
    "recalibrate_batchnorm",
    "SearchConfig",
    "SearchResult",
    "SubSpaceUnion",
    "crossover",
    "evolutionary_search",
    "load_search_result",
    "mutate",
    "random_search",
    "with_latency",
]
