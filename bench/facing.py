"""Visible rates split by whether each side of the vehicle faces the camera (used by bench/realism.py).

A side faces the camera when the camera is outside the plane of its wheel arches. That shows in the image
without any 3D fit: the quadrilateral of the side's arch points (upper front of the front arch, upper rear of the
rear arch, bottom rear of the rear arch, bottom front of the front arch) keeps its orientation in the image while
the side faces the camera and flips when it turns away (a plane is seen edge-on exactly when it contains the
camera). VeRi's annotators gave positions to hidden keypoints too, so the same test runs on the real labels and
on ours. It separates the two things the overall visible rates mix: how often each side is shown (the
viewpoint mix) and what is marked visible on a side once it is shown or turned away (geometry, occlusion and
annotation habit).
"""
from __future__ import annotations

import warnings

import numpy as np

from synth.vocabulary import KEYPOINT_NAMES, NUM_KEYPOINTS, VIS_VISIBLE

PARTS = NUM_KEYPOINTS // 2  # keypoint k on the left side, k + PARTS the same part on the right
ARCH_QUAD = (3, 8, 9, 2)
FACING_SIGN = {"left": 1.0, "right": -1.0}  # image y points down; the right side is the left one mirrored
SIDE_OFFSET = {"left": 0, "right": PARTS}
CONDITIONS = ("facing", "away")
OUTER_ARCH_PARTS = (2, 3, 4, 7, 8, 9)  # the arch points away from the gap between the wheels


def signed_area(polygons: np.ndarray) -> np.ndarray:
    """Shoelace area of (..., n, 2) polygons; positive when clockwise on screen (image y down)."""
    x, y = polygons[..., 0], polygons[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)


def turn(keypoints: np.ndarray, side: str) -> np.ndarray:
    """(N,) how far `side` is turned towards the camera: its arch quadrilateral's signed image area over the area
    of the keypoints' box (negative: turned away; NaN where unknown)."""
    quad = keypoints[:, [k + SIDE_OFFSET[side] for k in ARCH_QUAD], :2].astype(np.float64)
    xy = keypoints[:, :, :2].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        box = np.prod(np.nanmax(xy, axis=1) - np.nanmin(xy, axis=1), axis=1)
        return FACING_SIGN[side] * signed_area(quad) / box


def side_facing(keypoints: np.ndarray, side: str) -> np.ndarray:
    """(N,) 1.0 where `side` ("left" / "right") faces the camera, 0.0 where it faces away, NaN where its arch
    quadrilateral is unknown or degenerate, for (N, 36, >=2) keypoints."""
    t = turn(keypoints, side)
    out = (t > 0).astype(np.float64)
    out[~np.isfinite(t) | (t == 0)] = np.nan
    return out


def away_by_turn(keypoints: np.ndarray, parts=OUTER_ARCH_PARTS, groups: int = 4) -> list[dict]:
    """Visible rate of `parts` of a turned-away side in `groups` equal groups by how far it is turned away
    (both sides pooled; the last group is the nearest to edge-on)."""
    turns, flags = [], []
    for side, offset in SIDE_OFFSET.items():
        t = turn(keypoints, side)
        away = t < 0
        turns.append(t[away])
        flags.append(keypoints[away][:, [offset + k for k in parts], 2] == VIS_VISIBLE)
    turns, flags = np.concatenate(turns), np.concatenate(flags)
    edges = np.quantile(turns, np.linspace(0, 1, groups + 1)) if len(turns) else np.zeros(groups + 1)
    group = np.clip(np.searchsorted(edges, turns, side="right") - 1, 0, groups - 1)
    return [{"turn": [round(float(edges[g]), 3), round(float(edges[g + 1]), 3)], "samples": int((group == g).sum()),
             "visible": round(float(flags[group == g].mean()), 3) if (group == g).any() else None}
            for g in range(groups)]


def split_rates(keypoints: np.ndarray) -> dict:
    """Per side: the share of samples in which it faces the camera and the visible rate of its 18 keypoints
    given that it faces the camera / faces away. Samples where either side's test is undecided are left out."""
    faces = {side: side_facing(keypoints, side) for side in FACING_SIGN}
    decided = np.isfinite(faces["left"]) & np.isfinite(faces["right"])
    visible = keypoints[decided, :, 2] == VIS_VISIBLE
    out = {"samples": int(decided.sum())}
    for side, offset in SIDE_OFFSET.items():
        facing = faces[side][decided] == 1.0
        own = visible[:, offset:offset + PARTS]
        out[side] = {"share_facing": float(facing.mean()),
                     "facing": own[facing].mean(0) if facing.any() else np.full(PARTS, np.nan),
                     "away": own[~facing].mean(0) if (~facing).any() else np.full(PARTS, np.nan)}
    return out


def recompose(split: dict, replace: dict | None = None) -> np.ndarray:
    """The overall (36,) visible rates from a split; `replace` maps "share", "facing" or "away" to another
    split whose values are used for that part instead (what the figure would be if only that part matched)."""
    replace = replace or {}
    rates = np.zeros(NUM_KEYPOINTS)
    for side, offset in SIDE_OFFSET.items():
        share = replace.get("share", split)[side]["share_facing"]
        facing = replace.get("facing", split)[side]["facing"]
        away = replace.get("away", split)[side]["away"]
        rates[offset:offset + PARTS] = share * np.nan_to_num(facing) + (1 - share) * np.nan_to_num(away)
    return rates


