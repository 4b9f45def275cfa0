"""Toy vehicles drawn in 2D: a render-free dataset with exact labels, for tests and quick checks.

A toy vehicle is a 3D keypoint template (a sedan-like layout stretched per model) whose 13 segment
quadrilaterals are painted with flat, normal-shaded body colour, plus wheels, over a noisy background. The
labels follow the dataset contract exactly (keypoints with 3-state visibility from back-face tests, amodal box,
K and [R|t]); the pictures are crude. Real datasets come from the Blender renderer (`cli.py render`).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from synth import vocabulary as vocab
from synth.camera import look_at, project, spherical_position
from synth.datasets import Sample, write_samples

# Left-side template (x forward, z up; metres), roughly a 4.6 m sedan. The right side mirrors y.
_SEDAN_LEFT = np.array([
    [-1.35, 0.80, 0.32], [1.35, 0.80, 0.32],
    [1.77, 0.86, 0.30], [1.62, 0.88, 0.68], [1.08, 0.88, 0.68], [0.93, 0.86, 0.30],
    [-0.93, 0.86, 0.30], [-1.08, 0.88, 0.68], [-1.62, 0.88, 0.68], [-1.77, 0.86, 0.30],
    [-2.30, 0.78, 0.30], [-2.25, 0.78, 0.95], [-1.70, 0.72, 1.00], [-1.00, 0.64, 1.42],
    [0.35, 0.64, 1.42], [0.95, 0.74, 0.98], [2.25, 0.78, 0.80], [2.30, 0.78, 0.30],
])

# Palette (RGB) per VeRi colour id.
_PALETTE = {
    1: (220, 200, 40), 2: (230, 120, 30), 3: (40, 140, 60), 4: (130, 130, 135), 5: (190, 30, 30),
    6: (40, 70, 170), 7: (235, 235, 235), 8: (200, 170, 90), 9: (110, 70, 40), 10: (25, 25, 28),
}


def template_keypoints(scale=(1.0, 1.0, 1.0)) -> np.ndarray:
    left = _SEDAN_LEFT * np.asarray(scale)
    right = left * np.array([1.0, -1.0, 1.0])
    return np.concatenate([left, right]).astype(np.float64)


def _segment_faces_camera(points3d: np.ndarray, camera_centre: np.ndarray) -> np.ndarray:
    """Whether each segment's outward normal faces the camera (back-face test)."""
    centroid = points3d.mean(axis=0)
    facing = np.zeros(vocab.NUM_SEGMENTS, dtype=bool)
    for s, poly in enumerate(vocab.SEGMENT_POLYGONS):
        quad = points3d[list(poly)]
        normal = np.cross(quad[2] - quad[0], quad[3] - quad[1])
        centre = quad.mean(axis=0)
        if np.dot(normal, centre - centroid) < 0:
            normal = -normal
        facing[s] = np.dot(normal, camera_centre - centre) > 0
    return facing


def _keypoint_segments() -> list[list[int]]:
    owners = [[] for _ in range(vocab.NUM_KEYPOINTS)]
    for s, poly in enumerate(vocab.SEGMENT_POLYGONS):
        for k in poly:
            owners[k].append(s)
    # Wheels and arch points belong to their side's middle and quarter panels.
    for k in range(10):
        owners[k] = [0, 1, 2]
        owners[k + 18] = [3, 4, 5]
    return owners


_OWNERS = _keypoint_segments()


