"""How clean is the shade under a vehicle, and does an opaque body stay opaque? The render's alpha carries the
vehicle's coverage and the shadow catcher's shadow; at 3 samples per pixel it is noisy and is denoised with
the colour's OIDN filter. This compares two ways of feeding it to that filter on the same noisy passes, against
the same samples rendered at 128 samples per pixel without a denoiser:

- "alpha": the alpha itself (the toolkit before this bench);
- "transmission": 1 - alpha, the light the catcher lets through (synth.blender.denoise.denoise_alpha).

Figures, over the shadow catcher's own pixels (no vehicle in them) where the reference has a shadow:
- shade error: mean absolute difference of the light let through, in sRGB (as the composite shows it);
- speckle: mean absolute difference from its own 3 x 3 median, in sRGB (the reference's own is printed too);
and over the vehicle's opaque pixels (every sample met the body): the share whose denoised alpha is below
0.97 (the background shows through the body there).

    python bench/shadow_denoise.py [--models assets] [--count 16] [--size 256]
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

from synth.compose import linear_to_srgb  # noqa: E402
from synth.identities import plan_identities  # noqa: E402
from synth.scene import RenderConfig  # noqa: E402
from synth.vehicles.library import load_library  # noqa: E402

REFERENCE_SAMPLES = 128


def _renderer(models, count: int, size: int):
    from synth.sample_renderer import SampleRenderer

    config = RenderConfig()
    config.image.size = size
    return SampleRenderer(config, models, plan_identities(models, count, 0, config.identities), 0)


def _speckle(light_srgb: np.ndarray, mask: np.ndarray) -> float:
    import cv2

    image = light_srgb.astype(np.float32)
    return float(np.abs(image - cv2.medianBlur(image, 3))[mask].mean())


def measure(noisy: tuple, reference_alpha: np.ndarray, denoiser) -> dict:
    """Figures of both ways of denoising one render's alpha (noisy = combined, albedo, normal passes)."""
    from synth.blender.denoise import denoise_alpha

    combined, albedo, normal = noisy
    raw = combined[..., 3]
    catcher = (combined[..., :3].max(axis=-1) == 0) & (raw > 0)  # every sample met the catcher or nothing
    shade = catcher & (reference_alpha > 0.02)
    opaque = (raw >= 0.9999) & (combined[..., :3].max(axis=-1) > 0)
    ways = {"alpha": np.clip(denoiser(np.repeat(raw[..., None], 3, -1), albedo, normal).mean(-1), 0, 1),
            "transmission": denoise_alpha(raw, albedo, normal, denoiser)}
    reference_light = linear_to_srgb(1.0 - reference_alpha)
    out = {"reference_speckle": _speckle(reference_light, shade) if shade.any() else np.nan}
    for name, alpha in ways.items():
        light = linear_to_srgb(1.0 - alpha)
        out[f"{name}_shade_error"] = float(np.abs(light - reference_light)[shade].mean()) if shade.any() else np.nan
        out[f"{name}_speckle"] = _speckle(light, shade) if shade.any() else np.nan
        out[f"{name}_see_through_body"] = float((alpha[opaque] < 0.97).mean()) if opaque.any() else np.nan
    return out


def main() -> None:
    from synth.blender.denoise import Denoiser

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "shadow_denoise.json")
    args = parser.parse_args()
    start = time.time()
    models = load_library(args.models)
    noisy_renderer = _renderer(models, args.count, args.size)
    reader = noisy_renderer.builder.reader
    if reader.denoiser is None:
        sys.exit("bench/shadow_denoise.py: needs the CPU's in-worker OIDN (quality.denoise_in_worker)")
    noisy = []
    for i in range(args.count):
        noisy_renderer.render(i)
        noisy.append(reader.last_passes)
    # the same scenes again, unbiased (one Blender scene per process: the renderer is reconfigured)
    quality = noisy_renderer.config.quality
    quality.samples, quality.denoise = REFERENCE_SAMPLES, "none"
    noisy_renderer.builder.configure(quality)
    noisy_renderer.builder.use_denoiser(None)
    denoiser = Denoiser("fast", threads=2)
    rows = []
    for i in range(args.count):
        reference_alpha = noisy_renderer.render(i)[1]["rgba"][..., 3] / 255.0
        if reference_alpha.shape != noisy[i][0].shape[:2]:
            raise RuntimeError(f"sample {i}: the reference's size differs from the noisy render's")
        rows.append(measure(noisy[i], reference_alpha, denoiser))
        print(f"sample {i}: " + ", ".join(f"{k} {v:.4f}" for k, v in rows[-1].items()))
    summary = {key: round(float(np.nanmean([r[key] for r in rows])), 4) for key in rows[0]}
    results = {"count": args.count, "size": args.size, "samples": RenderConfig().quality.samples, "reference_samples": REFERENCE_SAMPLES,
               "mean": summary, "seconds": round(time.time() - start, 1)}
    for way in ("alpha", "transmission"):
        print(f"{way:13s} shade error {summary[f'{way}_shade_error']:.4f}  speckle {summary[f'{way}_speckle']:.4f} "
              f"(reference {summary['reference_speckle']:.4f})  see-through body "
              f"{100 * summary[f'{way}_see_through_body']:.2f} %")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
