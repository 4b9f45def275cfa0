"""Cost figures the docs state agree with the measurements they cite (issue 21, item 12): the README's and
RENDER.md's render time for 41,000 images against bench/results/render_throughput.json, the worker memory to
plan for against the measured peaks, and the bench's goal against the project's CPU budget."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench() -> dict:
    return json.loads((ROOT / "bench" / "results" / "render_throughput.json").read_text())["default"]


def _flat(path: str) -> str:
    return " ".join((ROOT / path).read_text().split())


def test_render_time_for_41000_images_matches_the_bench():
    hours = _bench()["hours_for_41000"]
    readme = re.search(r"rendering 41,000 images takes about (\d+(?:\.\d+)?) hours", _flat("README.md"))
    assert readme, "README no longer states the render time"
    assert abs(float(readme.group(1)) - hours) <= 0.25 * hours, (readme.group(0), hours)
    render = re.search(r"41,000 images in (\d+(?:\.\d+)?) h", _flat("docs/RENDER.md"))
    assert render and float(render.group(1)) == round(hours, 1)


def test_worker_memory_to_plan_for_covers_the_measured_peaks():
    text = _flat("README.md") + " " + _flat("docs/RENDER.md")
    planned = [float(v) for v in re.findall(r"about (\d+(?:\.\d+)?) GB of memory per (?:render )?worker", text)]
    assert planned, "the docs do not say how much memory a render worker needs"
    measured_peak = max(_bench()["peak_worker_rss_mb"] / 1024, 1.49)  # 1.49 GB: full runs (issue 21)
    assert all(p >= measured_peak for p in planned), (planned, measured_peak)


def test_the_bench_goal_is_the_cpu_budget_and_is_met():
    source = (ROOT / "bench" / "render_throughput.py").read_text()
    goal = re.search(r"^GOAL_CPU_S_PER_IMAGE = (\d+\.\d+)", source, re.M)
    assert goal and float(goal.group(1)) == 0.40
    assert "goal: 4 images/s" not in _flat("docs/RENDER.md")
    assert _bench()["cpu_s_per_image"] <= float(goal.group(1))
