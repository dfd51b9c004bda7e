"""The batch model: a tabular model retrained from scratch on a window of stored candles.

``fit_batch_model`` is the pure, fast fit (used in-memory by the walk-forward replay);
``BatchTrainer`` retrains from the store, validates, versions and serves it.
"""
from engine.batch.model import BatchModel, fit_batch_model
from engine.batch.trainer import BatchTrainer

__all__ = ["BatchModel", "BatchTrainer", "fit_batch_model"]
