"""naslid: neural architecture search with local intrinsic dimension (NAS-LID)."""

__version__ = "0.1.0"
