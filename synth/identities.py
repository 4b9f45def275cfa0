"""The identity plan: which (model, colour) every sample shows, and which split it lands in.

By default (`color_weights: uniform`) an identity is one (model, body colour) pair. Every paintable model gets
an equal share of the images, split evenly over its colours; a fixed-colour model is one identity and gets
`fixed_model_share` of a paintable model's share (0.5 by default: with 40 ten-colour models, 2 fixed-colour ones
and n = 41,000 this is the paper's set, 400 identities x 100 images + 2 x 500). Each identity keeps one exact
paint, a shade of its colour name drawn once from the seed; lighting makes it vary from image to image.

With `color_weights: traffic` (or a mapping colour name -> weight) the colours follow real-traffic shares
instead: a paintable model keeps its number of identity slots, but each slot's colour is drawn with
replacement from the weights (over the model's own colours), so a model may have three white identities and
no orange one. Identities of the same model and colour are distinct vehicles: each has its own paint shade
and marks. A model's images still spread evenly over its slots, so image shares by colour follow the slots.

The plan is *prefix-stable*: sample i's identity (model, colour, paint, look) and split are the same for every
n > i, so growing a dataset only appends samples (docs/RENDER.md, "Identities and splits"). It is built as one
endless sequence that is cut at n:
- the catalogue of identities (every model's colour slots, their paints, twins and hold-outs) does not depend
  on n; `vehicle_id` numbers the catalogue, and identities that the first n samples do not reach have no
  images;
- models take turns by jittered stride scheduling: a model of weight w has its j-th image at time
  (j + u_j) / w with u_j uniform in [0, 1), and samples are those times in increasing order. Every prefix gives
  each model its share of the images to within one image, and the order of models changes every round;
- a model's images go over its identity slots (its colours) in rounds, each a fresh seeded permutation of the
  slots: every prefix gives each of the model's slots its share to within one image;
- held-out identities are a stride over the order in which identities first appear (round(k f) of the first k
  identities), and the queries a stride over each held-out identity's images (round(k q) of its first k images,
  never the first, so every query has a gallery image), so both fractions hold to within one for every n.
Everything is a pure function of (library, config, seed); n only says where the sequence stops.

Held-out identities (`holdout_fraction`) never appear in `train`: their images go to `query` (a
`query_fraction` of each identity's images) and `gallery`, so a demo can train on some identities and
evaluate ReID on unseen ones.
"""
from __future__ import annotations

import colorsys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from synth.compose import linear_to_srgb, srgb_to_linear
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


# Approximate real-traffic body-colour shares over the VeRi colour names, for `color_weights: traffic`: global
# production colour popularity (Axalta's yearly Global Automotive Color Popularity Report, early 2020s),
# rounded, with silver folded into gray (VeRi has no silver). Traffic differs by region and year: for a
# target domain, set your own shares from its data (`color_weights: {white: 0.3, ...}`).
TRAFFIC_COLOR_SHARES: dict[str, float] = {
    "white": 0.35, "black": 0.19, "gray": 0.27, "blue": 0.07, "red": 0.07,
    "brown": 0.02, "golden": 0.015, "yellow": 0.01, "green": 0.01, "orange": 0.005,
}
COLOR_WEIGHT_PRESETS = ("uniform", "traffic")

# The hues (degrees, of the paint's sRGB) that real paints of a name keep to: a blue past 232 reads violet and a
# red short of -10 rose, shades car makers hardly paint (independent channel shifts made one blue car in eight,
# and one red in seven, that purple or pink). Names not listed keep their spread.
PAINT_HUE_BANDS: dict[str, tuple[float, float]] = {"blue": (202.0, 232.0), "red": (-10.0, 12.0)}


def color_weight_table(color_weights: str | dict) -> np.ndarray | None:
    """The weight of every colour id (indexed like COLOR_NAMES) for an `IdentityConfig.color_weights` value;
    None for "uniform". Raises ValueError naming the field and the bad value."""
    if color_weights == "uniform":
        return None
    if color_weights == "traffic":
        color_weights = TRAFFIC_COLOR_SHARES
    if not isinstance(color_weights, dict):
        raise ValueError(f"color_weights: expected one of {list(COLOR_WEIGHT_PRESETS)} or a mapping colour name "
                         f"-> weight, got {color_weights!r}")
    known = COLOR_NAMES[1:]  # "unknown" is no paint
    unknown = [name for name in color_weights if name not in known]
    if unknown:
        raise ValueError(f"color_weights: unknown colour name(s) {unknown}; known: {list(known)}")
    table = np.zeros(len(COLOR_NAMES), np.float64)
    for name, weight in color_weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) \
                or weight < 0:
            raise ValueError(f"color_weights: the weight of {name!r} must be a non-negative number, got {weight!r}")
        table[COLOR_NAMES.index(name)] = float(weight)
    if not table.any():
        raise ValueError(f"color_weights: all weights are zero ({color_weights!r}): give a colour a positive weight")
    return table


