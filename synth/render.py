"""Rendering a synthetic dataset: identity plan, shards, worker processes, resume, progress.

Sample i is a pure function of (config, seed, i) and the model library. The samples of each split are cut into
shards of `config.shard_size` (shard k of a split holds its samples [k*S, (k+1)*S)); the shards of all splits,
in the order train, query, gallery, form the work list, and `shard=(K, N)` renders the ones whose position in
that list is K mod N, so N machines can split one dataset. Complete shards are skipped, so a re-run resumes.

Blender runs only in worker processes (spawned, each `import bpy` once, recycled every
`config.recycle_every` images to keep memory flat); the parent writes the shards.
"""
from __future__ import annotations

import dataclasses
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

from synth import compose
from synth.annotation import annotator_codes
from synth.backgrounds import BackgroundError, FrameSource, list_images, procedural_background
from synth.backend import SceneBackend
from synth.blender.denoise import Denoiser  # ctypes + numpy, no bpy
from synth.camera import box_of, camera_centre, frame_vehicle, project, truncation_of
from synth.datasets import Sample, ShardWriter, update_manifest
from synth.datasets.manifest import ShardLock, is_complete_shard, read_manifest, read_shard_header, shard_files
from synth.datasets.schema import MANIFEST_NAME, DatasetError, shard_name
from synth.datasets.writer import encode_image
from synth.identities import IdentityPlan, plan_identities
from synth.scene import LIGHTING_NAMES, RenderConfig, SceneSample, sample_scene
from synth.shadows import caster_mask, ground_light
from synth.vehicles.library import load_library

CONFIG_NAME = "render_config.yaml"
WORKER_LOG = "render_workers.log"
log = logging.getLogger(__name__)  # warnings reach the CLI's one handler, which draws them above the bars

CHUNK = 20  # samples per worker task: small enough to keep both workers busy to the end
MIN_SIZE = 16  # px: the smallest output image the camera framing and the 32 x 32 silhouette grid make sense at


class RenderError(RuntimeError):
    pass


# --- one sample (runs in a worker) -------------------------------------------------------------------------


