"""Labels without rendering, and labels checked against renders: the statistics and checks behind
bench/realism.py and the renderer's tests.

- `label_keypoints`: the labels of many samples by ray casting alone (no Cycles): the geometric codes and the
  annotator-model codes (synth/annotation.py), as a render would store them.
- `check_labels`, `denoiser_check`: render samples and measure labels / denoising against what Cycles draws
  (call them in a Blender process, `synth.render.run_in_blender_process`).
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

import numpy as np

from synth.camera import camera_centre, project, rescale_intrinsics, rescale_points, segment_box_entry
from synth.identities import plan_identities
from synth.render import CHUNK, default_workers, init_worker, worker_renderer
from synth.sample_renderer import SampleRenderer
from synth.scene import RenderConfig
from synth.vehicles.library import load_library
from synth.vocabulary import VIS_OUTSIDE, VIS_VISIBLE

# --- label statistics without rendering --------------------------------------------------------------------


class RayLabels(NamedTuple):
    keypoints: np.ndarray  # (count, 36, 3): x, y, geometric visibility code
    annotator: np.ndarray | None  # (count, 36) int8 annotator-model codes; None with the model off
    views: np.ndarray  # (count, 2): azimuth, elevation (degrees)


def _label_chunk(indices: list[int]) -> list[tuple[np.ndarray, np.ndarray | None, float, float]]:
    renderer = worker_renderer()
    out = []
    for i in indices:
        labels = renderer.label_only(int(i))
        out.append((labels["keypoints"].astype(np.float32), labels.get("annotator_visibility"),
                    labels["sample"].azimuth, labels["sample"].elevation))
    return out


def label_keypoints(models_dir, n: int, seed: int = 0, config: RenderConfig | None = None, count: int = 1000,
                    workers: int | None = None, progress: bool = True) -> RayLabels:
    """The labels of samples 0..count-1 of a dataset of n images, as a render would store them, computed by ray
    casting the scenes without rendering them (seconds instead of minutes): for matching the randomization
    ranges to real data (bench/realism.py)."""
    from tqdm import tqdm

    config = config or RenderConfig()
    workers = workers or default_workers()
    init_args = (config.to_dict(), str(models_dir), int(n), int(seed), [], None)
    chunks = [list(range(s, min(count, s + CHUNK))) for s in range(0, count, CHUNK)]
    out: list[tuple] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=init_worker, initargs=init_args) as pool:
        for result in tqdm(pool.map(_label_chunk, chunks), total=len(chunks), disable=not progress,
                           desc="labels", unit="chunk"):
            out.extend(result)
    annotator = np.stack([o[1] for o in out]) if config.annotator.enabled else None
    return RayLabels(np.stack([o[0] for o in out]), annotator, np.array([o[2:] for o in out], np.float64))


# --- label accuracy check (tests, benchmarks) --------------------------------------------------------------


def check_labels(models_dir: str, config_dict: dict, indices: list[int], seed: int = 0, n: int = 100) -> dict:
    """Render samples and measure their labels against what Cycles draws (call in a Blender process):
    - `errors`: distance (output pixels) between each visible keypoint's label and the centroid of a small
      emissive sphere rendered at that keypoint alone;
    - `agree` / `total`: keypoints in the frame whose label (visible or not) matches an instance + depth pass
      rendered at 4x the output resolution (window glass transparent, as for the ray casts): visible when a
      pixel within 1/4 output pixel of the keypoint shows the vehicle at the keypoint's depth, unless it shows
      only with the glass transparent and the line of sight crosses the lower cabin (`lower_cabin_box`)."""
    # the bpy backend: this module is imported by parents that only start workers (label_keypoints)
    from synth.blender.render_backend import render_instance_depth, render_markers
    from synth.blender.scene_backend import VEHICLE_PASS_INDEX, _is_glass

    config = RenderConfig.from_dict(config_dict)
    models = load_library(models_dir)
    plan = plan_identities(models, n, seed, config.identities)
    renderer = SampleRenderer(config, models, plan, seed)
    errors, agree, total, disagreements = [], 0, 0, []
    size = config.image.size
    for index in indices:
        sample, extra = renderer.render(index)
        frame = extra["frame"]
        r = frame["render_size"]
        kps = sample.keypoints.copy()
        kps[:, :2] += frame["crop"][:2]  # the image's keypoints in the square window the checks render
        world = models[int(sample.extra["model_id"])].keypoints
        _, depth = project(frame["K_render"], frame["Rt"], world)
        ys, xs = np.mgrid[0:r, 0:r]
        for k in np.flatnonzero(kps[:, 2] == VIS_VISIBLE):
            radius = 1.2 * depth[k] / frame["K_render"][0, 0]  # about 1.2 px
            alpha = render_markers(renderer.builder, world[k:k + 1], float(radius), samples=32)[0]
            centroid = np.array([(alpha * xs).sum(), (alpha * ys).sum()]) / max(alpha.sum(), 1e-9)
            errors.append(float(np.linalg.norm(rescale_points(centroid, r, size) - kps[k, :2])))
        big = 4 * size
        K_big = rescale_intrinsics(frame["K"], size, big)
        renderer.builder.set_camera(K_big, frame["Rt"], big)
        through_glass = render_instance_depth(renderer.builder, _is_glass)
        glass_opaque = render_instance_depth(renderer.builder, lambda material: False)
        uv, z = project(K_big, frame["Rt"], world)
        cam, cabin = camera_centre(frame["Rt"]), frame["vehicle"].cabin

        def seen_in(maps, k, win, tol) -> bool:
            index_map, depth_map = maps
            return bool(((index_map[win] == VEHICLE_PASS_INDEX) & (np.abs(depth_map[win] - z[k]) <= tol)).any())

        for k in np.flatnonzero(kps[:, 2] > VIS_OUTSIDE):
            x, y = np.round(uv[k]).astype(int)
            win = (slice(max(0, y - 1), y + 2), slice(max(0, x - 1), x + 2))  # +-1/4 output pixel
            tol = max(0.1, 0.008 * z[k])  # as the ray casts (keypoints on edges, surfaces sloping in a pixel)
            seen = seen_in(glass_opaque, k, win, tol)
            if not seen and seen_in(through_glass, k, win, tol):
                short_of = cam + (world[k] - cam) * (1 - tol / np.linalg.norm(world[k] - cam))
                seen = segment_box_entry(cam, short_of, *cabin) is None
            ok = seen == bool(kps[k, 2] == VIS_VISIBLE)
            agree += int(ok)
            total += 1
            if not ok:
                disagreements.append((int(index), int(k), int(kps[k, 2])))
    return {"errors": errors, "agree": agree, "total": total, "disagreements": disagreements}


def denoiser_check(models_dir: str, config_dict: dict, indices: list[int], seed: int = 0, n: int = 100) -> dict:
    """Render samples with the worker's OIDN filter (twice, for determinism) and with Cycles' own denoiser
    (call in a Blender process): {'worker': [...], 'worker_again': [...], 'cycles': [...]} raw RGBA renders."""
    models = load_library(models_dir)
    out = {}
    for key, in_worker in (("worker", True), ("worker_again", True), ("cycles", False)):
        config = RenderConfig.from_dict(config_dict)
        config.quality.denoise, config.quality.denoise_in_worker = "oidn", in_worker
        renderer = SampleRenderer(config, models, plan_identities(models, n, seed, config.identities), seed)
        out[key] = [renderer.render(i)[1]["rgba"] for i in indices]
    return out
