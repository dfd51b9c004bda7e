"""Model inputs: the 23 technical indicators every model and the training form know
(:mod:`engine.features.indicators`), the optional groups computed from the other kline columns
(:mod:`engine.features.groups`) and an operator's own group (:mod:`engine.features.custom`), put
together per configuration by :mod:`engine.features.inputs`."""
from engine.features.indicators import (FEATURE_COLUMNS, HISTORY_BARS, WARMUP_BARS, build_dataset, compute_features,
                                        latest_features, make_labels)

__all__ = ["FEATURE_COLUMNS", "HISTORY_BARS", "WARMUP_BARS", "build_dataset", "compute_features", "latest_features",
           "make_labels"]
