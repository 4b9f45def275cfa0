"""The identity plan: which (model, colour) every sample shows, and which split it lands in.

An identity is one (model, body colour) pair. Every paintable model gets an equal share of the images, split
evenly over its colours; a fixed-colour model is one identity and gets `fixed_model_share` of a paintable
model's share (0.5 by default: with 40 ten-colour models, 2 fixed-colour ones and n = 41,000 this is the
paper's set, 400 identities x 100 images + 2 x 500). Each identity keeps one exact paint, a shade of its colour
name drawn once from the seed; lighting makes it vary from image to image.

Held-out identities (`holdout_fraction`) never appear in `train`: their images go to `query` (a
`query_fraction` of each identity's images) and `gallery`, so a demo can train on some identities and
evaluate ReID on unseen ones. Sample order within the plan is a seeded shuffle, so every shard holds a mix of
identities and viewpoints. Everything is a pure function of (library, config, seed).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.config import Config
from synth.vocabulary import COLOR_NAMES

# Linear-RGB paint centres and spreads per VeRi colour name (shades a person would still call that name).
PAINT_SHADES: dict[str, tuple[tuple[float, float, float], float]] = {
    "yellow": ((0.80, 0.55, 0.02), 0.10),
    "orange": ((0.85, 0.22, 0.02), 0.08),
    "green": ((0.04, 0.22, 0.06), 0.06),
    "gray": ((0.22, 0.22, 0.23), 0.10),
    "red": ((0.55, 0.02, 0.02), 0.10),
    "blue": ((0.02, 0.07, 0.35), 0.08),
    "white": ((0.80, 0.80, 0.80), 0.06),
    "golden": ((0.55, 0.38, 0.12), 0.08),
    "brown": ((0.16, 0.07, 0.03), 0.05),
    "black": ((0.012, 0.012, 0.014), 0.008),
}


@dataclass
class IdentityConfig(Config):
    """How images are shared over identities and splits."""

    fixed_model_share: float = 0.5  # a fixed-colour model's image share relative to a paintable model's
    holdout_fraction: float = 0.0  # fraction of identities kept out of train (evaluated in query/gallery)
    query_fraction: float = 0.2  # of a held-out identity's images, the fraction that become queries
    shuffle: bool = True  # interleave identities over the sample order (else grouped by identity)
    max_models: int = 0  # use only this many models (spread over the library's name order); 0 = all
    colors_per_model: int = 0  # paint each paintable model in only this many of its colours (seeded); 0 = all
    # Twin hard negatives: this fraction of the identities is repainted in the exact colour and paint shade of
    # another identity of the same model, so the pair differs only in its marks (plate, stickers, livery,
    # dirt; synth/appearance.py). Real ReID errors are dominated by such look-alikes.
    twin_fraction: float = 0.0


@dataclass(frozen=True)
class Identity:
    vehicle_id: int  # dense 0..I-1, in (model, colour) order
    model_index: int
    model_name: str
    color_id: int
    type_id: int
    paint_rgb: tuple[float, float, float]  # linear RGB, fixed for the identity
    num_images: int
    held_out: bool
    twin_of: int = -1  # vehicle_id of the identity whose model, colour and paint this one copies; -1 none


@dataclass
class IdentityPlan:
    identities: list[Identity]
    sample_identity: np.ndarray  # (n,) identity index of every sample
    sample_split: np.ndarray  # (n,) split name of every sample
    splits: dict[str, np.ndarray] = field(default_factory=dict)  # split -> global sample indices, ascending

    @property
    def num_samples(self) -> int:
        return len(self.sample_identity)


def _largest_remainder(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer counts proportional to weights that sum exactly to total. Ties are broken at random, so a
    small n spreads over all models and colours instead of the first ones."""
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    short = total - counts.sum()
    jitter = rng.random(len(weights)) * 1e-9
    order = np.argsort(-(np.round(exact - counts, 9) + jitter), kind="stable")
    counts[order[:short]] += 1
    return counts


