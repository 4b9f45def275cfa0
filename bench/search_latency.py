"""Search latency against gallery size (issue 23 item 2), with the gallery on disk as `cli.py search` caches it.

    .venv/bin/python bench/search_latency.py [--sizes 1000 10000 100000 1000000] [--dim 1024] [--queries 1 16]

For each gallery size, a float32 (N, dim) feature file of random features is written once (like
`<dataset>/search_cache/<key>.npy`) and opened as a memmap; `eval.search.search_top_k` ranks it for 1 and for
16 queries (top 10; the median of `--repeats` runs, after one warm-up run so the file is in the page cache).
Also timed: one query image's feature with the paper's DenseNet121 at 256 px on this CPU (random weights: the
cost does not depend on them). Memory: the process's peak anonymous memory (RssAnon, sampled every 5 ms) while
ranking, which leaves out the page cache behind the memmap: that is what blockwise ranking keeps bounded.
Writes bench/results/search_latency.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout: bench/, tests/ not installed

from eval.search import DEFAULT_BLOCK_ELEMENTS, search_top_k  # noqa: E402


def rss_anon_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """The largest RssAnon seen while the block runs."""

    def __enter__(self):
        self.peak, self._stop = rss_anon_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_anon_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon_mb())


def gallery_file(folder: Path, size: int, dim: int) -> Path:
    path = folder / f"gallery_{size}x{dim}.npy"
    if not path.exists():
        rng = np.random.default_rng(size)
        features = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+", dtype=np.float32,
                                             shape=(size, dim))
        for start in range(0, size, 65536):
            rows = min(65536, size - start)
            features[start : start + rows] = rng.standard_normal((rows, dim), dtype=np.float32)
        features.flush()
        del features
        path.with_suffix(".tmp.npy").rename(path)
    return path


def query_feature_seconds(repeats: int) -> float:
    import torch

    from train.reid.model import ReidArch, ReidNet

    model = ReidNet(ReidArch(num_identities=10), pretrained=False).eval()
    image = torch.randn(1, 3, 256, 256)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            started = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "search_latency")
    parser.add_argument("--keep", action="store_true", help="Keep the gallery files (default: removed after).")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "search_latency.json")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        path = gallery_file(args.folder, size, args.dim)
        gallery = np.load(path, mmap_mode="r")
        for count in args.queries:
            query = np.random.default_rng(count).standard_normal((count, args.dim), dtype=np.float32)
            search_top_k(query, gallery, args.top)  # warm-up: the file into the page cache
            times = []
            with PeakMemory() as memory:
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    search_top_k(query, gallery, args.top)
                    times.append(time.perf_counter() - started)
            rows.append({"gallery": size, "queries": count, "seconds": float(np.median(times)),
                         "ms_per_query": 1000 * float(np.median(times)) / count,
                         "gallery_file_mb": path.stat().st_size / 2**20, "peak_rss_anon_mb": memory.peak})
            print(f"gallery {size:>8}, {count:>2} queries: {1000 * rows[-1]['seconds']:9.1f} ms "
                  f"(peak anonymous memory {memory.peak:.0f} MB, file {rows[-1]['gallery_file_mb']:.0f} MB)", flush=True)
        del gallery
        if not args.keep:
            path.unlink()
    feature_s = query_feature_seconds(args.repeats)
    result = {"machine": platform.processor() or platform.machine(), "dim": args.dim, "top": args.top,
              "block_elements": DEFAULT_BLOCK_ELEMENTS, "repeats": args.repeats,
              "query_feature_seconds_densenet121_256px_cpu": feature_s, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("\n| gallery | queries | ranking ms | ms / query | peak anon. memory MB |\n|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['gallery']:,} | {r['queries']} | {1000 * r['seconds']:.1f} | {r['ms_per_query']:.1f} | "
              f"{r['peak_rss_anon_mb']:.0f} |")
    print(f"\none query's feature (DenseNet121, 256 px, CPU): {1000 * feature_s:.0f} ms; results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