@dataclass
class IdentityConfig(Config):
    """How images are shared over identities and splits."""

    fixed_model_share: float = 0.5  # a fixed-colour model's image share relative to a paintable model's
    holdout_fraction: float = 0.0  # fraction of identities kept out of train (evaluated in query/gallery)
    query_fraction: float = 0.2  # of a held-out identity's images, the fraction that become queries
    # interleave identities over the sample order; false: grouped by identity (tests, debugging), and then sample
    # i depends on n
    shuffle: bool = True
    max_models: int = 0  # use only this many models (spread over the library's name order); 0 = all
    colors_per_model: int = 0  # paint each paintable model in only this many of its colours (seeded); 0 = all
    # Twin hard negatives: this fraction of the identities is repainted in the exact colour and paint shade of
    # another identity of the same model, so the pair differs only in its marks (plate, stickers, livery,
    # dirt; synth/appearance.py). Real ReID errors are dominated by such look-alikes.
    twin_fraction: float = 0.0
    # How body colours are shared over a paintable model's identities: "uniform" (the paper: one identity per
    # colour), "traffic" (TRAFFIC_COLOR_SHARES: each identity's colour drawn from real-traffic shares, so white,
    # grey and black cars dominate and a model may have several identities of one colour), or a mapping colour
    # name -> weight (missing names weigh 0; a model none of whose colours has weight gets no identities).
    # Fixed-colour models keep their colour either way.
    color_weights: str | dict[str, float] = "uniform"

    def __post_init__(self):
        color_weight_table(self.color_weights)  # fail at load time, naming the field


@dataclass(frozen=True)
class Identity:
    vehicle_id: int  # dense 0..I-1 over the catalogue, in (model, colour) order; the same for every n
    model_index: int
    model_name: str
    color_id: int
    type_id: int
    paint_rgb: tuple[float, float, float]  # linear RGB, fixed for the identity
    held_out: bool
    twin_of: int = -1  # vehicle_id of the identity whose model, colour and paint this one copies; -1 none


@dataclass
class IdentityPlan:
    identities: list[Identity]  # the whole catalogue, indexed by vehicle_id (some may have no images at this n)
    sample_identity: np.ndarray  # (n,) identity index (= vehicle_id) of every sample
    sample_split: np.ndarray  # (n,) split name of every sample
    splits: dict[str, np.ndarray] = field(default_factory=dict)  # split -> global sample indices, ascending

    @property
    def num_samples(self) -> int:
        return len(self.sample_identity)

    @property
    def num_images(self) -> np.ndarray:
        """(I,) images of every identity among the n samples."""
        return np.bincount(self.sample_identity, minlength=len(self.identities))

    @property
    def present(self) -> list[Identity]:
        """The identities that have at least one image."""
        counts = self.num_images
        return [ident for ident in self.identities if counts[ident.vehicle_id]]


_CHUNK = 256  # random draws per keyed stream: sample i never depends on how many draws were made after it


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


