"""Does a render worker's memory stay flat? One worker process renders `--count` default samples of the
library (every model loaded on first use, occluder vehicles included) without being recycled, and reports its
resident memory (VmRSS) every `--every` images. The renderer recycles workers every `recycle_every` images
(400) anyway; this measures what a worker would grow by without that net. Writes JSON and a PNG plot.

    python bench/worker_memory.py [--models assets] [--count 1000] [--every 50]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: bench/, tests/ not installed

from synth.render import init_worker, worker_renderer  # noqa: E402
from synth.scene import RenderConfig  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _render_and_measure(count: int, every: int) -> list[tuple[int, float, float]]:
    renderer = worker_renderer()
    start = time.time()
    points = [(0, _rss_mb(), 0.0)]
    for i in range(count):
        renderer.render(i)
        if (i + 1) % every == 0:
            points.append((i + 1, _rss_mb(), time.time() - start))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "assets")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "worker_memory.json")
    args = parser.parse_args()
    config = RenderConfig()
    config.occluders.prob = 0.3  # more occluder vehicles than the default: they load library models too
    log = Path(tempfile.gettempdir()) / "pamtri_worker_memory.log"  # Blender's per-frame lines go here
    init_args = (config.to_dict(), str(args.models), args.count, 0, [], str(log))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                             initargs=init_args) as pool:
        points = pool.submit(_render_and_measure, args.count, args.every).result()
    images, rss, seconds = (list(v) for v in zip(*points))
    for count, mb in zip(images, rss):
        print(f"{count:5d} images: {mb:.0f} MB")
    first_model_pass = max(1, len(points) // 4)  # by then every model has been loaded at least once
    growth = (rss[-1] - rss[first_model_pass]) / max(images[-1] - images[first_model_pass], 1) * 1000
    result = {"count": args.count, "occluder_prob": config.occluders.prob, "images": images,
              "rss_mb": [round(v, 1) for v in rss], "seconds": [round(v, 1) for v in seconds],
              "peak_rss_mb": round(max(rss), 1),
              "growth_mb_per_1000_images_after_warm_up": round(growth, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(images, rss, marker="o", ms=3)
    ax.set_xlabel("images rendered by one worker (no recycling)")
    ax.set_ylabel("resident memory (MB)")
    ax.set_ylim(0, max(rss) * 1.15)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)
    print(f"peak {result['peak_rss_mb']} MB; growth after warm-up {result['growth_mb_per_1000_images_after_warm_up']}"
          f" MB per 1000 images; wrote {args.out}")


if __name__ == "__main__":
    main()