class SampleRenderer:
    """A worker's renderer: the persistent Blender scene plus everything that turns a render into a sample."""

    def __init__(self, config: RenderConfig, models, plan: IdentityPlan, seed: int, background_files=()):
        # the bpy backend: imported in the worker that renders, so the parent and importers never load bpy
        from synth.blender.scene_backend import SceneBuilder

        self.config, self.models, self.plan, self.seed = config, models, plan, seed
        self.frames = FrameSource(list(background_files)) if background_files else None
        self.builder: SceneBackend = SceneBuilder(models, occluder_slots=max(1, config.occluders.max_count))
        self.device = self.builder.configure(config.quality)
        self.builder.use_denoiser(self._denoiser(config.quality))
        self.warnings: list[str] = []

    def _denoiser(self, quality):
        """On the CPU, OIDN kept alive in the worker (synth.blender.denoise: Cycles' own denoiser costs ~3x
        more per small image); on a GPU, Cycles' denoiser (fast there)."""
        if quality.denoise != "oidn" or self.device != "CPU" or not quality.denoise_in_worker:
            return None  # (oidn_high, the reference, keeps Cycles' prefiltering of the passes)
        return Denoiser("fast", threads=quality.threads)

    def describe(self, index: int) -> SceneSample:
        return sample_scene(self.config, self.plan, self.models, self.seed, index,
                            len(self.frames) if self.frames else 0)

    def setup(self, sample: SceneSample) -> dict:
        """Put the scene in the state of `sample`; returns the framing (Rt, K, render size, K_render)."""
        size = self.config.image.size
        vehicle = self.builder.show_vehicle(sample.identity.model_index, sample.identity.paint_rgb, sample.look)
        frame = frame_vehicle(sample, vehicle.outline, size)
        self.builder.set_camera(frame["K_render"], frame["Rt"], frame["render_size"])
        frame["sun_rgb"] = compose.blackbody_rgb(sample.sun_temperature)
        self.builder.set_lighting(sample, frame["sun_rgb"])
        frame["catcher"] = self.builder.set_ground(sample, vehicle)
        frame["caster_mask"] = caster_mask(sample.caster) if sample.caster else None
        self.builder.set_caster(sample, frame["caster_mask"])
        self.builder.set_occluders(sample.occluders)
        frame["vehicle"] = vehicle
        return frame

    def background(self, sample: SceneSample, frame: dict, key_offset: int = 0, native: bool = False) -> np.ndarray:
        """The sample's background at the output size, or (`native`) at the render's size and K."""
        size, K = (frame["render_size"], frame["K_render"]) if native else (self.config.image.size, frame["K"])
        bg = sample.background
        if bg["kind"] == "file" and self.frames is not None and not key_offset:
            try:
                return self.frames.crop(bg["file_index"], bg["scale"], bg["position"], bg["flip"], size)
            except BackgroundError as exc:
                self.warnings.append(f"{exc} (sample {sample.index} uses a procedural background)")
        light = None
        if sample.caster and not key_offset:  # the caster's shadow beyond the catcher (Cycles shades that)
            def light(points):
                return ground_light(points, sample.caster, frame["caster_mask"], sample, frame["sun_rgb"],
                                    exclude=frame["catcher"])
        return procedural_background(K, frame["Rt"], size, sample.road_yaw + 90.0 * key_offset,
                                     bg["key"] + key_offset, bg["seed"] + key_offset, sample.sky_color, light)

    def labels(self, sample: SceneSample, frame: dict) -> dict:
        """Keypoints (36, 3: x, y, visibility before 2D occlusion), amodal box, and the vehicle's amodal /
        visible silhouette on a 32 x 32 grid, by ray casting the scene as set up for `sample`; with the
        annotator model on, also `annotator_seen` (36,): the codes of a ray cast that lets the vehicle's own
        body cover a keypoint by the model's tolerance (see `annotate`)."""
        size, annotator = self.config.image.size, self.config.annotator
        K, Rt, vehicle = frame["K"], frame["Rt"], frame["vehicle"]
        uv, _ = project(K, Rt, vehicle.asset.keypoints)
        vis = self.builder.keypoint_visibility(vehicle.asset.keypoints, uv, K, Rt, size)
        amodal, visible = self.builder.visibility_grid(K, Rt, size, grid=32, occluded=bool(sample.occluders))
        labels = {"keypoints": np.column_stack([uv, vis]), "box": box_of(project(K, Rt, vehicle.outline)[0]),
                  "amodal": amodal, "visible": visible}
        if annotator.enabled:
            labels["annotator_seen"] = vis if annotator.self_tolerance <= 0 else self.builder.keypoint_visibility(
                vehicle.asset.keypoints, uv, K, Rt, size, self_tolerance=annotator.self_tolerance, known=vis)
        return labels

    @staticmethod
    def apply_patch_mask(labels: dict, mask: np.ndarray) -> dict:
        """2D occluders hide keypoints and silhouette cells under them."""
        size = mask.shape[0]
        grid = labels["amodal"].shape[0]
        centres = np.round((np.arange(grid) + 0.5) * size / grid - 0.5).astype(int)
        out = {**labels, "keypoints": compose.occlude_keypoints(labels["keypoints"], mask),
               "visible": labels["visible"] & ~mask[np.ix_(centres, centres)]}
        if "annotator_seen" in labels:
            seen = np.column_stack([labels["keypoints"][:, :2], labels["annotator_seen"]])
            out["annotator_seen"] = compose.occlude_keypoints(seen, mask)[:, 2]
        return out

    def annotate(self, labels: dict, frame: dict) -> dict:
        """Adds `annotator_visibility` (36,) int8, the codes VeRi's annotators would give (synth/annotation.py),
        once 2D occlusion is applied; nothing when the annotator model is off."""
        if "annotator_seen" not in labels:
            return labels
        codes = annotator_codes(labels["annotator_seen"], self.config.annotator, camera_centre(frame["Rt"]),
                                frame["vehicle"].asset.keypoints)
        return {**labels, "annotator_visibility": codes}

    def setup_and_label(self, index: int) -> tuple[SceneSample, dict, dict]:
        """Set up sample `index` and ray-cast its labels. Where its 3D occluders would leave less than
        `occluders.min_visible` of the vehicle in sight (a tree crown by the camera can hide it all), the sample
        goes without them: a detector would not have cropped such a vehicle for a ReID set. Deterministic, so a
        re-run or another worker draws the same image."""
        sample = self.describe(index)
        frame = self.setup(sample)
        self.builder.update()
        labels = self.labels(sample, frame)
        if sample.occluders and _visible_fraction(labels) < self.config.occluders.min_visible:
            sample = dataclasses.replace(sample, occluders=[])
            self.builder.set_occluders([])
            self.builder.update()
            labels = self.labels(sample, frame)
        return sample, frame, labels

    def label_only(self, index: int) -> dict:
        """The labels of sample `index` without rendering (scene set up, ray casts only): for statistics."""
        sample, frame, labels = self.setup_and_label(index)
        if sample.patches:
            mask = np.zeros((self.config.image.size,) * 2, bool)
            for patch in sample.patches:
                mask |= compose.patch_mask(patch, labels["box"], self.config.image.size)
            labels = self.apply_patch_mask(labels, mask)
        return {**self.annotate(labels, frame), "sample": sample}

    def render(self, index: int) -> tuple[Sample, dict]:
        """Render sample `index`; returns the dataset sample and extras for checks (the raw render, the
        scene description, the framing, the final image)."""
        cfg = self.config
        size = cfg.image.size
        sample, frame, labels = self.setup_and_label(index)
        rgba = self.builder.render(sample.seed)
        # One picture at the crop's native resolution, softened by the camera's optics, then scaled as a whole:
        # a small crop is soft all over (a sharp road under an upsampled vehicle looked pasted), and no edge
        # is pixel-sharp (at 3 samples a silhouette's coverage is jagged).
        image = compose.composite(compose.premultiply(rgba), self.background(sample, frame, native=True))
        image = compose.resize_to(compose.lens_blur(image, cfg.effects.lens_blur), size)
        K, Rt, box = frame["K"], frame["Rt"], labels["box"]
        if sample.patches:  # as soft as the picture they are pasted on
            def fill(seed):
                other = self.background(sample, frame, key_offset=1 + seed % 7, native=True)
                return compose.resize_to(compose.lens_blur(other, cfg.effects.lens_blur), size)
            softness = max(0.7, cfg.effects.lens_blur * size / frame["render_size"])
            image, mask = compose.paste_patches(image, sample.patches, box, fill, softness)
            labels = self.apply_patch_mask(labels, mask)
        labels = self.annotate(labels, frame)
        image8 = compose.camera_effects(image, sample.effects)

        keypoints = labels["keypoints"].astype(np.float32)
        visible_fraction = _visible_fraction(labels)
        ident = sample.identity
        out = Sample(
            image=encode_image(image8, cfg.image.image_format, cfg.image.jpeg_quality),
            image_name=f"{ident.vehicle_id:04d}_c{sample.camera_id:03d}_{index:08d}_0.jpg",
            vehicle_id=ident.vehicle_id,
            camera_id=sample.camera_id,
            color_id=ident.color_id,
            type_id=ident.type_id,
            keypoints=keypoints,
            bbox=box.astype(np.float32),
            extra={
                "model_id": ident.model_index,
                "viewpoint": np.array([sample.azimuth, sample.elevation, sample.distance], np.float32),
                "K": K.astype(np.float32),
                "Rt": Rt.astype(np.float32),
                "visible_fraction": np.float32(visible_fraction),
                "truncation": np.float32(truncation_of(box, size)),
                "lighting": sample.lighting_vector(),
                "seed": np.int64(sample.seed),
            },
        )
        if "annotator_visibility" in labels:
            out.extra["annotator_visibility"] = labels["annotator_visibility"]
        return out, {"rgba": rgba, "sample": sample, "frame": frame, "image": image8, "labels": labels}


