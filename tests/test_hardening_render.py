"""Render jobs that must refuse or clean up (issue 21, items 1, 2, 6): bad options named at the CLI, a re-run
with other settings refused instead of mixing two datasets, workers that die with their parent, and stale
temporaries of a killed run removed. Real renders at tiny settings (Blender in spawned processes)."""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args, option", [
    (["--size", "0"], "--size"), (["--size", "-3"], "--size"), (["--n", "-5"], "--n"), (["--n", "0"], "--n"),
    (["--workers", "0"], "--workers"),
])
def test_bad_render_options_are_refused_by_name_before_anything_is_written(tmp_path, args, option):
    from cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", "--models", str(tmp_path / "no_models"), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert f"error: {option} " in result.output
    assert not out.exists()


if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy (Blender as a Python module) is not installed", allow_module_level=True)

from synth.datasets import read_manifest  # noqa: E402
from synth.datasets.schema import DatasetError  # noqa: E402
from synth.render import remove_stale_temp_files, render_dataset  # noqa: E402
from synth.scene import RenderConfig  # noqa: E402


# `library`: the session's three-model library (tests/conftest.py).


def tiny_config(size=48) -> RenderConfig:
    config = RenderConfig()
    config.image.size = size
    config.image.native_size = (40.0, 60.0)
    config.quality.samples = 1
    config.quality.denoise = "none"
    config.shard_size = 3
    return config


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(library, tmp_path):
    out = tmp_path / "data"
    stale = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"pamtri_render_{_dead_pid()}.exr"
    stale.write_bytes(b"left by a killed worker")
    streets = Path(tempfile.gettempdir()) / f"pamtri_streets_{_dead_pid()}_x"  # a killed run's street cache
    (streets / "street_1_512.npy").parent.mkdir()
    (streets / "street_1_512.npy").write_bytes(b"left by a killed run")
    render_dataset(library, out, n=4, seed=5, config=tiny_config(), workers=1, progress=False)
    assert not stale.exists() and not streets.exists()  # a dead run's temporaries are removed by the next run
    assert not list(Path(tempfile.gettempdir()).glob(f"pamtri_streets_{os.getpid()}_*"))  # and its own too
    before = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    for kwargs, named in ((dict(n=4, seed=6), "seed: existing 5, asked 6"),
                          (dict(n=2, seed=5), "num_samples_planned: existing 4, asked 2"),
                          (dict(n=4, seed=5, config=tiny_config(size=32)), "config image.size: existing 48, asked 32")):
        kwargs.setdefault("config", tiny_config())
        with pytest.raises(DatasetError, match="dataset.yaml") as error:
            render_dataset(library, out, workers=1, progress=False, **kwargs)
        assert named in str(error.value)
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == before
    # shards of an earlier toolkit version, whose config lacked a setting this version has: named as such
    import yaml
    manifest = yaml.safe_load((out / "dataset.yaml").read_text())
    del manifest["config"]["traffic"]
    (out / "dataset.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(DatasetError, match="earlier version of the toolkit") as error:
        render_dataset(library, out, n=4, seed=5, config=tiny_config(), workers=1, progress=False)
    assert "traffic.prob" in str(error.value) and "fresh --out" in str(error.value)
    (out / "dataset.yaml").write_bytes(before["dataset.yaml"])
    again = render_dataset(library, out, n=4, seed=5, config=tiny_config(), workers=1, progress=False)
    assert len(again.skipped) == 2 and read_manifest(out)["seed"] == 5
    mine = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"pamtri_render_{os.getpid()}.exr"
    mine.write_bytes(b"a live process's file")
    try:
        assert mine not in remove_stale_temp_files() and mine.exists()
    finally:
        mine.unlink()


def test_a_larger_n_grows_the_dataset_and_keeps_its_samples(library, tmp_path):
    """Issue 21 item 7: sample i is the same for every n > i, so a re-run with a larger --n keeps the full shards,
    renders the last (short) shard of a split again with more samples, and adds the rest."""
    import h5py

    from synth.datasets.validate import validate_dataset

    out = tmp_path / "data"
    render_dataset(library, out, n=4, seed=7, config=tiny_config(), workers=1, progress=False)

    def columns(path):
        with h5py.File(path) as f:
            return {name: f[name][:] for name in ("vehicle_id", "color_id", "model_id", "keypoints", "seed")}

    full_before = (out / "train-00000.h5").read_bytes()
    short_before = columns(out / "train-00001.h5")
    report = render_dataset(library, out, n=7, seed=7, config=tiny_config(), workers=1, progress=False)
    assert [p.name for p in report.skipped] == ["train-00000.h5"]
    assert sorted(p.name for p in report.written) == ["train-00001.h5", "train-00002.h5"]
    assert (out / "train-00000.h5").read_bytes() == full_before
    grown = columns(out / "train-00001.h5")
    for name, values in short_before.items():  # sample 3 is the same vehicle, seen the same way
        np.testing.assert_array_equal(grown[name][:1], values, err_msg=name)
    manifest = read_manifest(out)
    assert manifest["num_samples_planned"] == 7 and manifest["splits"]["train"]["num_samples"] == 7
    assert validate_dataset(out).ok
    with pytest.raises(DatasetError, match="it does not shrink"):
        render_dataset(library, out, n=5, seed=7, config=tiny_config(), workers=1, progress=False)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _start_render(library, out) -> subprocess.Popen:
    script = (f"from synth.render import render_dataset; from tests.test_hardening_render import tiny_config; "
              f"render_dataset({str(library)!r}, {str(out)!r}, n=400, seed=1, config=tiny_config(), workers=1, "
              f"progress=False)")
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)


