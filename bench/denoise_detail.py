"""Does denoising smear the vehicles' detail? Renders the same samples at several quality settings and compares
each with a reference rendered at 128 samples per pixel without any denoiser (unbiased, nearly noise-free at
256 px), inside the vehicle's amodal box:

- detail ratio: the mean absolute Laplacian (fine edges: panel gaps, lamp clusters, grille bars, plate
  characters) of a setting over the reference's. 1 keeps the detail; below 1 smears it; above 1 adds noise.
- band-pass error: the mean absolute difference of the Laplacians (detail in the wrong place counts too).
- PSNR over the box.
- CPU seconds per image (the cost of each setting, in the same run).

Camera effects (blur, noise, JPEG) are off so the renderer alone is compared; images are stored as PNG.
Writes JSON and a PNG of crops (reference, then each setting).

    python bench/denoise_detail.py [--models assets] [--count 24] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed

from synth.datasets.inspect import letterbox  # noqa: E402
from synth.render import default_workers, render_dataset  # noqa: E402
from synth.scene import RenderConfig  # noqa: E402

SETTINGS = {  # name: (samples, denoise, denoise_in_worker)
    "default (3 spp + OIDN fast, in the worker)": (3, "oidn", True),
    "3 spp + OIDN high (Cycles)": (3, "oidn_high", False),
    "8 spp + OIDN fast": (8, "oidn", True),
    "16 spp, no denoiser": (16, "none", True),
}
REFERENCE = (128, "none", True)


def _config(samples: int, denoise: str, in_worker: bool) -> RenderConfig:
    config = RenderConfig()
    config.effects.jpeg_prob = config.effects.blur_prob = config.effects.motion_blur_prob = 0.0
    config.effects.noise_sigma = (0.0, 0.0)
    config.image.image_format = "png"
    config.quality.samples = samples
    config.quality.denoise = denoise
    config.quality.denoise_in_worker = in_worker
    return config


def _render(models: Path, out: Path, count: int, config: RenderConfig, workers: int) -> float:
    cpu0 = os.times()
    report = render_dataset(models, out, n=count, seed=0, config=config, workers=workers, progress=True)
    cpu1 = os.times()
    return (cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system) / report.images


def _samples(root: Path):
    from synth.datasets import ShardReader

    data = ShardReader(root)
    items = [data[i] for i in range(len(data))]
    data.close()
    return items


def _laplacian(image: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.Laplacian(grey, cv2.CV_32F, ksize=1)


def _box(item, shape) -> tuple[slice, slice]:
    x0, y0, x1, y1 = np.asarray(item["bbox"], float)
    h, w = shape[:2]
    x0, y0 = int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.floor(y0), 0, h - 1))
    x1, y1 = int(np.clip(np.ceil(x1), x0 + 1, w)), int(np.clip(np.ceil(y1), y0 + 1, h))
    return slice(y0, y1), slice(x0, x1)


def compare(reference, candidate) -> dict:
    ratios, band_errors, psnrs = [], [], []
    for ref, cand in zip(reference, candidate):
        window = _box(ref, ref["image"].shape)
        a, b = ref["image"][window].astype(np.float32), cand["image"][window].astype(np.float32)
        la, lb = _laplacian(ref["image"])[window], _laplacian(cand["image"])[window]
        ratios.append(float(np.abs(lb).mean() / max(np.abs(la).mean(), 1e-6)))
        band_errors.append(float(np.abs(la - lb).mean()))
        mse = float(((a - b) ** 2).mean())
        psnrs.append(10 * np.log10(255.0**2 / max(mse, 1e-6)))
    return {"detail_ratio_median": round(float(np.median(ratios)), 3),
            "detail_ratio_p10": round(float(np.percentile(ratios, 10)), 3),
            "band_error_mean": round(float(np.mean(band_errors)), 2),
            "psnr_db_median": round(float(np.median(psnrs)), 2)}


def contact_sheet(columns: list, path: Path, count: int = 6, tile: int = 160) -> None:
    import cv2

    rows = []
    for i in range(min(count, len(columns[0]))):
        crops = []
        for items in columns:
            item = items[i]
            crop = item["image"][_box(item, item["image"].shape)]
            crops.append(letterbox(np.ascontiguousarray(crop), tile, fill=128)[0])
        rows.append(np.concatenate(crops, axis=1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "denoise_detail.json")
    args = parser.parse_args()
    start = time.time()
    results = {"count": args.count, "workers": args.workers, "reference": {
        "samples": REFERENCE[0], "denoise": REFERENCE[1]}, "settings": {}}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"reference: {REFERENCE[0]} samples, no denoiser")
        ref_cpu = _render(args.models, Path(tmp) / "reference", args.count, _config(*REFERENCE), args.workers)
        results["reference"]["cpu_s_per_image"] = round(ref_cpu, 3)
        reference = _samples(Path(tmp) / "reference")
        columns = [reference]
        for k, (name, setting) in enumerate(SETTINGS.items()):
            print(name)
            cpu = _render(args.models, Path(tmp) / f"s{k}", args.count, _config(*setting), args.workers)
            items = _samples(Path(tmp) / f"s{k}")
            columns.append(items)
            results["settings"][name] = {"samples": setting[0], "denoise": setting[1],
                                         "cpu_s_per_image": round(cpu, 3), **compare(reference, items)}
        png = args.out.with_suffix(".png")
        contact_sheet(columns, png)
    results["seconds"] = round(time.time() - start, 1)
    for name, r in results["settings"].items():
        print(f"{name:44s} detail ratio {r['detail_ratio_median']:.3f} (p10 {r['detail_ratio_p10']:.3f}), "
              f"band error {r['band_error_mean']:.2f}, PSNR {r['psnr_db_median']:.1f} dB, "
              f"{r['cpu_s_per_image']:.3f} CPU-s/image")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out} and {png} (columns: reference, then the settings in the order above)")


if __name__ == "__main__":
    main()
