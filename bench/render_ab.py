"""Render cost of this checkout against an earlier revision, side by side on the same machine.

The render budget (bench/render_throughput.py, 0.40 CPU-s per image at 256 px) was recorded on one machine;
a shared or different machine moves every figure (the reference quality too), so a change's cost is a ratio
measured in one run. This renders the same `--count` default-quality images with `cli.py render` in this
checkout and in a git worktree of `--base`, interleaved over `--rounds` rounds (A B A B: drifting load falls on
both), and prints the CPU seconds of the render processes per image for each and their ratio. Writes JSON.

    python bench/render_ab.py --base REV [--count 120] [--rounds 2] [--out bench/results/render_ab.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def render_cpu(checkout: Path, count: int, out: Path) -> float:
    """CPU seconds (user + system) that `cli.py render` and its workers spent on `count` images in `checkout`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "cli.py", "render", "--n", str(count), "--seed", "0", "--out", str(out)],
                   cwd=checkout, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the revision to compare against (a commit, tag or branch)")
    ap.add_argument("--count", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "render_ab.json")
    args = ap.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    base = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    cpu = {"base": [], "head": []}
    load = os.getloadavg()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="render_ab_") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for r in range(args.rounds):
                for side, checkout in (("base", tree), ("head", ROOT)):
                    seconds = render_cpu(checkout, args.count, Path(tmp) / f"{side}_{r}")
                    cpu[side].append(seconds)
                    print(f"round {r + 1} {side:4s}: {seconds:.1f} CPU-s, {seconds / args.count:.3f} per image",
                          flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    per_image = {side: round(sum(v) / (len(v) * args.count), 3) for side, v in cpu.items()}
    ratio = round(per_image["head"] / per_image["base"], 3)
    print(f"base {base}: {per_image['base']:.3f} CPU-s/image (start-up included); head {head}: "
          f"{per_image['head']:.3f}; head / base = {ratio:.3f}")
    result = {"base": base, "head": head, "count": args.count, "rounds": args.rounds,
              "cpu_s_per_image_with_startup": per_image, "cpu_s_runs": cpu, "head_over_base": ratio,
              "load_average_at_start": [round(v, 2) for v in load], "cpus": os.cpu_count(),
              "seconds": round(time.time() - start, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