def compare(real_keypoints: np.ndarray, synthetic_keypoints: np.ndarray) -> dict:
    """The split of both, and the mean absolute difference of the overall rates when the synthetic side shares,
    facing-side rates or turned-away-side rates are replaced by the real ones: how much of the figure each part
    carries."""
    real, synth = split_rates(real_keypoints), split_rates(synthetic_keypoints)
    target = recompose(real)

    def mad(replace: dict | None = None) -> float:
        return round(float(np.abs(recompose(synth, replace) - target).mean()), 4)

    return {
        "real": real, "synthetic": synth,
        "mean_abs_diff": mad(),
        "mean_abs_diff_with_real": {part: mad({part: real}) for part in ("share", "facing", "away")},
        "away_outer_arch_by_turn": {"parts": list(OUTER_ARCH_PARTS), "real": away_by_turn(real_keypoints),
                                    "synthetic": away_by_turn(synthetic_keypoints)},
    }


def pooled(split: dict, condition: str) -> np.ndarray:
    """(18,) visible rate per part under `condition`, the two sides weighted by how many samples each has."""
    weights = {side: split[side]["share_facing"] if condition == "facing" else 1 - split[side]["share_facing"]
               for side in SIDE_OFFSET}
    total = sum(weights.values())
    return sum(np.nan_to_num(split[side][condition]) * weights[side] for side in SIDE_OFFSET) / max(total, 1e-12)


def part_names() -> list[str]:
    return [name.removeprefix("left_").replace("_", " ") for name in KEYPOINT_NAMES[:PARTS]]


def print_comparison(result: dict) -> None:
    real, synth = result["real"], result["synthetic"]
    print(f"\nby which side faces the camera (arch quadrilateral orientation; {real['samples']} real images, "
          f"{synth['samples']} synthetic samples decided):")
    for side in SIDE_OFFSET:
        print(f"  {side} side faces the camera in {real[side]['share_facing']:.2f} of real images, "
              f"{synth[side]['share_facing']:.2f} of synthetic ones")
    print(f"  {'part (both sides pooled)':34s} {'facing: real synth':>18s} {'away: real synth':>17s}")
    columns = [pooled(split, condition) for condition in CONDITIONS for split in (real, synth)]
    for k, name in enumerate(part_names()):
        print(f"  {k:2d} {name:31s} {columns[0][k]:10.2f} {columns[1][k]:6.2f} {columns[2][k]:10.2f} "
              f"{columns[3][k]:6.2f}")
    by_turn = result["away_outer_arch_by_turn"]
    print(f"  outer arch points {by_turn['parts']} of a turned-away side, by how far it is turned away "
          "(quartiles, arch quadrilateral area / box area; last = nearest edge-on):")
    for name in ("real", "synthetic"):
        print(f"    {name:9s} " + "  ".join(f"{g['turn'][0]:+.3f}..{g['turn'][1]:+.3f}: {g['visible']:.2f}"
                                            for g in by_turn[name]))
    with_real = result["mean_abs_diff_with_real"]
    print(f"  mean |diff| {result['mean_abs_diff']:.4f}; with the real side shares {with_real['share']:.4f}, with the "
          f"real facing-side rates {with_real['facing']:.4f}, with the real turned-away-side rates "
          f"{with_real['away']:.4f}")


def to_json(result: dict) -> dict:
    def side_json(split: dict) -> dict:
        return {"samples": split["samples"], **{
            side: {"share_facing": round(split[side]["share_facing"], 4),
                   **{c: np.round(split[side][c], 4).tolist() for c in CONDITIONS}} for side in SIDE_OFFSET}}

    return {"real": side_json(result["real"]), "synthetic": side_json(result["synthetic"]),
            "mean_abs_diff": result["mean_abs_diff"], "mean_abs_diff_with_real": result["mean_abs_diff_with_real"],
            "away_outer_arch_by_turn": result["away_outer_arch_by_turn"]}


def plot_comparison(result: dict, path) -> None:
    """Two panels (side facing the camera / turned away): visible rate per part, real against synthetic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real, synth = result["real"], result["synthetic"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), sharey=True)
    x = np.arange(PARTS)
    for ax, condition in zip(axes, CONDITIONS):
        ax.bar(x - 0.2, pooled(real, condition), 0.4, label="VeRi-776 (real labels)")
        ax.bar(x + 0.2, pooled(synth, condition), 0.4, label="synthetic (geometric labels)")
        ax.set_xticks(x, part_names(), rotation=90, fontsize=7)
        ax.set_title(f"keypoints of a side {'facing the camera' if condition == 'facing' else 'turned away'}",
                     fontsize=10)
        ax.set_ylim(0, 1.1)
    axes[0].set_ylabel("visible rate")
    axes[0].legend(loc="lower left", fontsize=8)
    with_real = result["mean_abs_diff_with_real"]
    fig.suptitle(f"mean |diff| {result['mean_abs_diff']:.3f}; with the real side shares {with_real['share']:.3f}, "
                 f"with the real facing-side rates {with_real['facing']:.3f}, with the real turned-away-side "
                 f"rates {with_real['away']:.3f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