def paint_shade(color_id: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """A linear-RGB paint that a person would still call colour `color_id`."""
    centre, spread = PAINT_SHADES[COLOR_NAMES[color_id]]
    centre = np.asarray(centre)
    shift = rng.normal(0.0, spread / 2, 3)
    if np.ptp(centre) < 0.05:
        # white, grey, black: lighter or darker, a little warm or cool, hardly green or magenta (independent
        # channel shifts tinted a tenth of the white cars lilac or mint, which real paints are not)
        shift = shift[0] + 0.4 * shift[1] * np.array([1.0, 0.0, -1.0]) + 0.1 * shift[2] * np.array([-0.5, 1.0, -0.5])
    rgb = centre + shift * (0.5 + centre)
    rgb = rgb * np.exp(rng.normal(0.0, 0.15))
    band = PAINT_HUE_BANDS.get(COLOR_NAMES[color_id])
    if band is not None:
        rgb = _hue_into(np.maximum(rgb, 0.003), band)  # (the floor first: raising a channel turns the hue)
    # brighter than 0.75 rolls off smoothly towards 0.9 (a clip made a fifth of the white paints one colour)
    knee = 0.75
    rgb = np.where(rgb > knee, knee + 0.15 * (1.0 - np.exp(-(rgb - knee) / 0.15)), rgb)
    return tuple(float(v) for v in np.maximum(rgb, 0.003))


def _hue_into(rgb: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Linear `rgb` turned to the nearest hue in `band` (degrees of its sRGB; lightness and saturation kept)."""
    h, s, v = colorsys.rgb_to_hsv(*linear_to_srgb(rgb))
    hue = (h * 360.0 - band[0] + 180.0) % 360.0 + band[0] - 180.0  # the turn nearest the band's start
    turned = np.clip(hue, *band)
    if turned == hue:
        return rgb
    return srgb_to_linear(np.array(colorsys.hsv_to_rgb((turned % 360.0) / 360.0, s, v)))


def _make_twins(identities: list[Identity], fraction: float, seed: int) -> list[Identity]:
    """Repaint `fraction` of the identities as twins of another identity of the same model (its colour and
    exact paint). Drawn from its own stream, so the rest of the plan is the same with or without twins."""
    if fraction <= 0:
        return identities
    rng = _stream(seed, 0x7A)
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


def _stride(rank: np.ndarray, fraction: float, spare_first: bool = False) -> np.ndarray:
    """Whether item `rank` (0, 1, 2, ...) is picked when round(k * fraction) of the first k items are picked
    (with `spare_first`, at most k - 1 of them: the first item is never picked)."""
    def picked(k):
        count = np.floor(k * float(fraction) + 0.5)
        return np.minimum(count, np.maximum(k - 1, 0)) if spare_first else count
    k = np.asarray(rank, np.float64) + 1
    return picked(k) - picked(k - 1) >= 1


def _slot_colors(model, model_index: int, colors_per_model: int, color_table: np.ndarray | None,
                 seed: int) -> list[int]:
    """The colour of each of a model's identity slots (repeats possible with weighted colours)."""
    colors = [int(c) for c in model.colors]
    if model.fixed_color or not colors:
        return colors[:1]  # a fixed colour is part of the model: colour weights do not apply
    if color_table is not None:
        num_slots = min(colors_per_model, len(colors)) if colors_per_model else len(colors)
        return _weighted_slots(model_index, colors, num_slots, color_table, seed)
    if colors_per_model:
        pick = _stream(seed, 0x2E, model_index).permutation(len(colors))[:colors_per_model]
        return sorted(colors[int(k)] for k in pick)
    return colors


def _weighted_slots(model_index: int, colors: list[int], num_slots: int, color_table: np.ndarray,
                    seed: int) -> list[int]:
    """`num_slots` colours drawn with replacement from the model's `colors`, weighted by `color_table`; sorted,
    so vehicle ids run in (model, colour) order. One keyed stream per model: independent of n and of the other
    models. Empty when none of the model's colours has weight."""
    cdf = np.cumsum(color_table[colors])
    if cdf[-1] <= 0:
        return []
    u = _stream(seed, 0x2C, model_index).random(num_slots)
    picks = np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(colors) - 1)
    return sorted(colors[int(k)] for k in picks)


def _model_sequence(weights: np.ndarray, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `length` turns of the endless model sequence: (model index, that model's occurrence number)."""
    active = np.flatnonzero(weights > 0)
    total = weights[active].sum()
    horizon = (length + len(active)) / total + 1.0  # every turn with a time below this is generated
    models, ranks, times = [], [], []
    for m in active:
        w = float(weights[m])
        count = int(np.ceil(horizon * w)) + 1
        chunks = -(-count // _CHUNK)
        u = np.concatenate([_stream(seed, 0x1E, m, c).random(_CHUNK) for c in range(chunks)])[:count]
        j = np.arange(count)
        models.append(np.full(count, m))
        ranks.append(j)
        times.append((j + u) / w)
    models, ranks, times = np.concatenate(models), np.concatenate(ranks), np.concatenate(times)
    order = np.lexsort((models, times))[:length]
    return models[order], ranks[order]


def _colour_turns(model: int, num_colors: int, ranks: np.ndarray, seed: int) -> np.ndarray:
    """Which of the model's colour slots (0..C-1) its occurrence `rank` shows: rounds of C, each a fresh
    permutation."""
    if num_colors == 1 or not len(ranks):
        return np.zeros(len(ranks), np.int64)
    rounds = ranks // num_colors
    out = np.empty(len(ranks), np.int64)
    per_stream = 64  # rounds per keyed stream
    for block in np.unique(rounds // per_stream):
        perms = np.argsort(_stream(seed, 0x2F, model, block).random((per_stream, num_colors)), axis=1)
        sel = rounds // per_stream == block
        out[sel] = perms[rounds[sel] % per_stream, ranks[sel] % num_colors]
    return out


def _occurrence_rank(values: np.ndarray) -> np.ndarray:
    """For every entry, how many earlier entries have the same value."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(values)]))
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(len(values)) - group_start
    return rank


def plan_identities(models, n: int, seed: int, config: IdentityConfig | None = None) -> IdentityPlan:
    """The identity of every sample 0..n-1. `models` are VehicleAsset-like objects (name, type_id, colors,
    fixed_color). Sample i's identity and split do not depend on n (with `shuffle`, the default)."""
    config = config or IdentityConfig()
    if not models:
        raise ValueError("no vehicle models to plan identities for")
    n = int(n)
    weights = np.array([config.fixed_model_share if m.fixed_color else 1.0 for m in models], np.float64)
    if 0 < config.max_models < len(models):
        keep = np.round(np.linspace(0, len(models) - 1, config.max_models)).astype(int)
        weights[np.setdiff1d(np.arange(len(models)), keep)] = 0.0
    # the catalogue: every model's identity slots (a colour each) and their paints; independent of n
    color_table = color_weight_table(config.color_weights)
    identities: list[Identity] = []
    model_slots: dict[int, list[int]] = {}  # model index -> vehicle_id of each of its slots
    for model_index, model in enumerate(models):
        slots = _slot_colors(model, model_index, config.colors_per_model, color_table, seed) \
            if weights[model_index] > 0 else []
        if not slots:
            weights[model_index] = 0.0
            continue
        model_slots[model_index] = []
        repeat = Counter()
        for color_id in slots:
            # a repeated colour (weighted colours) is another car: its own paint stream; the first of a colour
            # keeps the key it has under uniform colours
            k = repeat[color_id]
            repeat[color_id] += 1
            paint_key = (model_index, color_id) + ((k,) if k else ())
            model_slots[model_index].append(len(identities))
            identities.append(Identity(
                vehicle_id=len(identities), model_index=model_index, model_name=model.name, color_id=color_id,
                type_id=int(model.type_id), paint_rgb=paint_shade(color_id, _stream(seed, 0x1D, *paint_key)),
                held_out=False,
            ))
    if not identities:
        hint = "" if color_table is None else "; with color_weights, only models with a weighted colour count"
        raise ValueError(f"no vehicle model has a colour and a positive image share (identities config{hint})")
    identities = _make_twins(identities, config.twin_fraction, seed)

    # The endless sample sequence, long enough for every identity to have appeared (for the hold-out stride).
    cover = max(len(v) / weights[m] for m, v in model_slots.items())
    length = max(n, int(sum(np.ceil(cover * weights[m]) for m in model_slots)) + len(model_slots))
    seq_model, seq_rank = _model_sequence(weights, length, seed)
    seq_identity = np.empty(length, np.int64)
    for m, vehicles in model_slots.items():
        sel = seq_model == m
        turns = _colour_turns(m, len(vehicles), seq_rank[sel], seed)
        seq_identity[sel] = np.asarray(vehicles, np.int64)[turns]

    # hold-outs: a stride over the order of first appearance, so every prefix holds out its fraction
    first_seen = seq_identity[np.sort(np.unique(seq_identity, return_index=True)[1])]
    held_mask = _stride(np.arange(len(first_seen)), config.holdout_fraction) if config.holdout_fraction > 0 \
        else np.zeros(len(first_seen), bool)
    held = set(first_seen[held_mask].tolist())
    identities = [Identity(**{**ident.__dict__, "held_out": ident.vehicle_id in held}) for ident in identities]

    sample_identity = seq_identity[:n]
    split = np.full(n, "train", dtype=object)
    if held:
        is_held = np.isin(sample_identity, sorted(held))
        # round(k q) of a held-out identity's first k images are queries, and never its first image: every query
        # has a gallery image of its identity
        is_query = _stride(_occurrence_rank(sample_identity), config.query_fraction, spare_first=True)
        split[is_held & is_query] = "query"
        split[is_held & ~is_query] = "gallery"
    if not config.shuffle:  # grouped by identity (tests, debugging): sample i then depends on n
        order = np.argsort(sample_identity, kind="stable")
        sample_identity, split = sample_identity[order], split[order]
    splits = {name: np.nonzero(split == name)[0] for name in ("train", "query", "gallery") if np.any(split == name)}
    return IdentityPlan(identities=identities, sample_identity=sample_identity, sample_split=split, splits=splits)