def paint_shade(color_id: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """A linear-RGB paint that a person would still call colour `color_id`."""
    centre, spread = PAINT_SHADES[COLOR_NAMES[color_id]]
    rgb = np.asarray(centre) + rng.normal(0.0, spread / 2, 3) * (0.5 + np.asarray(centre))
    brightness = np.exp(rng.normal(0.0, 0.15))
    return tuple(float(v) for v in np.clip(rgb * brightness, 0.003, 0.9))


def _make_twins(identities: list[Identity], fraction: float, seed: int) -> list[Identity]:
    """Repaint `fraction` of the identities as twins of another identity of the same model (its colour and
    exact paint). Drawn from its own stream, so the rest of the plan is the same with or without twins."""
    if fraction <= 0:
        return identities
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x7A,)))
    by_model: dict[int, list[int]] = {}
    for ident in identities:
        if ident.twin_of < 0:
            by_model.setdefault(ident.model_index, []).append(ident.vehicle_id)
    wanted = int(round(fraction * len(identities)))
    out = list(identities)
    order = [m for m in rng.permutation(sorted(by_model)) if len(by_model[int(m)]) >= 2]
    while wanted > 0 and order:  # one pair per model per round, spread over the models
        next_order = []
        for m in order:
            free = by_model[int(m)]
            if len(free) < 2 or wanted <= 0:
                continue
            a, b = (int(v) for v in rng.choice(free, 2, replace=False))
            free.remove(a)
            free.remove(b)
            src = out[a]
            out[b] = Identity(**{**out[b].__dict__, "color_id": src.color_id, "paint_rgb": src.paint_rgb,
                                 "twin_of": a})
            wanted -= 1
            next_order.append(m)
        order = next_order
    return out


def plan_identities(models, n: int, seed: int, config: IdentityConfig | None = None) -> IdentityPlan:
    """The identity of every sample 0..n-1. `models` are VehicleAsset-like objects (name, type_id, colors,
    fixed_color)."""
    config = config or IdentityConfig()
    if not models:
        raise ValueError("no vehicle models to plan identities for")
    weights = np.array([config.fixed_model_share if m.fixed_color else 1.0 for m in models], np.float64)
    # Subsets (small demo datasets with enough images per identity) draw from their own stream, so the
    # default plan is the same with or without them.
    subset_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x2E,)))
    if 0 < config.max_models < len(models):
        keep = np.round(np.linspace(0, len(models) - 1, config.max_models)).astype(int)
        weights[np.setdiff1d(np.arange(len(models)), keep)] = 0.0
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x1D,)))
    per_model = _largest_remainder(n, weights, rng)
    identities: list[Identity] = []
    counts = []
    for model_index, (model, count) in enumerate(zip(models, per_model)):
        colors = list(model.colors)[:1] if model.fixed_color else list(model.colors)
        if config.colors_per_model and not model.fixed_color and count:
            colors = sorted(subset_rng.permutation(colors)[:config.colors_per_model].tolist())
        for color_id, k in zip(colors, _largest_remainder(int(count), np.ones(len(colors)), rng)):
            if k == 0:
                continue  # too few images for every colour of this model: no identity without images
            identities.append(Identity(
                vehicle_id=len(identities), model_index=model_index, model_name=model.name, color_id=int(color_id),
                type_id=int(model.type_id), paint_rgb=paint_shade(int(color_id), rng), num_images=int(k),
                held_out=False,
            ))
            counts.append(int(k))
    identities = _make_twins(identities, config.twin_fraction, seed)
    num_held = int(round(config.holdout_fraction * len(identities)))
    held = set(rng.permutation(len(identities))[:num_held].tolist()) if num_held else set()
    identities = [
        Identity(**{**ident.__dict__, "held_out": ident.vehicle_id in held}) for ident in identities
    ]
    sample_identity = np.repeat(np.arange(len(identities)), counts)
    if config.shuffle:
        sample_identity = sample_identity[rng.permutation(n)]
    split = np.full(n, "train", dtype=object)
    if held:
        is_held = np.isin(sample_identity, sorted(held))
        is_query = rng.random(n) < config.query_fraction
        split[is_held & is_query] = "query"
        split[is_held & ~is_query] = "gallery"
    splits = {name: np.nonzero(split == name)[0] for name in ("train", "query", "gallery") if np.any(split == name)}
    return IdentityPlan(identities=identities, sample_identity=sample_identity, sample_split=split, splits=splits)
