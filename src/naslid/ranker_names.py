"""The built-in rankers' names, for help text that imports no torch (`naslid rank --help` stays fast); a test keeps
them equal to the registry's built-in entries (`naslid.rankers.RANKERS` with `naslid.runs.rank` imported)."""

TRAINING_FREE = ("params", "flops", "synflow", "naswot", "jacob-cov", "snip", "grad-norm", "lid-init")
WITH_A_RUN = ("proxy", "lid-supernet")
AGGREGATE = "agg"
