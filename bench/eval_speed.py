"""Speed and memory of the ReID evaluator (eval/reid_metrics.py, eval/reranking.py).

Cases (synthetic clustered features, so the metrics are mid-range rather than trivially 0 or 1):
- VeRi-776 test size: 1,678 queries x 11,579 gallery, 1024-d, 200 identities, 20 cameras. Time of the full
  evaluation (distances + all metrics), Euclidean and cosine, best of --repeats; k-reciprocal re-ranking
  (k1 20, k2 6, lambda 0.3) once; and, for contrast, the classic dense route's first two steps alone (whole
  distance matrix + full argsort).
- Large: 10,000 queries x 100,000 gallery (--large-dim, 1024-d by default): time and peak memory. The whole
  distance matrix alone would be 4 GB of float32 (plus 8 GB for an int64 argsort).
  --rerank-large also re-ranks it (N x N distance products: very long on a CPU).
- Re-ranking, mid size: 2,000 x 30,000 x 1024 (N = 32,000 items: one dense N x N float32 matrix, of which the
  authors' code holds several, would be 3.8 GB): time and peak memory.

Peak memory is the process's resident-set high-water mark (VmHWM, reset before each measured call through
/proc/self/clear_refs) minus the resident size before the call: inputs are not counted.

    python bench/eval_speed.py [--repeats 3] [--skip-large] [--out bench/results/eval_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: bench/, tests/ not installed

from eval.reid_metrics import evaluate_reid  # noqa: E402
from eval.reranking import RerankConfig  # noqa: E402


def _status(field: str) -> int:
    """A /proc/self/status memory field in bytes (0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(fn):
    """(seconds, result, peak extra bytes or None) of one call."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        resettable = True
    except OSError:
        resettable = False
    before = _status("VmRSS")
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = _status("VmHWM") - before if resettable and before else None
    return seconds, result, peak


def clustered_case(num_q, num_g, dim, num_ids, num_cams, signal, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, dim), dtype=np.float32) * signal
    q_ids, g_ids = rng.integers(0, num_ids, num_q), rng.integers(0, num_ids, num_g)
    qf = rng.standard_normal((num_q, dim), dtype=np.float32)
    qf += centres[q_ids]
    gf = np.empty((num_g, dim), np.float32)
    for s in range(0, num_g, 10000):  # in pieces: no full-size float64 temporaries
        gf[s : s + 10000] = rng.standard_normal((min(10000, num_g - s), dim), dtype=np.float32) + centres[g_ids[s : s + 10000]]
    return qf, gf, q_ids, g_ids, rng.integers(0, num_cams, num_q), rng.integers(0, num_cams, num_g)


def scores(result) -> dict:
    return {"mAP": round(result.mAP, 4), "rank1": round(result.rank(1), 4), "mINP": round(result.mINP, 4),
            "skipped": result.num_skipped}


def mb(value):
    return None if value is None else round(value / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--large-queries", type=int, default=10_000)
    parser.add_argument("--large-gallery", type=int, default=100_000)
    parser.add_argument("--large-dim", type=int, default=1024)
    parser.add_argument("--rerank-large", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "eval_speed.json")
    args = parser.parse_args()

    report: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
    }
    qf, gf, q_ids, g_ids, q_cams, g_cams = clustered_case(1678, 11579, 1024, 200, 20, signal=0.3)
    veri = {"queries": 1678, "gallery": 11579, "dim": 1024}
    for metric in ("euclidean", "cosine"):
        times = []
        for _ in range(args.repeats):
            seconds, result, peak = measured(lambda: evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, metric=metric))
            times.append(seconds)
        veri[metric] = {"best_s": round(min(times), 3), "median_s": round(float(np.median(times)), 3),
                        "peak_extra_mb": mb(peak), **scores(result)}
        print(f"VeRi-size {metric}: best {min(times):.3f} s, median {np.median(times):.3f} s, "
              f"peak +{mb(peak)} MB, mAP {result.mAP:.4f}, R1 {result.rank(1):.4f}")

    def dense_route():
        d = qf @ gf.T
        return np.argsort(d, axis=1)

    seconds, _, peak = measured(dense_route)
    veri["dense_matrix_plus_argsort_only"] = {"seconds": round(seconds, 3), "peak_extra_mb": mb(peak)}
    print(f"VeRi-size dense route (matrix + argsort, no metrics yet): {seconds:.3f} s, peak +{mb(peak)} MB")

    seconds, result, peak = measured(lambda: evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, rerank=RerankConfig()))
    veri["rerank"] = {"seconds": round(seconds, 2), "peak_extra_mb": mb(peak), **scores(result)}
    print(f"VeRi-size with re-ranking: {seconds:.2f} s, peak +{mb(peak)} MB, mAP {result.mAP:.4f}, R1 {result.rank(1):.4f}")
    report["veri_size"] = veri
    del qf, gf

    if not args.skip_large:
        qf, gf, q_ids, g_ids, q_cams, g_cams = clustered_case(2000, 30000, 1024, 1000, 30, signal=0.35, seed=2)
        seconds, result, peak = measured(lambda: evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, rerank=RerankConfig()))
        n = len(qf) + len(gf)
        report["rerank_mid"] = {"queries": len(qf), "gallery": len(gf), "dim": 1024, "seconds": round(seconds, 1),
                                "peak_extra_mb": mb(peak), "dense_n_by_n_float32_mb": mb(n * n * 4), **scores(result)}
        print(f"re-ranking {len(qf)} x {len(gf)}: {seconds:.1f} s, peak +{mb(peak)} MB "
              f"(one dense N x N float32 matrix: {mb(n * n * 4)} MB), mAP {result.mAP:.4f}")
        del qf, gf

        nq, ng, dim = args.large_queries, args.large_gallery, args.large_dim
        qf, gf, q_ids, g_ids, q_cams, g_cams = clustered_case(nq, ng, dim, 5000, 50, signal=0.4, seed=1)
        large = {"queries": nq, "gallery": ng, "dim": dim, "input_mb": mb(qf.nbytes + gf.nbytes),
                 "dense_distance_matrix_mb": mb(nq * ng * 4)}
        seconds, result, peak = measured(lambda: evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams))
        large["euclidean"] = {"seconds": round(seconds, 2), "peak_extra_mb": mb(peak), **scores(result)}
        print(f"large {nq} x {ng} x {dim}: {seconds:.2f} s, peak +{mb(peak)} MB "
              f"(a dense distance matrix alone: {mb(nq * ng * 4)} MB), mAP {result.mAP:.4f}")
        if args.rerank_large:
            seconds, result, peak = measured(
                lambda: evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, rerank=RerankConfig()))
            large["rerank"] = {"seconds": round(seconds, 1), "peak_extra_mb": mb(peak), **scores(result)}
            print(f"large with re-ranking: {seconds:.1f} s, peak +{mb(peak)} MB, mAP {result.mAP:.4f}")
        report["large"] = large

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
