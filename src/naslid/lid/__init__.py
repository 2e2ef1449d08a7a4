"""LID estimators on batches of feature vectors and layer-wise LID profiling of any torch model.

This room imports no other naslid room, so it can measure any `torch.nn.Module`.
"""

from naslid.lid.estimators import ESTIMATORS, Estimator, get_estimator, register_estimator
from naslid.lid.knn import DUPLICATE_POLICIES, nearest_neighbour_distances
from naslid.lid.mle import MLE, MacKayGhahramani, mackay_ghahramani_lid, mle_lid
from naslid.lid.model_state import MODES, measuring
from naslid.lid.profile import default_layers, profile_layers, resolve_layers
from naslid.lid.result import LID_PROFILE_SCHEMA, LIDProfile, load_profiles, save_profiles, summarize
from naslid.lid.twonn import TwoNN, twonn_lid

__all__ = [
    "DUPLICATE_POLICIES", "ESTIMATORS", "Estimator", "LIDProfile", "LID_PROFILE_SCHEMA", "MLE", "MODES",
    "MacKayGhahramani", "TwoNN", "default_layers", "get_estimator", "load_profiles", "mackay_ghahramani_lid",
    "measuring", "mle_lid", "nearest_neighbour_distances", "profile_layers", "register_estimator", "resolve_layers",
    "save_profiles", "summarize", "twonn_lid",
]
