"""Drawing from the (low, high) ranges that configs give (synth/scene.py, synth/occlusion.py)."""
from __future__ import annotations

import numpy as np

Range = tuple[float, float]


def uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def log_uniform(rng: np.random.Generator, r: Range) -> float:
    return float(np.exp(rng.uniform(np.log(r[0]), np.log(r[1]))))