def draw_toy_vehicle(rng: np.random.Generator, model_scale, color_id: int, size: int):
    """One toy image (size x size RGB) and its labels: keypoints (36,3), bbox, K, Rt, viewpoint."""
    points3d = template_keypoints(model_scale)
    azimuth = rng.uniform(0, 360)
    elevation = rng.uniform(5, 35)
    distance = rng.uniform(8, 12)
    target = np.array([0.0, 0.0, 0.7])
    centre = target + spherical_position(azimuth, elevation, distance)
    Rt = look_at(centre, target)
    focal = size * rng.uniform(1.8, 2.2) * distance / 10
    K = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    K[:2, 2] += rng.uniform(-0.05, 0.05, 2) * size
    uv, _ = project(K, Rt, points3d)

    background = rng.integers(60, 160, 3)
    image = np.clip(background + rng.normal(0, 18, (size, size, 3)), 0, 255).astype(np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 0)
    facing = _segment_faces_camera(points3d, centre)
    paint = np.array(_PALETTE[color_id], dtype=np.float64)
    light = np.array([0.4, 0.3, 0.87])
    centroid = points3d.mean(axis=0)
    order = np.argsort([-np.linalg.norm(points3d[list(p)].mean(axis=0) - centre) for p in vocab.SEGMENT_POLYGONS])
    for s in order:
        if not facing[s]:
            continue
        quad3d = points3d[list(vocab.SEGMENT_POLYGONS[s])]
        normal = np.cross(quad3d[2] - quad3d[0], quad3d[3] - quad3d[1])
        normal /= np.linalg.norm(normal) + 1e-12
        if np.dot(normal, quad3d.mean(axis=0) - centroid) < 0:
            normal = -normal
        shade = 0.45 + 0.55 * max(0.0, float(np.dot(normal, light)))
        tint = paint * shade if s not in (8, 10) else np.array([40, 50, 60]) * shade  # windows are dark glass
        quad = np.round(uv[list(vocab.SEGMENT_POLYGONS[s])] * 16).astype(np.int32)
        cv2.fillConvexPoly(image, quad, tuple(int(c) for c in tint), cv2.LINE_AA, shift=4)
    for wheel in (0, 1, 18, 19):
        side_segments = _OWNERS[wheel]
        if any(facing[s] for s in side_segments):
            radius = 0.32 * focal / distance
            cv2.circle(image, tuple(int(v) for v in np.round(uv[wheel])), max(1, int(radius)), (20, 20, 20), -1, cv2.LINE_AA)

    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] <= size - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= size - 0.5)
    seen = np.array([any(facing[s] for s in _OWNERS[k]) for k in range(vocab.NUM_KEYPOINTS)])
    visibility = np.where(inside, np.where(seen, vocab.VIS_VISIBLE, vocab.VIS_OCCLUDED), vocab.VIS_OUTSIDE)
    keypoints = np.concatenate([uv, visibility[:, None]], axis=1).astype(np.float32)
    bbox = np.concatenate([uv.min(axis=0), uv.max(axis=0)]).astype(np.float32)
    viewpoint = np.array([azimuth, elevation, distance], np.float32)
    return image, keypoints, bbox, K.astype(np.float32), Rt.astype(np.float32), viewpoint


def make_toy_dataset(
    root: str | Path,
    num_models: int = 4,
    colors_per_model: int = 3,
    images_per_identity: int = 8,
    size: int = 128,
    seed: int = 0,
    splits: dict[str, float] | None = None,
    shard_size: int = 64,
) -> Path:
    """Write a toy dataset. Identities are (model, colour); `splits` maps split names to the fraction of
    identities they get (by identity, so e.g. train and query/gallery hold disjoint identities); query and
    gallery share identities: each gets half of each of those identities' images."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    splits = splits or {"train": 1.0}
    scales = [(rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.1), rng.uniform(0.85, 1.2)) for _ in range(num_models)]
    identities = []
    for m in range(num_models):
        for c in rng.choice(np.arange(1, vocab.NUM_COLORS + 1), colors_per_model, replace=False):
            identities.append((m, int(c)))
    order = rng.permutation(len(identities))
    bounds = np.cumsum([0] + [int(round(f * len(identities))) for f in splits.values()])
    bounds[-1] = len(identities)
    per_split: dict[str, list] = {}
    for (name, _), lo, hi in zip(splits.items(), bounds[:-1], bounds[1:]):
        targets = ("query", "gallery") if name == "query_gallery" else (name,)
        for t in targets:
            per_split.setdefault(t, [])
        for vid in order[lo:hi]:
            for j in range(images_per_identity):
                target = targets[j % len(targets)]
                per_split[target].append((int(vid), j))
    for split, items in per_split.items():
        def samples(items=items, split=split):
            for vid, j in items:
                model, color = identities[vid]
                sample_seed = seed * 1_000_003 + vid * 1009 + j
                sample_rng = np.random.default_rng(sample_seed)
                image, kps, bbox, K, Rt, viewpoint = draw_toy_vehicle(sample_rng, scales[model], color, size)
                yield Sample(
                    image=image, image_name=f"{vid:04d}_c{j % 4:03d}_{j:04d}.png", vehicle_id=vid,
                    camera_id=j % 4, color_id=color, type_id=vocab.TYPE_IDS["sedan"], keypoints=kps, bbox=bbox,
                    extra={"model_id": model, "viewpoint": viewpoint, "K": K, "Rt": Rt, "seed": sample_seed},
                )

        write_samples(
            root, split, "toy", samples(), shard_size=shard_size, image_format="png",
            shard_attrs={"model_names": [f"toy_sedan_{m}" for m in range(num_models)]},
            meta={"generator": "tests.helpers.toy", "seed": seed},
        )
    return root