def _wait_for_worker(parent: subprocess.Popen, timeout: float = 60.0) -> list[int]:
    """The parent's children (the render worker and multiprocessing's resource tracker) once the worker has
    loaded Blender."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        children = _children(parent.pid)
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        if workers and any("bpy" in line for line in Path(f"/proc/{workers[0]}/maps").read_text().splitlines()):
            return children
        assert parent.poll() is None, "the render ended before its worker started"
        time.sleep(0.3)
    raise AssertionError("no render worker started")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_or_terminated_render(library, tmp_path, how):
    parent = _start_render(library, tmp_path / "data")
    workers = []
    try:
        workers = _wait_for_worker(parent)
        os.kill(parent.pid, how)
        rc = parent.wait(timeout=30)
        if how == signal.SIGTERM:
            assert rc == 128 + signal.SIGTERM
        deadline = time.time() + 20
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), f"orphaned render processes {workers} after {how.name}"
    finally:
        if parent.poll() is None:
            parent.kill()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def _hold_lock(path: str, ready, release) -> None:
    from synth.datasets.manifest import ShardLock

    with ShardLock(path):
        ready.set()
        release.wait(60)


def test_a_shard_task_not_run_is_named_and_a_task_started_twice_is_refused(library, tmp_path):
    import multiprocessing

    from synth.datasets.validate import validate_dataset

    out = tmp_path / "data"
    render_dataset(library, out, n=6, seed=2, config=tiny_config(), workers=1, shard=(0, 2), progress=False)
    report = validate_dataset(out)
    assert not report.ok
    planned = read_manifest(out)["planned_splits"]
    assert sum(p["num_samples"] for p in planned.values()) == 6
    assert "incomplete dataset" in str(report.errors[0]) and "-00001.h5" in str(report.errors[0])
    # the other task, started twice: the second is refused at once, by shard name
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    missing = sorted(set(f"{s}-{k:05d}.h5" for s, p in planned.items() for k in range(p["shards"]))
                     - {p.name for p in out.glob("*.h5")})
    holder = context.Process(target=_hold_lock, args=(str(out / missing[0]), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(DatasetError, match=f"{missing[0]}: another process is writing this shard"):
            render_dataset(library, out, n=6, seed=2, config=tiny_config(), workers=1, shard=(1, 2), progress=False)
    finally:
        release.set()
        holder.join(30)
    render_dataset(library, out, n=6, seed=2, config=tiny_config(), workers=1, shard=(1, 2), progress=False)
    assert validate_dataset(out).ok
