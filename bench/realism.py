"""How close the default render's keypoint visibility is to real traffic-camera data.

Compares the per-keypoint visible rate (PAMTRI's binary visibility: code 2) of synthetic samples with that
of the real VeRi-776 keypoint labels (../shared/data/veri_keypoints/label_train.csv), and prints the mean
absolute difference over the 36 keypoints (goal: at most 0.05) for both label sets a render stores: the
geometric codes (`keypoints`, what is actually seen) and the annotator-model codes (`annotator_visibility`,
synth/annotation.py: VeRi's marking habits; the like-for-like comparison, since the real labels are annotators'
marks). The synthetic labels come from ray casting the default scenes (`synth.label_checks.label_keypoints`:
the same code that labels rendered images, minus Cycles) or, with --dataset, from an already rendered dataset.
Also prints the rates split by whether each side of the vehicle faces the camera, read off the 2D keypoints of
both (bench/facing.py: the viewpoint mix apart from what is marked on a side once shown). Writes bar chart PNGs
next to the JSON (realism.png, realism_facing.png).
With --fit it instead measures the real images' viewpoints (PnP against the asset library) and writes the
azimuth histogram, the default azimuth weights it gives and the elevation percentiles to real_viewpoints.json.
With --by-view it compares the rates view by view (real images binned by their PnP azimuth, synthetic samples
of uniform azimuth and no occlusion by theirs) and writes realism_by_view.json and a heat map PNG of the
differences: where in the view circle the geometry and the annotations part.

    python bench/realism.py [--models assets] [--count 1500] [--config FILE] [--dataset DIR]
    python bench/realism.py --fit [--bins 24] [--floor 0.2] [--max-images N]
    python bench/realism.py --by-view [--count 3000] [--bins 24] [--max-images N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed
sys.path.insert(0, str(ROOT / "bench"))

import facing  # noqa: E402
from synth.vocabulary import KEYPOINT_NAMES, NUM_KEYPOINTS, VIS_VISIBLE  # noqa: E402

DEFAULT_VERI = ROOT.parent / "shared" / "data" / "veri_keypoints" / "label_train.csv"


def veri_keypoints(csv_path: Path) -> np.ndarray:
    """(N, 36, 3) x, y, visibility code of the real labels (hidden keypoints keep the annotators' positions)."""
    from synth.datasets.importers import read_pose_csv

    return np.stack([keypoints for *_, keypoints in read_pose_csv(csv_path)])


def dataset_keypoints(dataset: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A rendered dataset's keypoints (N, 36, 3) and annotator codes (N, 36; None unless every shard has them)."""
    import h5py

    from synth.datasets.manifest import manifest_shards

    def read(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
        with h5py.File(path, "r") as shard:
            codes = shard["annotator_visibility"][:] if "annotator_visibility" in shard else None
            return shard["keypoints"][:], codes

    parts = [read(path) for _, path, _ in manifest_shards(dataset)]
    annotator = None if any(c is None for _, c in parts) else np.concatenate([c for _, c in parts])
    return np.concatenate([k for k, _ in parts]), annotator


def visible_rates(keypoints: np.ndarray) -> np.ndarray:
    return (keypoints[:, :, 2] == VIS_VISIBLE).mean(axis=0)


def with_codes(keypoints: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The keypoints with other visibility codes (the annotator model's) in place of theirs."""
    out = keypoints.copy()
    out[:, :, 2] = codes
    return out


def keypoint_labels() -> list[str]:
    return [f"{i} {n.replace('left_', 'L ').replace('right_', 'R ')}" for i, n in enumerate(KEYPOINT_NAMES)]


def plot(real: np.ndarray, synth: np.ndarray, path: Path, title: str, annotator: np.ndarray | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 4.2))
    x = np.arange(NUM_KEYPOINTS)
    w = 0.4 if annotator is None else 0.28
    ax.bar(x - w, real, w, label="VeRi-776 (real labels)")
    ax.bar(x, synth, w, label="synthetic (default render, geometric labels)")
    if annotator is not None:
        ax.bar(x + w, annotator, w, label="synthetic (default render, annotator-model labels)")
    ax.set_xticks(x, keypoint_labels(), rotation=90, fontsize=7)
    ax.set_ylabel("visible rate")
    ax.set_ylim(0, 1.18)  # headroom for the legend above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fit_real_views(models: Path, veri: Path, max_images: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The viewpoints of the real images: the asset library's keypoints fitted to every real label with PnP
    (bench/keypoint_fit.py: best model and focal length; images with 8 or more visible keypoints). Returns the
    (N, 2) camera azimuth and elevation and the (N, 36) visible flags of the images fitted."""
    from tqdm import tqdm

    from keypoint_fit import best_pose, camera_view, read_labels, select_labels, visible
    from synth.vehicles.library import load_library

    templates = np.stack([a.keypoints for a in load_library(models)])
    labels = select_labels(read_labels(veri), max_images or None)
    views, flags = [], []
    for _, w, h, kps in tqdm(labels, desc="PnP fits", unit="image"):
        seen = visible(kps)
        best = best_pose(templates, kps[:, :2], seen, w, h)
        if best is not None:
            views.append(camera_view(templates[best["model"]], best["Rt"]))
            flags.append(seen)
    print(f"{len(views)} of {len(labels)} real images fitted")
    return np.array(views), np.array(flags)


def measure_viewpoints(args) -> dict:
    """Histogram the real images' camera azimuth and elevation (`fit_real_views`). The histogram, floored so
    that every view stays present, is what ViewpointConfig.azimuth_weights defaults to."""
    views, _ = fit_real_views(args.models, args.veri, args.max_images)
    az, el = views.T
    hist = np.histogram(az, bins=args.bins, range=(0, 360))[0].astype(np.float64)
    weights = np.maximum(hist / hist.mean(), args.floor)
    elevation = np.percentile(el, [5, 25, 50, 75, 95]).round(1).tolist()
    print(f"azimuth histogram ({360 / args.bins:g} degree bins from 0 = front, 90 = left):", hist.astype(int).tolist())
    print("azimuth_weights:", "(" + ", ".join(f"{w:.2f}" for w in weights) + ")")
    print(f"elevation 5/25/50/75/95 %: {elevation}")
    return {"images": len(views), "azimuth_histogram": hist.astype(int).tolist(),
            "azimuth_weights": [round(float(w), 2) for w in weights], "floor": args.floor,
            "elevation_percentiles_5_25_50_75_95": elevation}


def rates_by_bin(flags: np.ndarray, bins: np.ndarray, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples per bin and the (num_bins, 36) visible rate of each bin (NaN where empty)."""
    counts = np.bincount(bins, minlength=num_bins)
    rates = np.stack([flags[bins == b].mean(0) if counts[b] else np.full(NUM_KEYPOINTS, np.nan)
                      for b in range(num_bins)])
    return counts, rates


def compare_by_view(args) -> dict:
    """Visible rates per azimuth bin, real (binned by their PnP azimuth) against synthetic (uniform azimuth, no
    occluders, patches or truncation, binned by their own): where in the view circle the two disagree, free of the
    viewpoint mix. Also the mean absolute difference of the overall rates when the synthetic bins are mixed as
    the real images are (what the geometry alone leaves)."""
    from synth.label_checks import label_keypoints
    from synth.scene import RenderConfig

    views, real_flags = fit_real_views(args.models, args.veri, args.max_images)
    config = RenderConfig.from_yaml(args.config) if args.config else RenderConfig()
    config.viewpoint.azimuth, config.viewpoint.azimuth_weights = (0.0, 360.0), ()
    config.occluders.prob = config.occlusion2d.prob = config.image.truncation_prob = 0.0
    labels = label_keypoints(args.models, args.n, args.seed, config, count=args.count, workers=args.workers)
    codes, synth_views = labels.keypoints[:, :, 2], labels.views
    synth_flags = codes == VIS_VISIBLE
    width = 360 / args.bins
    real_bin = (views[:, 0] % 360 // width).astype(int)
    synth_bin = (synth_views[:, 0] % 360 // width).astype(int)
    real_n, real_rate = rates_by_bin(real_flags, real_bin, args.bins)
    synth_n, synth_rate = rates_by_bin(synth_flags, synth_bin, args.bins)
    mix = real_n / real_n.sum()

    def real_mix(rate: np.ndarray) -> float:
        """Mean |diff| of the overall rates with the synthetic bins mixed as the real images are."""
        return float(np.abs(np.nansum(rate * mix[:, None], axis=0) - real_flags.mean(0)).mean())

    mixed_mad = real_mix(synth_rate)
    print(f"synthetic: {len(codes)} samples, uniform azimuth, no occlusion; bins of {width:g} degrees")
    print(f"mean absolute difference with the synthetic bins mixed as the real images are: {mixed_mad:.4f}")
    shown = real_n >= args.min_bin_images

    def per_view(rate: np.ndarray) -> float:
        """Mean |diff| of the rates view by view, bins weighted by their real images (bins with enough)."""
        gaps = np.abs(rate - real_rate)[shown].mean(axis=1)
        return float(np.average(gaps, weights=real_n[shown]))

    per_view_mad = per_view(synth_rate)
    print(f"view by view (bins with >= {args.min_bin_images} real images, weighted by them): {per_view_mad:.4f}")
    annotator_mad = annotator_per_view = annotator_rate = None
    if labels.annotator is not None:
        _, annotator_rate = rates_by_bin(labels.annotator == VIS_VISIBLE, synth_bin, args.bins)
        annotator_mad = real_mix(annotator_rate)
        annotator_per_view = per_view(annotator_rate)
        print(f"the same with the annotator-model codes: mixed {annotator_mad:.4f}, view by view "
              f"{annotator_per_view:.4f}")
    gap = np.where(shown[:, None], synth_rate - real_rate, 0.0)
    order = np.dstack(np.unravel_index(np.argsort(-np.abs(gap), axis=None), gap.shape))[0][:20]
    print(f"largest differences (bins with >= {args.min_bin_images} real images):")
    print(f"{'azimuth':>9s} {'keypoint':32s} {'real':>5s} {'synth':>5s} {'n real':>6s}")
    for b, k in order:
        print(f"{b * width:4.0f}-{(b + 1) * width:<4.0f} {k:2d} {KEYPOINT_NAMES[k]:29s} {real_rate[b, k]:5.2f} "
              f"{synth_rate[b, k]:5.2f} {real_n[b]:6d}")
    return {"bin_degrees": width, "real_images": int(len(views)), "synthetic_samples": int(len(codes)),
            "real_count": real_n.tolist(), "synthetic_count": synth_n.tolist(),
            "real_visible_rate": np.round(real_rate, 4).tolist(),
            "synthetic_visible_rate": np.round(synth_rate, 4).tolist(),
            "mean_abs_diff_real_mix": round(mixed_mad, 4),
            "mean_abs_diff_per_view": round(per_view_mad, 4),
            "mean_abs_diff_real_mix_annotator": None if annotator_mad is None else round(annotator_mad, 4),
            "mean_abs_diff_per_view_annotator": None if annotator_per_view is None else round(annotator_per_view, 4),
            "synthetic_visible_rate_annotator":
                None if annotator_rate is None else np.round(annotator_rate, 4).tolist(),
            "min_bin_images": args.min_bin_images}


def plot_by_view(result: dict, path: Path) -> None:
    """Synthetic minus real visible rate per azimuth bin and keypoint (bins with too few real images blank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gap = np.array(result["synthetic_visible_rate"], float) - np.array(result["real_visible_rate"], float)
    gap[np.array(result["real_count"]) < result["min_bin_images"]] = np.nan
    width = result["bin_degrees"]
    fig, ax = plt.subplots(figsize=(14, 6.5))
    cmap = matplotlib.colormaps["RdBu"].copy()
    cmap.set_bad("0.8")
    image = ax.imshow(np.ma.masked_invalid(gap), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(NUM_KEYPOINTS), keypoint_labels(), rotation=90, fontsize=7)
    ax.set_yticks(np.arange(len(gap)), [f"{b * width:.0f}-{(b + 1) * width:.0f} ({n})"
                                        for b, n in enumerate(result["real_count"])], fontsize=7)
    ax.set_ylabel("camera azimuth, degrees (0 front, 90 left; real images)")
    ax.set_title("synthetic minus real visible rate by view (red: synthetic sees less; grey: few real images); "
                 f"real view mix: mean |diff| {result['mean_abs_diff_real_mix']:.3f}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.02)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--veri", type=Path, default=DEFAULT_VERI)
    parser.add_argument("--count", type=int, default=None,
                        help="synthetic samples to label (default 1500; 3000 with --by-view, spread over its bins)")
    parser.add_argument("--n", type=int, default=41000, help="size of the dataset the samples are drawn from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, help="render config YAML (default: the built-in defaults)")
    parser.add_argument("--dataset", type=Path, help="use an already rendered dataset instead")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--fit", action="store_true",
                        help="measure the real images' viewpoints (PnP) and print the azimuth weights they give")
    parser.add_argument("--by-view", action="store_true",
                        help="compare visible rates per azimuth bin (real binned by PnP, synthetic without occlusion)")
    parser.add_argument("--bins", type=int, default=24, help="azimuth bins for --fit and --by-view")
    parser.add_argument("--min-bin-images", type=int, default=40, help="--by-view: real images a bin needs to count")
    parser.add_argument("--floor", type=float, default=0.2, help="--fit: least weight of a bin (1 = the mean)")
    parser.add_argument("--max-images", type=int, default=0, help="--fit, --by-view: real images to fit (0: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "realism.json")
    args = parser.parse_args()

    if args.count is None:
        args.count = 3000 if args.by_view else 1500
    if not args.veri.exists():
        print(f"skipped: real VeRi keypoint labels not found at {args.veri}")
        return
    if args.by_view:
        out = args.out.with_name("realism_by_view.json") if args.out.name == "realism.json" else args.out
        result = compare_by_view(args)
        out.write_text(json.dumps(result, indent=2))
        plot_by_view(result, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")
        return
    if args.fit:
        out = args.out.with_name("real_viewpoints.json") if args.out.name == "realism.json" else args.out
        out.write_text(json.dumps(measure_viewpoints(args), indent=2))
        print(f"wrote {out}")
        return
    real_keypoints = veri_keypoints(args.veri)
    real, n_real = visible_rates(real_keypoints), len(real_keypoints)
    start = time.time()
    if args.dataset:
        synth_keypoints, annotator_codes = dataset_keypoints(args.dataset)
        source = str(args.dataset)
    else:
        from synth.label_checks import label_keypoints
        from synth.scene import RenderConfig

        config = RenderConfig.from_yaml(args.config) if args.config else RenderConfig()
        labels = label_keypoints(args.models, args.n, args.seed, config, count=args.count, workers=args.workers)
        synth_keypoints, annotator_codes = labels.keypoints, labels.annotator
        source = f"ray-cast labels of samples 0..{args.count - 1} (config: {args.config or 'defaults'})"
    synth, n_synth = visible_rates(synth_keypoints), len(synth_keypoints)
    annotator = None if annotator_codes is None else (annotator_codes == VIS_VISIBLE).mean(axis=0)
    mad = float(np.abs(real - synth).mean())
    print(f"real VeRi labels: {n_real} images; synthetic: {n_synth} samples ({source})")
    extra_head = f"  {'annot.':>6s} {'|diff|':>6s}" if annotator is not None else ""
    print(f"{'keypoint':32s} {'real':>6s} {'geom.':>6s} {'|diff|':>7s}{extra_head}")
    for i, name in enumerate(KEYPOINT_NAMES):
        extra = f"  {annotator[i]:6.3f} {abs(real[i] - annotator[i]):6.3f}" if annotator is not None else ""
        print(f"{i:2d} {name:29s} {real[i]:6.3f} {synth[i]:6.3f} {abs(real[i] - synth[i]):7.3f}{extra}")
    print(f"mean absolute difference over 36 keypoints, geometric codes (`keypoints`): {mad:.4f}")
    result = {
        "real_images": n_real, "synthetic_samples": n_synth, "synthetic_source": source, "goal": 0.05,
        "mean_abs_diff_geometric": round(mad, 4),
        "real_visible_rate": [round(float(v), 4) for v in real],
        "synthetic_visible_rate_geometric": [round(float(v), 4) for v in synth],
    }
    if annotator is not None:
        annotator_mad = float(np.abs(real - annotator).mean())
        print(f"mean absolute difference over 36 keypoints, annotator-model codes (`annotator_visibility`, the "
              f"like-for-like comparison): {annotator_mad:.4f} (goal <= 0.05: "
              f"{'met' if annotator_mad <= 0.05 else 'NOT met'})")
        result.update({
            "mean_abs_diff_annotator": round(annotator_mad, 4), "goal_met": annotator_mad <= 0.05,
            "synthetic_visible_rate_annotator": [round(float(v), 4) for v in annotator],
        })
    else:
        print("no annotator-model codes (annotator.enabled off, or a dataset rendered without them)")
        result["goal_met"] = None
    by_facing = facing.compare(real_keypoints, synth_keypoints)
    facing.print_comparison(by_facing)
    result["by_facing"] = facing.to_json(by_facing)
    if annotator_codes is not None:
        result["by_facing_annotator"] = facing.to_json(facing.compare(real_keypoints,
                                                                      with_codes(synth_keypoints, annotator_codes)))
    result.update({"seconds": round(time.time() - start, 1),
                   "load_average_at_start": [round(v, 2) for v in os.getloadavg()]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    png = args.out.with_suffix(".png")
    title = f"per-keypoint visible rate; mean |diff| geometric {mad:.3f}" + (
        f", annotator model {annotator_mad:.3f}" if annotator is not None else "")
    plot(real, synth, png, title, annotator)
    facing_png = args.out.with_name(args.out.stem + "_facing.png")
    facing.plot_comparison(by_facing, facing_png)
    print(f"wrote {args.out}, {png} and {facing_png}")


if __name__ == "__main__":
    main()
