"""Type and unit of an imported model (`cli.py assets import`). The type is guessed from proportions of the found
keypoints: the type whose procedural vehicles (the generator's parameter spaces) make them likeliest, each type's
features a Gaussian fitted to its samples; the unit (m, cm, mm, inch, ft) is the one giving the type's typical
length. Pure numpy.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from synth.vehicles import geometry, params
from synth.vehicles.geometry import Profile
from synth.vehicles.params import VEHICLE_TYPES, sample_params

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "ft": 0.3048}
UNIT_TOLERANCE = 1.35  # a unit is taken when it gives a length within this factor of the type's typical length


def type_features(kps: np.ndarray) -> np.ndarray:
    """Scale-free proportions of a vehicle from its 36 keypoints (left side)."""
    k = kps[:18]
    length = max(k[17, 0], k[16, 0]) - min(k[10, 0], k[11, 0])
    height = max(k[13, 2], k[14, 2], k[11, 2])
    x0 = min(k[10, 0], k[11, 0])
    f = [height / length, 2 * k[:, 1].max() / length, k[0, 2] / length, (k[1, 0] - k[0, 0]) / length,
         (k[17, 0] - k[1, 0]) / length]
    for i in (11, 12, 13, 14, 15, 16):
        f += [(k[i, 0] - x0) / length, k[i, 2] / height]
    # absolute sizes (metres): the unit is chosen before the final guess; an estate is lower than an MPV
    f += [length / 4.0, height / 1.5, 2 * k[:, 1].max() / 1.8]
    return np.array(f)


FEATURE_VERSION = b"3"


TYPE_SAMPLES = 150  # procedural vehicles per type the type guess is fitted to (about 7 s once, then cached)
TYPE_COV_SHRINK = 0.02  # each type's covariance (standardised features) shrunk this far towards the identity


@lru_cache(maxsize=1)
def _type_training() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Features of procedural vehicles of every type (the generator's parameter spaces), standardised. Cached
    on disk (keyed by the generator's source) since drawing them takes seconds."""
    import hashlib
    import os
    from pathlib import Path


    key = hashlib.sha1(FEATURE_VERSION + b"".join(Path(m.__file__).read_bytes() for m in (geometry, params)))
    key = key.hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pamtri" / f"import_types_{key}.npz"
    if cache.is_file():
        z = np.load(cache)
        feats, labels = z["feats"], z["labels"]
        lengths = dict(zip(z["len_types"].tolist(), z["len_values"].tolist()))
    else:
        rng = np.random.default_rng(7)
        feats, labels, lengths = [], [], {}
        for t in params.VEHICLE_TYPES:
            ls = []
            for _ in range(TYPE_SAMPLES):
                p = params.sample_params(t, rng)
                feats.append(type_features(geometry.keypoints(p)))
                labels.append(t)
                ls.append(geometry.Profile(p).length)
            lengths[t] = float(np.median(ls))
        feats, labels = np.array(feats), np.array(labels)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, feats=feats, labels=labels, len_types=np.array(list(lengths)),
                 len_values=np.array(list(lengths.values())))
        os.replace(tmp, cache)
    x = np.array(feats)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    return (x - mu) / sd, np.array(labels), mu, sd, lengths


@lru_cache(maxsize=1)
def _type_gaussians() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """Per type (name, mean, inverse covariance, log determinant) of its standardised features."""
    x, labels, _, _, _ = _type_training()
    out = []
    for t in dict.fromkeys(labels.tolist()):
        xt = x[labels == t]
        cov = (1 - TYPE_COV_SHRINK) * np.cov(xt.T) + TYPE_COV_SHRINK * np.eye(x.shape[1])
        out.append((t, xt.mean(0), np.linalg.inv(cov), float(np.linalg.slogdet(cov)[1])))
    return out