def _visible_fraction(labels: dict) -> float:
    """Share of the vehicle's silhouette cells that nothing hides."""
    return float(labels["visible"].sum() / max(labels["amodal"].sum(), 1))


# --- worker process ----------------------------------------------------------------------------------------

_WORKER: dict = {}


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
                log_path: str | None = None, parent_pid: int | None = None) -> None:
    _die_with_parent(parent_pid)
    _forget_parent_blender_paths()
    if log_path:  # Blender prints a line per frame: keep it (and any native crash report) out of the terminal
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    _WORKER.update(config=config_dict, models_dir=models_dir, n=n, seed=seed, backgrounds=background_files)


def worker_renderer() -> SampleRenderer:
    if "renderer" not in _WORKER:
        config = RenderConfig.from_dict(_WORKER["config"])
        models = load_library(_WORKER["models_dir"])
        plan = plan_identities(models, _WORKER["n"], _WORKER["seed"], config.identities)
        _WORKER["renderer"] = SampleRenderer(config, models, plan, _WORKER["seed"],
                                             [Path(p) for p in _WORKER["backgrounds"]])
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
    differ = []
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
            differ += [f"config {k}: existing {a.get(k, '(absent)')!r}, asked {b.get(k, '(absent)')!r}"
                       for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif old[key] != new[key]:
            shown = (lambda v: f"{len(v)} models" if key == "model_names" else repr(v))
            differ.append(f"{key}: existing {shown(old[key])}, asked {shown(new[key])}"
                          + (" (a dataset grows with a larger --n, it does not shrink)"
                             if key == "num_samples_planned" else ""))
    old_files = (old.get("backgrounds") or {}).get("num_files")
    if old_files is not None and old_files != new["backgrounds"]["num_files"]:
        differ.append(f"backgrounds: existing {old_files} files, asked {new['backgrounds']['num_files']}")
    if differ:
        raise DatasetError(manifest_path, "the shards here were rendered with other settings, refusing to mix "
                           "two datasets (use a fresh --out, or the same options to resume): " + "; ".join(differ))


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
        "models_dir": str(models_dir),
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
    import time

    from tqdm import tqdm

    model_names = meta["model_names"]
    workers = workers or default_workers()
    remove_stale_temp_files()
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
    init_args = (config.to_dict(), str(models_dir), int(n), int(seed), background_files, str(out / WORKER_LOG),
                 os.getpid())
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
    of a killed run left behind; a file whose process is alive is kept."""
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
