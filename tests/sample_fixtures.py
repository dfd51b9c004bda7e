"""Training samples for tests: any numbers made plausible (each input clipped into the range real markets
produce, engine.features.inputs.PLAUSIBLE), so validation accepts them."""
from __future__ import annotations

import numpy as np

from engine.features.inputs import PLAUSIBLE


def plausible(features: dict) -> dict:
    """``features`` with each value clipped into its plausible range."""
    return {name: float(np.clip(value, *PLAUSIBLE.get(name, (-np.inf, np.inf)))) for name, value in features.items()}
