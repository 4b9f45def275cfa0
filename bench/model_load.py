"""How long a render worker takes to load the model library, model after model, as the renderer loads them
(synth.blender.vehicles: link the .blend, copy objects and materials) and, side by side in the same run, as it
did before (append the .blend: every datablock made local). Each mode runs in its own fresh process. Blender's
make-local step walks all the data already loaded, so appending grows with every model; linking should not.
Prints the first and last models' times and the totals; writes JSON.

    python bench/model_load.py [--models assets]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed


def _load_all(models_dir: str, mode: str) -> list[float]:
    import bpy

    from synth.blender import vehicles
    from synth.vehicles.library import load_library

    times = []
    for asset in load_library(models_dir):
        start = time.perf_counter()
        if mode == "link":
            vehicles._templates(asset)
        else:
            with bpy.data.libraries.load(str(asset.mesh_path), link=False) as (src, dst):
                dst.objects = list(src.objects)
        times.append(time.perf_counter() - start)
    return times


def _measure(models: Path, mode: str) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.model_load import _load_all; "
            f"print('RESULT', json.dumps(_load_all({str(models)!r}, {mode!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    times = json.loads(line[len("RESULT "):])
    return {"models": len(times), "total_s": round(sum(times), 2), "first_5_s": [round(t, 3) for t in times[:5]],
            "last_5_s": [round(t, 3) for t in times[-5:]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "model_load.json")
    args = parser.parse_args()
    result = {mode: _measure(args.models.resolve(), mode) for mode in ("link", "append")}
    result["ratio_append_over_link"] = round(result["append"]["total_s"] / result["link"]["total_s"], 1)
    for mode in ("link", "append"):
        r = result[mode]
        print(f"{mode:6s}: {r['models']} models in {r['total_s']:.2f} s; first {r['first_5_s']}, last {r['last_5_s']}")
    print(f"append / link: {result['ratio_append_over_link']}x (link: objects and materials copied; "
          "append: the previous way, for comparison)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
