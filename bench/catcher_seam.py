"""Is there a step in the road's light at the shadow catcher's edge? Cycles shades the ground under and round
a vehicle on a shadow catcher that ends 0.6 m beyond its footprint (plus where the sun throws its shadow); the
road beyond is the 2D background. On a grey day the light comes from the whole sky and the body hides a good
part of it from the road beside it, so the catcher's shade is still 10-20 % deep at its edge: without shading
the road beyond it as well (synth.shadows.beside_catcher_light), a dark rectangle framed every vehicle.

For each render (occluders and traffic off: their own shade is not modelled beyond the catcher) it takes the
road pixels no body covers within 0.25 m of the catcher's edge, inside and outside, and the light factor of
the composite over the unshaded background there. The step is inside minus outside: with the background as it
was before (unshaded: outside is 1) and as it is now.

    python bench/catcher_seam.py [--models assets] [--count 12] [--size 256]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed

from synth import compose  # noqa: E402
from synth.camera import ground_points  # noqa: E402
from synth.identities import plan_identities  # noqa: E402
from synth.scene import RenderConfig  # noqa: E402
from synth.vehicles.library import load_library  # noqa: E402

BAND = 0.25  # metres either side of the catcher's edge


def edge_distance(frame: dict) -> np.ndarray:
    """Signed distance (render size, render size) in metres of each pixel's ground point to the catcher's edge
    (positive inside); nan above the horizon."""
    size = frame["render_size"]
    (x0, y0), (x1, y1) = frame["catcher"]
    v, u = np.mgrid[0:size, 0:size]
    ground, down = ground_points(frame["K_render"], frame["Rt"], np.stack([u.ravel() + 0.5, v.ravel() + 0.5], -1))
    dist = np.minimum.reduce([ground[:, 0] - x0, x1 - ground[:, 0], ground[:, 1] - y0, y1 - ground[:, 1]])
    return np.where(down, dist, np.nan).reshape(size, size)


def measure(renderer, index: int) -> dict | None:
    sample_out, extra = renderer.render(index)
    frame, rgba, sample = extra["frame"], extra["rgba"], extra["sample"]
    if frame["catcher"] is None:
        return None
    shaded = renderer.background(sample, frame, native=True)
    unshaded = renderer.background(sample, {**frame, "catcher": None}, native=True)
    luminance = compose.composite(compose.premultiply(rgba), shaded)[..., :3].mean(-1)
    base = unshaded[..., :3].mean(-1) + 1e-6
    road = rgba[..., :3].max(-1) == 0  # no body in the pixel (catcher or nothing)
    dist = edge_distance(frame)
    inside, outside = road & (dist > 0.02) & (dist < BAND), road & (dist < -0.02) & (dist > -BAND)
    if inside.sum() < 20 or outside.sum() < 20:
        return None
    factor = luminance / base
    return {"overcast": bool(sample.overcast), "inside": float(factor[inside].mean()),
            "outside_before": 1.0, "outside_now": float((shaded[..., :3].mean(-1) / base)[outside].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--count", type=int, default=12, help="renders per sky (overcast, clear)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "catcher_seam.json")
    args = parser.parse_args()
    from synth.sample_renderer import SampleRenderer

    start = time.time()
    models = load_library(args.models)
    results = {"count": args.count, "size": args.size, "band_m": BAND}
    config = RenderConfig()
    config.image.size = args.size
    config.occluders.prob = config.traffic.prob = config.occlusion2d.prob = 0.0
    # one Blender scene per process: the same renderer for both skies, its config changed in between
    renderer = SampleRenderer(config, models, plan_identities(models, args.count, 0, config.identities), 0)
    for sky, overcast_prob in (("overcast", 1.0), ("clear", 0.0)):
        config.lighting.overcast_prob = overcast_prob
        rows = [row for row in (measure(renderer, i) for i in range(args.count)) if row is not None]
        steps = {when: np.array([r["inside"] - r[f"outside_{when}"] for r in rows]) for when in ("before", "now")}
        results[sky] = {"measured": len(rows), "inside": round(float(np.mean([r["inside"] for r in rows])), 4),
                        **{f"step_{when}": round(float(s.mean()), 4) for when, s in steps.items()},
                        **{f"abs_step_{when}": round(float(np.abs(s).mean()), 4) for when, s in steps.items()},
                        **{f"max_abs_step_{when}": round(float(np.abs(s).max()), 4) for when, s in steps.items()}}
        r = results[sky]
        print(f"{sky:8s} {r['measured']} renders: light at the catcher's inner edge {r['inside']:.3f}; step "
              f"(inside - outside) before {r['step_before']:+.3f} (|step| mean {r['abs_step_before']:.3f}, max "
              f"{r['max_abs_step_before']:.3f}), now {r['step_now']:+.3f} (|step| mean {r['abs_step_now']:.3f}, "
              f"max {r['max_abs_step_now']:.3f})")
    results["seconds"] = round(time.time() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
