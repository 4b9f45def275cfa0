"""Rendering a synthetic dataset: identity plan, shards, worker processes, resume, progress.

Sample i is a pure function of (config, seed, i) and the model library. The samples of each split are cut into
shards of `config.shard_size` (shard k of a split holds its samples [k*S, (k+1)*S)); the shards of all splits,
in the order train, query, gallery, form the work list, and `shard=(K, N)` renders the ones whose position in
that list is K mod N, so N machines can split one dataset. Complete shards are skipped, so a re-run resumes.

Blender runs only in worker processes (spawned, each `import bpy` once, recycled every
`config.recycle_every` images to keep memory flat); the parent writes the shards.
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth.backgrounds import list_images
from synth.datasets import Sample, ShardWriter, update_manifest
from synth.datasets.manifest import ShardLock, is_complete_shard, read_manifest, read_shard_header, shard_files
from synth.datasets.schema import MANIFEST_NAME, DatasetError, shard_name
from synth.identities import IdentityPlan, plan_identities
from synth.scene import LIGHTING_NAMES, RenderConfig
from synth.sample_renderer import SampleRenderer
from synth.vehicles.library import load_library

CONFIG_NAME = "render_config.yaml"
WORKER_LOG = "render_workers.log"
log = logging.getLogger(__name__)  # warnings reach the CLI's one handler, which draws them above the bars

CHUNK = 20  # samples per worker task: small enough to keep both workers busy to the end
MIN_SIZE = 16  # px: the smallest output image the camera framing and the 32 x 32 silhouette grid make sense at


class RenderError(RuntimeError):
    pass


# --- worker process ----------------------------------------------------------------------------------------

_WORKER: dict = {}
STREET_CACHE_PREFIX = "pamtri_streets_"  # + the run's pid: a folder of the run's street panoramas


def _forget_parent_blender_paths() -> None:
    """A spawned child inherits its parent's sys.path; when the parent had imported bpy, that includes Blender's
    bundled script folders, whose `bpy` package would shadow the wheel's and fail to import (`No module named
    '_bpy'`). Drop them so the child's `import bpy` loads the real module."""
    marker = f"{os.sep}bpy{os.sep}"
    sys.path[:] = [p for p in sys.path if marker not in p]


def _die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to kill this worker when its parent dies (kill -9 included): a worker holds ~1.4 GB and would
    otherwise render on, orphaned, forever. The death signal is tied to the thread that started the worker,
    which for a process pool lives as long as the pool. Elsewhere (no prctl) the pool's own checks remain."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os._exit(1)


def init_worker(config_dict: dict, models_dir: str, n: int, seed: int, background_files: list[str],
                log_path: str | None = None, parent_pid: int | None = None, street_cache: str | None = None) -> None:
    _die_with_parent(parent_pid)
    _forget_parent_blender_paths()
    if log_path:  # Blender prints a line per frame: keep it (and any native crash report) out of the terminal
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    _WORKER.update(config=config_dict, models_dir=models_dir, n=n, seed=seed, backgrounds=background_files,
                   street_cache=street_cache)


def worker_renderer() -> SampleRenderer:
    if "renderer" not in _WORKER:
        config = RenderConfig.from_dict(_WORKER["config"])
        models = load_library(_WORKER["models_dir"])
        plan = plan_identities(models, _WORKER["n"], _WORKER["seed"], config.identities)
        _WORKER["renderer"] = SampleRenderer(config, models, plan, _WORKER["seed"],
                                             [Path(p) for p in _WORKER["backgrounds"]], _WORKER.get("street_cache"))
    return _WORKER["renderer"]


def _render_chunk(indices: list[int]) -> tuple[list[Sample], list[str], int]:
    """Worker task: render a run of samples. Returns the samples, warnings, and the worker's peak RSS (kB)."""
    import resource

    renderer = worker_renderer()
    samples = [renderer.render(int(i))[0] for i in indices]
    warnings, renderer.warnings = renderer.warnings, []
    return samples, warnings, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- the job -----------------------------------------------------------------------------------------------


@dataclass
class ShardUnit:
    split: str
    index: int  # shard index within the split
    samples: np.ndarray  # global sample indices
    path: Path


@dataclass
class RenderReport:
    out: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    images: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    warnings: list[str] = field(default_factory=list)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 0 <= K < N."""
    try:
        k, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like K/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"--shard {text}: need 0 <= K < N")
    return k, n


def shard_units(plan: IdentityPlan, shard_size: int, out: Path) -> list[ShardUnit]:
    units = []
    for split in ("train", "query", "gallery"):
        indices = plan.splits.get(split)
        if indices is None or not len(indices):
            continue
        for k in range(math.ceil(len(indices) / shard_size)):
            units.append(ShardUnit(split, k, indices[k * shard_size:(k + 1) * shard_size],
                                   out / shard_name(split, k)))
    return units


def plan_digest(plan: IdentityPlan) -> str:
    """A fingerprint of the identity plan (which identity, look and split every sample gets): two runs whose
    plans differ would put different vehicles at the same sample index."""
    import hashlib

    digest = hashlib.sha1()
    digest.update(np.ascontiguousarray(plan.sample_identity, np.int64).tobytes())
    digest.update("|".join(str(s) for s in plan.sample_split).encode())
    for ident in plan.identities:
        digest.update(repr((ident.vehicle_id, ident.model_name, ident.color_id, ident.type_id,
                            tuple(round(float(c), 6) for c in ident.paint_rgb), ident.held_out)).encode())
    return digest.hexdigest()[:16]


# What a re-run into a directory that already holds shards must share with the run that wrote them.
_RERUN_KEYS = ("source", "seed", "num_samples_planned", "model_names", "plan_digest", "config")


def _flat(tree, prefix=""):
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}."))
    return out


def check_rerun(out: Path, meta: dict, prefix_digest=None) -> None:
    """Refuse to add shards to a dataset directory whose existing shards were made by another render (other
    seed, --n, --size, config, models or identity plan): the result would mix two datasets under one manifest.
    A directory with no complete shard yet may be reused freely. A larger --n grows the dataset when
    `prefix_digest(old_n)` (the plan digest this run's settings give for the old --n) matches the recorded
    plan: sample i is the same for every n > i (synth/identities.py), so the existing samples stay valid."""
    if not out.is_dir() or not any(is_complete_shard(p) for p in shard_files(out)):
        return
    manifest_path = out / MANIFEST_NAME
    if not manifest_path.exists():
        raise DatasetError(out, "holds shards but no manifest: cannot tell which render made them; use a fresh --out")
    import yaml

    old = read_manifest(out)
    new = yaml.safe_load(yaml.safe_dump(meta))  # as the manifest stores it (tuples become lists)
    differ, newer = [], []
    old_n, new_n = old.get("num_samples_planned"), new["num_samples_planned"]
    growing = isinstance(old_n, int) and old_n < new_n and prefix_digest is not None
    for key in _RERUN_KEYS:
        if growing and key == "num_samples_planned":
            continue
        if growing and key == "plan_digest":
            if old.get(key) != prefix_digest(old_n):
                differ.append(f"plan_digest: this version's plan for --n {old_n} is {prefix_digest(old_n)}, the "
                              f"existing shards were planned as {old.get(key, '(not recorded)')} (another version "
                              "of the planner: cannot grow them)")
            continue
        if key not in old:
            if key == "plan_digest":  # manifests written before the digest was recorded: the other keys decide
                continue
            differ.append(f"{key}: missing in the existing manifest")
            continue
        if key == "config":
            a, b = _flat(old[key]), _flat(new[key])
            changed = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            differ += [f"config {k}: existing {a.get(k, '(absent)')!r}, asked {b.get(k, '(absent)')!r}" for k in changed]
            newer = [k for k in changed if k not in a]
        elif old[key] != new[key]:
            shown = (lambda v: f"{len(v)} models" if key == "model_names" else repr(v))
            differ.append(f"{key}: existing {shown(old[key])}, asked {shown(new[key])}"
                          + (" (a dataset grows with a larger --n, it does not shrink)"
                             if key == "num_samples_planned" else ""))
    old_files = (old.get("backgrounds") or {}).get("num_files")
    if old_files is not None and old_files != new["backgrounds"]["num_files"]:
        differ.append(f"backgrounds: existing {old_files} files, asked {new['backgrounds']['num_files']}")
    if differ:
        why = "the shards here were rendered with other settings"
        if newer and len(newer) == len(differ):  # only settings this version added: the shards are an older version's
            why = (f"the shards here were rendered by an earlier version of the toolkit, which had no setting for "
                   f"{', '.join(newer)} (its images would differ from this version's); finish them with that "
                   "version, or render into a fresh --out")
        raise DatasetError(manifest_path, why + ", refusing to mix two datasets (use a fresh --out, or the same "
                           "options to resume): " + "; ".join(differ))


def check_render_options(n: int, config: RenderConfig, workers: int | None, shard: tuple[int, int]) -> None:
    """Options that cannot make a dataset, refused before anything is written, naming the option."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"--n (images in the dataset) must be a whole number >= 1, got {n!r}")
    size = config.image.size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"--size (image.size) must be a whole number of pixels >= {MIN_SIZE}, got {size!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if config.shard_size < 1:
        raise ValueError(f"shard_size (render config) must be >= 1, got {config.shard_size}")
    parse_shard(f"{shard[0]}/{shard[1]}")


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _models_arg(models_dir):
    """The model library as plain data for a worker and the manifest: a path, or a list of them."""
    if isinstance(models_dir, (list, tuple)):
        return [str(d) for d in models_dir]
    return str(models_dir)


def render_dataset(models_dir, out, n: int, seed: int = 0, config: RenderConfig | None = None,
                   backgrounds=None, workers: int | None = None, shard: tuple[int, int] = (0, 1),
                   progress: bool = True) -> RenderReport:
    """Render `n` samples (this machine's part of them with `shard`) into dataset directory `out`."""
    config = config or RenderConfig()
    check_render_options(n, config, workers, shard)
    out = Path(out)
    models = load_library(models_dir)
    plan = plan_identities(models, n, seed, config.identities)
    background_files = [str(p) for p in list_images(backgrounds)] if backgrounds else []
    units = shard_units(plan, config.shard_size, out)
    mine = [u for j, u in enumerate(units) if j % shard[1] == shard[0]]
    report = RenderReport(out=out)
    model_names = [m.name for m in models]
    meta = {
        "source": "synthetic",
        "generator": "synth.render (Blender Cycles)",
        "seed": int(seed),
        "num_samples_planned": int(n),
        "config": config.to_dict(),
        "models_dir": _models_arg(models_dir),
        "model_names": model_names,
        "num_identities": len(plan.present),  # with images among these n samples (the catalogue may hold more)
        "plan_digest": plan_digest(plan),
        # what a complete dataset holds, so inspect can name the shards a never-run --shard K/N task left out
        "planned_splits": {split: {"num_samples": int(sum(len(u.samples) for u in units if u.split == split)),
                                   "shards": sum(1 for u in units if u.split == split)}
                           for split in dict.fromkeys(u.split for u in units)},
        "backgrounds": {"dir": str(backgrounds) if backgrounds else None, "num_files": len(background_files)},
    }
    check_rerun(out, meta, lambda old_n: plan_digest(plan_identities(models, old_n, seed, config.identities)))
    todo, locks = [], []
    out.mkdir(parents=True, exist_ok=True)
    try:
        for unit in mine:
            # a grown dataset's last shard of a split held fewer samples: it is rendered again, fuller
            if is_complete_shard(unit.path) and read_shard_header(unit.path)["num_samples"] == len(unit.samples):
                report.skipped.append(unit.path)
                continue
            # held for the whole job: a second process given the same shards is refused now, not after rendering
            locks.append(ShardLock(unit.path).acquire())
            todo.append(unit)
            if unit.path.exists():
                unit.path.unlink()  # an unfinished or corrupt shard is rendered again
        config.save(out / CONFIG_NAME)
        update_manifest(out, meta)
        if not todo:
            return report
        return _render_units(todo, models_dir, out, n, seed, config, models, plan, meta, background_files,
                             workers, progress, report)
    finally:
        for lock in locks:
            lock.release()


def _render_units(todo, models_dir, out, n, seed, config, models, plan, meta, background_files, workers,
                  progress, report) -> RenderReport:
    import shutil
    import tempfile
    import time

    from tqdm import tqdm

    model_names = meta["model_names"]
    workers = workers or default_workers()
    remove_stale_temp_files()
    # the street panoramas (synth/street_view.py) drawn once per run and shared: a worker replaced after
    # `recycle_every` images would otherwise draw its predecessors' streets again
    street_cache = tempfile.mkdtemp(prefix=f"{STREET_CACHE_PREFIX}{os.getpid()}_")
    shard_attrs = {"model_names": model_names, "lighting_names": list(LIGHTING_NAMES), "source": "synthetic",
                   "generator_seed": int(seed)}
    chunks = []  # (unit position, chunk position, indices)
    for u, unit in enumerate(todo):
        for c, start in enumerate(range(0, len(unit.samples), CHUNK)):
            chunks.append((u, c, [int(i) for i in unit.samples[start:start + CHUNK]]))
    per_unit = [math.ceil(len(unit.samples) / CHUNK) for unit in todo]
    results: dict[int, dict[int, list[Sample]]] = {u: {} for u in range(len(todo))}
    attempts: dict[tuple[int, int], int] = {}
    tasks_per_child = max(1, config.recycle_every // CHUNK)
    init_args = (config.to_dict(), _models_arg(models_dir), int(n), int(seed), background_files, str(out / WORKER_LOG),
                 os.getpid(), street_cache)
    total = sum(len(u.samples) for u in todo)
    bar = tqdm(total=total, unit="img", desc=f"render {out.name}", disable=not progress, smoothing=0.05)
    start_time = time.time()
    seen_warnings: set[str] = set()

    def make_pool():
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker, initargs=init_args,
                                   max_tasks_per_child=tasks_per_child)

    pool = make_pool()
    pending = list(reversed(chunks))
    in_flight: dict = {}
    restore_signals = _terminate_raises()
    try:
        while pending or in_flight:
            while pending and len(in_flight) < 2 * workers:
                chunk = pending.pop()
                in_flight[pool.submit(_render_chunk, chunk[2])] = chunk
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                chunk = in_flight.pop(future)
                u, c, indices = chunk
                try:
                    samples, warnings, rss = future.result()
                except BrokenProcessPool:
                    broken = True
                    key = (u, c)
                    attempts[key] = attempts.get(key, 0) + 1
                    if attempts[key] > 2:
                        raise RenderError(_crash_message(todo[u], indices, models, plan)) from None
                    pending.append(chunk)
                    continue
                for w in warnings:
                    if w not in seen_warnings:
                        seen_warnings.add(w)
                        report.warnings.append(w)
                        log.warning(w)
                report.peak_rss_mb = max(report.peak_rss_mb, rss / 1024)
                results[u][c] = samples
                bar.update(len(samples))
                report.images += len(samples)
                if len(results[u]) == per_unit[u]:
                    report.written.append(_write_shard(todo[u], results.pop(u), shard_attrs, config))
                    update_manifest(out, meta)
            if broken:
                for future, chunk in in_flight.items():
                    pending.append(chunk)
                in_flight.clear()
                _stop_pool(pool)
                log.warning("a render worker crashed; restarting the workers and retrying its samples")
                pool = make_pool()
    except BaseException:
        for future in in_flight:
            future.cancel()
        _stop_pool(pool)
        bar.close()
        update_manifest(out, meta)
        raise
    finally:
        restore_signals()
        shutil.rmtree(street_cache, ignore_errors=True)
    pool.shutdown()
    bar.close()
    report.seconds = time.time() - start_time
    update_manifest(out, meta)
    return report


class RenderInterrupted(SystemExit):
    """SIGTERM during a render: unwinds like Ctrl-C so the workers are stopped and the manifest is kept."""


def _terminate_raises():
    """While a render runs, SIGTERM unwinds the job (workers stopped, complete shards kept) instead of killing
    the parent alone; returns the function that puts the previous handler back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_terminate(signum, frame):
        raise RenderInterrupted(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_terminate)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: a plain shutdown lets busy workers finish their chunk (minutes at large sizes), and the
    interpreter's exit would wait for them. The executor keeps no public handle on its processes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


def remove_stale_temp_files() -> list[Path]:
    """Remove the render temporaries (`pamtri_render_<pid>.exr|png` in /dev/shm, memory there) that workers
    of a killed run left behind, and the street caches (`pamtri_streets_<pid>_*` folders) of killed runs; a
    file whose process is alive is kept."""
    import shutil
    import tempfile

    removed = []
    for base in {Path("/dev/shm"), Path(tempfile.gettempdir())}:
        if not base.is_dir():
            continue
        for path in base.glob("pamtri_render_*.*"):
            pid = path.stem.rsplit("_", 1)[-1]
            if not pid.isdigit() or _process_alive(int(pid)):
                continue
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass  # another user's file, or removed meanwhile
        for path in base.glob(f"{STREET_CACHE_PREFIX}*_*"):
            pid = path.name[len(STREET_CACHE_PREFIX):].split("_", 1)[0]
            if not path.is_dir() or not pid.isdigit() or _process_alive(int(pid)):
                continue
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _crash_message(unit: ShardUnit, indices, models, plan) -> str:
    names = sorted({models[plan.identities[int(plan.sample_identity[i])].model_index].name for i in indices})
    files = ", ".join(str(m.mesh_path) for m in models if m.name in names)
    return (f"{unit.path}: a render worker crashed twice on samples {indices[0]}-{indices[-1]} "
            f"(models: {files}); the complete shards are kept, re-run to resume")


def _write_shard(unit: ShardUnit, chunks: dict[int, list[Sample]], attrs: dict, config: RenderConfig) -> Path:
    writer = ShardWriter(unit.path, unit.split, config.image.image_format, config.image.jpeg_quality, attrs)
    try:
        for c in sorted(chunks):
            for sample in chunks[c]:
                writer.append(sample)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


# --- helpers -----------------------------------------------------------------------------------------------


def run_in_blender_process(fn, *args):
    """Call fn(*args) in a fresh spawned process (Blender state never leaks into the caller)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_forget_parent_blender_paths) as pool:
        return pool.submit(fn, *args).result()
