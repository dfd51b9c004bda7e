"""Online learning: three incremental models, test-then-train, with drift detection and a persisted buffer."""
from engine.online.drift import ADWIN
from engine.online.learners import OnlineLearners
from engine.online.manager import OnlineLearningManager
from engine.online.models import MODEL_NAMES, make_model
from engine.online.samples import SOURCES

__all__ = ["ADWIN", "MODEL_NAMES", "OnlineLearners", "OnlineLearningManager", "SOURCES", "make_model"]
