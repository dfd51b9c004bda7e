"""The outcome model (meta-labeling): will a trade opened on this signal be profitable after costs?"""
from engine.outcome.learner import INPUT_NAMES, MIN_SAMPLES, OutcomeLearner, outcome_inputs
from engine.outcome.threshold import choose_threshold

__all__ = ["INPUT_NAMES", "MIN_SAMPLES", "OutcomeLearner", "choose_threshold", "outcome_inputs"]
