"""Benchmark ground truth (NB201 table, official files) and ranking metrics on declared subsets."""

from naslid.bench.loading import Benchmark, load_benchmark
from naslid.bench.metrics import (
    kendall_tau_b,
    pearson,
    precision_at_k,
    spearman,
    top_k_kendall,
    top_k_mask,
)
from naslid.bench.official import OFFICIAL_COLUMNS, OfficialBenchmark
from naslid.bench.predictions import Predictions, parse_arch_key, read_predictions
from naslid.bench.scoring import (
    RANKING_METRICS,
    SCORES_SCHEMA,
    RankingMetric,
    RankingResult,
    ScoreReport,
    rank_metrics,
    read_scores,
    register_ranking_metric,
    score_predictions,
    write_scores,
)
from naslid.bench.subsets import (
    SUBSET_CHOICES,
    Subset,
    isomorphism_unique,
    random_architectures,
    read_architecture_list,
    select_subset,
    top_percent,
)
from naslid.bench.table import (
    DEFAULT_COLUMN,
    BenchmarkTable,
    ColumnInfo,
    GroundTruth,
    epochs_of_column,
    packaged_table_path,
)

__all__ = [
    "DEFAULT_COLUMN",
    "OFFICIAL_COLUMNS",
    "RANKING_METRICS",
    "SCORES_SCHEMA",
    "SUBSET_CHOICES",
    "Benchmark",
    "BenchmarkTable",
    "ColumnInfo",
    "GroundTruth",
    "OfficialBenchmark",
    "Predictions",
    "RankingMetric",
    "RankingResult",
    "ScoreReport",
    "Subset",
    "epochs_of_column",
    "isomorphism_unique",
    "kendall_tau_b",
    "packaged_table_path",
    "load_benchmark",
    "parse_arch_key",
    "pearson",
    "precision_at_k",
    "random_architectures",
    "rank_metrics",
    "read_architecture_list",
    "read_predictions",
    "read_scores",
    "register_ranking_metric",
    "score_predictions",
    "select_subset",
    "spearman",
    "top_k_kendall",
    "top_k_mask",
    "top_percent",
    "write_scores",
]
