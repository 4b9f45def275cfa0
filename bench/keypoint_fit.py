"""Do the library's 3D keypoints mean what real annotators meant? Fit them to real VeRi keypoint labels.

For each image of the PAMTRI VeRi pose labels with 8 or more visible keypoints, every model of the library is
fitted with a PnP solve (pinhole camera, principal point at the image centre, focal length the best of 1.5, 3, 6
and 12 times the longer image side), keeping the best model and focal per image. The error of an image is the
mean reprojection error of its visible keypoints divided by the image diagonal. Prints the median and 90th
percentile over images, the median residual of every keypoint index (a keypoint placed at the wrong part stands
out), and a control: the same fit with keypoints 0-17 put on the right side, which must come out worse.

    .venv/bin/python bench/keypoint_fit.py [--models assets] [--labels PATH] [--max-images 3000]

Writes bench/results/keypoint_fit.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed

from synth.camera import camera_centre  # noqa: E402
from synth.datasets.importers import read_pose_csv  # noqa: E402
from synth.vocabulary import FLIP_INDEX, KEYPOINT_NAMES, NUM_KEYPOINTS, VIS_VISIBLE  # noqa: E402

DEFAULT_LABELS = ROOT.parent / "shared" / "data" / "veri_keypoints" / "label_train.csv"
FOCAL_FACTORS = (1.5, 3.0, 6.0, 12.0)
MIN_VISIBLE = 8


def read_labels(path: Path) -> list[tuple[str, int, int, np.ndarray]]:
    """(name, width, height, (36, 3) x, y, visibility code) per row of a PAMTRI pose CSV."""
    return [row[1:] for row in read_pose_csv(path)]


def visible(keypoints: np.ndarray) -> np.ndarray:
    return keypoints[:, 2] == VIS_VISIBLE


def best_pose(templates: np.ndarray, uv: np.ndarray, vis: np.ndarray, width: int, height: int) -> dict | None:
    """The template (M, 36, 3), focal length and pose [R|t] that reproject the visible labels best (SQPnP, then
    Levenberg-Marquardt): error and per-keypoint residuals as fractions of the image diagonal."""
    obj_all = templates[:, vis]
    img = np.ascontiguousarray(uv[vis], dtype=np.float64)
    diag = float(np.hypot(width, height))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    best = None
    for factor in FOCAL_FACTORS:
        f = factor * max(width, height)
        K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
        for m, obj in enumerate(obj_all):
            obj = np.ascontiguousarray(obj)
            ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
            if not ok:
                continue
            rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, None, rvec, tvec)
            R, _ = cv2.Rodrigues(rvec)
            cam = obj @ R.T + tvec.ravel()
            if np.any(cam[:, 2] <= 0):
                continue
            proj = cam[:, :2] / cam[:, 2:3] * f + (cx, cy)
            res = np.linalg.norm(proj - img, axis=1) / diag
            err = float(res.mean())
            if best is None or err < best["error"]:
                best = {"error": err, "residuals": res, "model": m, "factor": factor,
                        "Rt": np.column_stack([R, tvec.ravel()])}
    return best


def camera_view(template: np.ndarray, Rt: np.ndarray) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of the camera seen from the vehicle (0 = in front, 90 = on its left; the
    renderer's ViewpointConfig convention), elevation above the height of the keypoints' centre."""
    centre = camera_centre(Rt)  # in the vehicle frame
    azimuth = float(np.degrees(np.arctan2(centre[1], centre[0])) % 360.0)
    height = centre[2] - float(template[:, 2].mean())
    return azimuth, float(np.degrees(np.arctan2(height, np.hypot(centre[0], centre[1]))))


def run_fit(templates: np.ndarray, labels, progress: bool = False) -> dict:
    errors, per_kp, models, focals = [], [[] for _ in range(NUM_KEYPOINTS)], [], []
    for i, (name, w, h, kps) in enumerate(labels):
        vis = visible(kps)
        best = best_pose(templates, kps[:, :2], vis, w, h)
        if best is None:
            continue
        errors.append(best["error"])
        models.append(best["model"])
        focals.append(best["factor"])
        for k, r in zip(np.nonzero(vis)[0], best["residuals"]):
            per_kp[k].append(r)
        if progress and i % 500 == 0:
            print(f"  {i}/{len(labels)} median so far {np.median(errors):.4f}", flush=True)
    errors = np.array(errors)
    return {
        "images": int(len(errors)),
        "median": float(np.median(errors)),
        "p90": float(np.percentile(errors, 90)),
        "per_keypoint_median": [float(np.median(r)) if r else float("nan") for r in per_kp],
        "model_counts": np.bincount(np.array(models), minlength=len(templates)).tolist(),
        "focal_counts": {str(f): int(np.sum(np.array(focals) == f)) for f in FOCAL_FACTORS},
    }


def select_labels(labels, max_images: int | None):
    usable = [row for row in labels if int(visible(row[3]).sum()) >= MIN_VISIBLE]
    if max_images and len(usable) > max_images:
        idx = np.linspace(0, len(usable) - 1, max_images).round().astype(int)
        usable = [usable[i] for i in idx]
    return usable


def mirrored(templates: np.ndarray) -> np.ndarray:
    """The control: keypoint i takes the 3D point of its left/right partner (0-17 on the right side)."""
    return templates[:, FLIP_INDEX]


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT.parent))
    except ValueError:
        return str(path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--max-images", type=int, default=3000, help="0 = all usable images")
    parser.add_argument("--no-control", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "keypoint_fit.json")
    args = parser.parse_args(argv)

    from synth.vehicles.library import load_library

    if not args.labels.is_file():
        print(f"labels not found: {args.labels} (the real VeRi keypoint labels); nothing to fit")
        return {}
    assets = load_library(args.models)
    templates = np.stack([a.keypoints for a in assets])
    labels = select_labels(read_labels(args.labels), args.max_images or None)
    print(f"{len(assets)} models, {len(labels)} images with >= {MIN_VISIBLE} visible keypoints")
    t0 = time.time()
    result = run_fit(templates, labels)
    result["seconds"] = round(time.time() - t0, 1)
    print(f"median {result['median']:.4f}   p90 {result['p90']:.4f}   ({result['seconds']} s)")
    worst = int(np.nanargmax(result["per_keypoint_median"]))
    print("median residual per keypoint (left | right):")
    for k in range(18):
        a, b = result["per_keypoint_median"][k], result["per_keypoint_median"][k + 18]
        print(f"  {k:2d} {a:.4f} | {k + 18:2d} {b:.4f}   {KEYPOINT_NAMES[k][5:]}")
    print(f"worst keypoint: {worst} {KEYPOINT_NAMES[worst]} {result['per_keypoint_median'][worst]:.4f}")
    by_type: dict[str, int] = {}
    for a, c in zip(assets, result["model_counts"]):
        by_type[a.type_name] = by_type.get(a.type_name, 0) + c
    print("best-fitting model type counts:", by_type)
    out = {"models": _rel(args.models), "n_models": len(assets), "labels": _rel(args.labels),
           "max_images": args.max_images, "fit": result, "best_type_counts": by_type,
           "model_names": [a.name for a in assets]}
    if not args.no_control:
        control = run_fit(mirrored(templates), labels)
        print(f"control (0-17 on the right side): median {control['median']:.4f}   p90 {control['p90']:.4f}")
        out["control_mirrored"] = {k: control[k] for k in ("images", "median", "p90", "per_keypoint_median")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
