"""Does showing diffuse rays a blurred street lower the noise of a render without changing its light?

The sky group (synth/blender/sky.py) shows the street panorama round the horizon: sharp to glossy rays and
glass (reflections), and blurred to diffuse rays (synth.street_view.diffuse_panorama). A diffuse surface's light
is a low-pass integral of its surroundings, so the blur keeps it; the rooflines and window grids had made each of
a few diffuse samples per pixel land on sky or on wall by lot, noise the denoiser leaves as mottle, most on grey
days when the sky is nearly all the light.

For 12 views (6 library models, two headings) under a grey and a clear sky it renders at the default 3 samples
with the worker's OIDN filter, once with diffuse rays seeing the sharp panorama (as before) and once the blurred
one, and compares each with a 64-sample render of the same way without denoiser, over the vehicle's opaque
pixels, in sRGB: the mean absolute error, and the error of the 1-4 px band (mottle). The 64-sample renders of the
two ways are compared too (their mean brightness should agree: the blur must not change the light).

    python bench/diffuse_street.py [--models assets]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed

from synth import compose  # noqa: E402
from synth.identities import plan_identities  # noqa: E402
from synth.scene import RenderConfig  # noqa: E402
from synth.vehicles.library import load_library  # noqa: E402

MODELS = ("suv_002", "sedan_003", "van_001", "hatchback_001", "mpv_002", "sedan_007")
SKIES = {
    "grey": dict(overcast=True, sun_strength=0.3, sky_strength=1.2, sky_color=(0.6, 0.62, 0.65)),
    "clear": dict(overcast=False, sun_strength=4.0, sky_strength=0.3, sky_color=(0.4, 0.52, 0.8), sun_elevation=45.0),
}


def band(image: np.ndarray) -> np.ndarray:
    import cv2

    image = image.astype(np.float32)
    return cv2.GaussianBlur(image, (0, 0), 1.0) - cv2.GaussianBlur(image, (0, 0), 4.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "diffuse_street.json")
    args = parser.parse_args()
    from synth.blender.sky import street_image
    from synth.sample_renderer import SampleRenderer

    start = time.time()
    models = load_library(args.models)
    names = [m.name for m in models]
    config = RenderConfig()
    config.image.size, config.image.native_size = 256, (256.0, 256.0)
    renderer = SampleRenderer(config, models, plan_identities(models, 200, 0, config.identities), 0)
    described = list(map(renderer.describe, range(200)))
    cars = [next(s for s in described if names[s.identity.model_index] == name) for name in MODELS if name in names]
    if not cars:
        sys.exit(f"bench/diffuse_street.py: none of {MODELS} in {args.models}")

    def shoot(scene, sharp_diffuse: bool):
        frame = renderer.setup(scene)
        if sharp_diffuse:  # as before: diffuse rays saw the sharp panorama
            image = street_image(diffuse=True)
            street = frame["street"]
            image.scale(street.shape[1], street.shape[0])
            image.pixels.foreach_set((street.reshape(-1) / np.float32(255)).astype(np.float32))
            image.update()
            renderer.builder._street_key = None  # the next setup writes the blurred one again
        renderer.builder.update()
        rgba = renderer.builder.render(scene.seed)
        return compose.develop(compose.premultiply(rgba)[..., :3]) * 255, rgba[..., 3] > 250

    views = {sky: [dataclasses.replace(car, azimuth=az, elevation=18.0, distance=11.0, occluders=[], patches=[],
                                       roll=0.0, aim=(0.0, 0.0, 0.7), cloud_cover=0.0, caster=None, exposure=0.6,
                                       **settings) for car in cars for az in (20.0, 150.0)]
             for sky, settings in SKIES.items()}
    noisy = {(sky, sharp): [shoot(v, sharp) for v in vs] for sky, vs in views.items() for sharp in (True, False)}
    quality = renderer.config.quality
    quality.samples, quality.denoise = 64, "none"
    renderer.builder.configure(quality)
    renderer.builder.use_denoiser(None)
    reference = {(sky, sharp): [shoot(v, sharp) for v in vs] for sky, vs in views.items() for sharp in (True, False)}
    results = {"views": len(cars) * 2, "samples": RenderConfig().quality.samples, "reference_samples": 64}
    for sky in SKIES:
        row = {}
        for sharp, name in ((True, "sharp"), (False, "blurred")):
            errors, bands = [], []
            for (image, mask), (ref, ref_mask) in zip(noisy[sky, sharp], reference[sky, sharp]):
                both = mask & ref_mask
                errors.append(np.abs(image - ref)[both].mean())
                bands.append(np.abs(band(image) - band(ref))[both].mean())
            row[f"{name}_error"], row[f"{name}_band_error"] = round(float(np.mean(errors)), 3), round(float(np.mean(bands)), 3)
        row["reference_brightness_change"] = round(float(np.mean(
            [b[m].mean() - a[m].mean() for (a, m), (b, _) in zip(reference[sky, True], reference[sky, False])])), 3)
        results[sky] = row
        print(f"{sky:5s} error {row['sharp_error']:.2f} -> {row['blurred_error']:.2f}, 1-4 px band "
              f"{row['sharp_band_error']:.2f} -> {row['blurred_band_error']:.2f} (sRGB levels); 64-sample brightness "
              f"change {row['reference_brightness_change']:+.2f}")
    results["seconds"] = round(time.time() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