def guess_type(kps: np.ndarray) -> tuple[str, dict]:
    """The likeliest type for these keypoints and the types' posterior shares (equal priors; those >= 1 %).
    A Gaussian per type rather than the nearest procedural vehicles: the types overlap in a few proportions
    (estate / hatchback / MPV, van / MPV, sedan / hatchback) and differ in how those vary together, which the
    7 nearest of 60 samples per type missed (bench/import_roundtrip.py: 93.3 % -> 100 % right; 540 held-out
    procedural vehicles with 1.2 cm keypoint noise: 94 % -> 100 %, with 2.5 cm: 90 % -> 96 %)."""
    _, _, mu, sd, _ = _type_training()
    f = (type_features(kps) - mu) / sd
    names, logp = [], []
    for t, m, inv, logdet in _type_gaussians():
        d = f - m
        names.append(t)
        logp.append(-0.5 * float(d @ inv @ d) - 0.5 * logdet)
    logp = np.array(logp)
    post = np.exp(logp - logp.max())
    post /= post.sum()
    order = np.argsort(-post)
    return names[int(order[0])], {names[i]: float(post[i]) for i in order if post[i] >= 0.01}


# Squared Mahalanobis distance to the nearest type's Gaussian beyond which a model's proportions are unlike any
# procedural type's: chi-square's 99.9 % point for the 20 features (the shipped library reaches 19.6; an
# artist's long-hooded BMW M6 coupe 114, Kenney's toy SUV 343). The guess is then only the least unlike type.
TYPE_OUTLIER = 45.3


def type_distance(kps: np.ndarray) -> float:
    """Squared Mahalanobis distance of these keypoints' features to the nearest type's Gaussian."""
    _, _, mu, sd, _ = _type_training()
    f = (type_features(kps) - mu) / sd
    return min(float((f - m) @ inv @ (f - m)) for _, m, inv, _ in _type_gaussians())


def typical_length(type_name: str) -> float:
    return _type_training()[4][type_name]


def choose_unit(length_file: float, type_name: str, length_m: float | None,
                candidates: list[str] | None = None) -> tuple[str, float, bool]:
    """(unit name, metres per file unit, guessed?) from --length, else the unit giving the type's length, else
    the unit giving the length of one of the `candidates` types (default: any)."""
    if length_m:
        return "given length", length_m / length_file, False
    prior = typical_length(type_name)
    best = min(UNITS, key=lambda u: abs(np.log(length_file * UNITS[u] / prior)))
    if abs(np.log(length_file * UNITS[best] / prior)) <= np.log(UNIT_TOLERANCE):
        return best, UNITS[best], False
    # the coarse type may be wrong (a short bus looks like a van): the unit that fits a candidate's length best
    lengths = np.array([v for t, v in _type_training()[4].items() if candidates is None or t in candidates])
    fit = {u: np.min(np.abs(np.log(length_file * f / lengths))) for u, f in UNITS.items()}
    best = min(fit, key=fit.get)
    if fit[best] <= np.log(UNIT_TOLERANCE):
        return best, UNITS[best], False
    return "scaled to the type's typical length", prior / length_file, True


def coarse_type(length, width, height, wheel_radius, wheelbase) -> str:
    """Type from bounding proportions alone (before the scale is known): nearest type in these four ratios."""
    d = coarse_distances(length, width, height, wheel_radius, wheelbase)
    return min(d, key=d.get)


COARSE_MARGIN = 1.5  # a type is a candidate for the unit while its proportions are this close to the best's


def coarse_candidates(length, width, height, wheel_radius, wheelbase) -> list[str]:
    """The types whose bounding proportions come within COARSE_MARGIN of the nearest type's: those a unit may
    be chosen for (a short bus looks like a van; a car is never a bus, however long its file units make it)."""
    d = coarse_distances(length, width, height, wheel_radius, wheelbase)
    best = min(d.values())
    return [t for t, v in d.items() if v <= best + COARSE_MARGIN]


def coarse_distances(length, width, height, wheel_radius, wheelbase) -> dict[str, float]:
    """Per type, the distance of these ratios (height, width, wheel radius and wheelbase over length) to the
    nearest of 40 procedural vehicles of the type, each ratio in units of its typical spread."""
    f = np.array([height / length, width / length, wheel_radius / length, wheelbase / length])
    out = {}
    rng = np.random.default_rng(3)
    for t in VEHICLE_TYPES:
        best = np.inf
        for _ in range(40):
            p = sample_params(t, rng)
            prof = Profile(p)
            g = np.array([prof.height / prof.length, p.width / prof.length, p.wheel_radius / prof.length,
                          p.wheelbase / prof.length])
            best = min(best, float(np.linalg.norm((f - g) / np.array([0.05, 0.04, 0.008, 0.05]))))
        out[t] = best
    return out
