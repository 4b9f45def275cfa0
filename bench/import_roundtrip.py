"""Ground-truth round trip of `cli.py assets import`: every model of a library (known keypoints) is exported to
.glb, .obj and .fbx in a random frame (axes permuted with signs), unit (m, cm, mm, inch) and offset, imported
back, and its 36 keypoints compared with the truth.

    .venv/bin/python bench/import_roundtrip.py [--models assets] [--formats glb,obj,fbx] [--seed 0] [--only NAME]

Goals (issue 20): per model median error <= 3 cm and max <= 8 cm; type guessed right for >= 90 %; seconds per
import. Writes bench/results/import_roundtrip.json (per model and format, and per keypoint over all of them).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed

from synth.vehicles.library import load_library  # noqa: E402
from synth.vocabulary import KEYPOINT_NAMES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ROOT / "assets")
    ap.add_argument("--formats", default="glb,obj,fbx")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "import_roundtrip.json")
    args = ap.parse_args()
    from synth.blender.model_import import roundtrip
    from synth.vehicles.importer import ImportFailure

    rng = np.random.default_rng(args.seed)
    library = [a for a in load_library(args.models) if not args.only or a.name in args.only]
    rows, failures = [], []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="import_roundtrip_") as work:
        for asset in library:
            for fmt in args.formats.split(","):
                try:
                    row = roundtrip(asset.folder, fmt, rng, work)
                except ImportFailure as exc:
                    failures.append({"model": asset.name, "format": fmt, "error": str(exc)})
                    print(f"{asset.name:14s} {fmt}: FAILED {exc}", flush=True)
                    continue
                row.pop("folder")
                ok = row["median_cm"] <= 3 and row["max_cm"] <= 8
                worst = int(np.argmax(row["errors_cm"]))
                print(f"{asset.name:14s} {fmt:4s} {row['unit']:4s}->{row['unit_found']:5s} type "
                      f"{row['type_guessed']:9s} median {row['median_cm']:5.2f} max {row['max_cm']:5.2f} cm "
                      f"(worst {worst}) {row['seconds']:.1f}s {'ok' if ok else 'OVER'}", flush=True)
                rows.append(row)
    errs = np.array([r["errors_cm"] for r in rows]) if rows else np.zeros((0, 36))
    n = len(rows) + len(failures)
    summary = {
        "imports": n, "failed": len(failures),
        "within_goal": sum(r["median_cm"] <= 3 and r["max_cm"] <= 8 for r in rows),
        "median_of_model_medians_cm": round(float(np.median([r["median_cm"] for r in rows])), 2) if rows else None,
        "worst_model_median_cm": max((r["median_cm"] for r in rows), default=None),
        "worst_model_max_cm": max((r["max_cm"] for r in rows), default=None),
        "type_right": round(sum(r["type"] == r["type_guessed"] for r in rows) / max(n, 1), 3),
        "unit_right": round(sum(r["unit"] == r["unit_found"] for r in rows) / max(n, 1), 3),
        "seconds_per_import_median": round(float(np.median([r["seconds"] for r in rows])), 2) if rows else None,
        "seconds_total": round(time.time() - t0, 1),
    }
    per_kp = {KEYPOINT_NAMES[i]: {"median_cm": round(float(np.median(errs[:, i])), 2),
                                  "p90_cm": round(float(np.percentile(errs[:, i], 90)), 2),
                                  "max_cm": round(float(errs[:, i].max()), 2)} for i in range(36)} if rows else {}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "per_keypoint": per_kp, "failures": failures,
                                    "models": rows, "seed": args.seed, "models_dir": str(args.models)}, indent=1))


if __name__ == "__main__":
    main()
