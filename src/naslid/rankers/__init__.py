"""Architecture rankers: a score per architecture, higher meaning predicted better, from no training at all
(parameters, FLOPs, NASWOT, jacob_cov, SNIP, grad_norm, synflow, the LID profile) or from a trained run; rank
aggregates of any of them. One registry: `RANKERS`, spelled like compared methods (`naswot[batch-size=32]`,
`agg[params,naswot,lid-init]`)."""

from naslid.rankers.aggregate import AGGREGATION_RULES, Aggregate, aggregate_ranks, reference_objective
from naslid.rankers.base import (
    RANKER_SCORES_SCHEMA,
    RANKERS,
    Ranker,
    RankerUnavailable,
    ScoringContext,
    checked_score,
    get_ranker,
    is_ranker,
    register_ranker,
    split_top_level,
)
from naslid.rankers.costs import Flops, Params
from naslid.rankers.lid_profile import FEATURES, LIDInit, profile_feature
from naslid.rankers.training_free import NASWOT, SNIP, GradNorm, JacobianCovariance, Synflow, jacobian_covariance_score

__all__ = [
    "AGGREGATION_RULES", "Aggregate", "FEATURES", "Flops", "GradNorm", "JacobianCovariance", "LIDInit", "NASWOT",
    "Params", "RANKERS", "RANKER_SCORES_SCHEMA", "Ranker", "RankerUnavailable", "SNIP", "ScoringContext", "Synflow",
    "aggregate_ranks", "checked_score", "get_ranker", "is_ranker", "jacobian_covariance_score", "profile_feature",
    "reference_objective", "register_ranker", "split_top_level",
]
