"""Pose sidecars, `<shard>.pose.h5`: the one writer, reader and completeness check (layout in docs/FORMAT.md).

A sidecar holds pose predictions aligned by row with its shard: `keypoints` (N, 36, 3) float32 x, y in image
pixels and confidence, and, in a full prediction, `heatmaps` (N, 36, S, S) uint8 (heatmap x 255) and
`segments` (N, 13, S, S) uint8 in {0, 1}, both registered to the whole image (S = 64 by default). The maps are
stored one sample per chunk, gzip level 1. Attributes: `sidecar_version`, `num_samples`, `fields` (the
datasets stored), `source` (what made it), `complete` (True: the file is renamed into place only when
written), plus whatever provenance the writer adds (checkpoint, backbone, ...). A keypoints-only sidecar
(imported PAMTRI ReID CSV keypoints) is complete for keypoints but not a full prediction.

Imports no torch: the data layer is imported by every Blender render worker.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np

from synth import vocabulary as vocab
from synth.datasets.manifest import manifest_shards, open_hdf5, open_shard, read_field
from synth.datasets.schema import POSE_FIELDS, SCHEMA_VERSION, TMP_MARK, DatasetError, pose_sidecar_name

SIDECAR_VERSION = 1
ALL_FIELDS: tuple[str, ...] = tuple(spec.name for spec in POSE_FIELDS)  # keypoints, heatmaps, segments
MAP_FIELDS = ("heatmaps", "segments")
MAP_SIZE = 64  # S: the maps' grid (docs/FORMAT.md)
HEATMAP_SCALE = 255  # heatmaps are stored x255 as uint8


def sidecar_path(shard: str | Path) -> Path:
    """`<shard>.pose.h5` beside `shard`."""
    shard = Path(shard)
    return shard.with_name(pose_sidecar_name(shard.name))


def write_sidecar(path: str | Path, keypoints: np.ndarray, heatmaps: np.ndarray | None = None,
                  segments: np.ndarray | None = None, source: str = "pose network", **attrs) -> Path:
    """Write a sidecar atomically (a temporary file renamed into place). `heatmaps` and `segments` go together
    (a full prediction) or not at all (keypoints only). `attrs` are extra provenance attributes."""
    path = Path(path)
    if (heatmaps is None) != (segments is None):
        raise ValueError("a pose sidecar has both heatmaps and segments, or neither")
    data = {"keypoints": np.asarray(keypoints, np.float32)}
    if heatmaps is not None:
        data.update(heatmaps=np.asarray(heatmaps, np.uint8), segments=np.asarray(segments, np.uint8))
    count = len(data["keypoints"])
    for name, values in data.items():
        if len(values) != count:
            raise ValueError(f"{path}: {name} has {len(values)} rows, keypoints {count}")
    tmp = path.with_name(f"{path.name}{TMP_MARK}.{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for name, values in data.items():
                if name in MAP_FIELDS:
                    f.create_dataset(name, data=values, chunks=(1, *values.shape[1:]) if count else None,
                                     compression="gzip", compression_opts=1)
                else:
                    f.create_dataset(name, data=values)
            f.attrs.update({"schema_version": SCHEMA_VERSION, "sidecar_version": SIDECAR_VERSION, **attrs,
                            "source": source, "fields": list(data), "num_samples": count, "complete": True})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def open_sidecar(path: str | Path) -> h5py.File:
    """The sidecar opened for reading; a missing or unreadable file raises DatasetError naming it."""
    return open_hdf5(Path(path), "pose sidecar missing: run `cli.py predict-pose` on this dataset",
                     "cannot open pose sidecar")


def read_sidecar(path: str | Path, fields: Iterable[str] = ("keypoints",)) -> dict[str, np.ndarray]:
    """The named fields of a sidecar, all rows."""
    with open_sidecar(path) as f:
        out = {}
        for name in fields:
            if name not in f:
                raise DatasetError(path, "pose sidecar lacks this field (run `cli.py predict-pose`)", name)
            out[name] = f[name][:]
        return out


def sidecar_problem(path: str | Path, num_samples: int, fields: Sequence[str] = ALL_FIELDS) -> str | None:
    """Why the sidecar at `path` is not a complete one for a shard of `num_samples` rows with `fields`, or None
    when it is. The one completeness check."""
    path = Path(path)
    if not path.exists():
        return "missing"
    try:
        with h5py.File(path, "r") as f:
            if not bool(f.attrs.get("complete", False)):
                return "not marked complete"
            for name in fields:
                if name not in f:
                    return f"no {name}"
                if len(f[name]) != num_samples:
                    return f"{len(f[name])} {name} rows, its shard has {num_samples}"
    except OSError as exc:
        return f"cannot open: {exc}"
    return None


def is_complete_sidecar(path: str | Path, num_samples: int, fields: Sequence[str] = ALL_FIELDS) -> bool:
    return sidecar_problem(path, num_samples, fields) is None


def missing_sidecars(shards: Iterable[tuple[Path, int]], fields: Sequence[str] = ALL_FIELDS) -> list[Path]:
    """Sidecars absent beside the (shard, num_samples) given. One that exists but is incomplete raises
    DatasetError naming it: it is not silently replaced."""
    missing = []
    for shard, count in shards:
        path = sidecar_path(shard)
        problem = sidecar_problem(path, count, fields)
        if problem == "missing":
            missing.append(path)
        elif problem is not None:
            raise DatasetError(path, f"incomplete pose sidecar for shard {Path(shard).name} ({problem})")
    return missing


def write_label_sidecars(root: str | Path, map_hw: tuple[int, int] = (MAP_SIZE, MAP_SIZE),
                         sigma: float = 2.0) -> list[Path]:
    """Sidecars made from a dataset's ground-truth keypoints ("oracle pose", for synthetic data, tests and
    benches) beside every shard of `root` that lacks a complete one (so a re-run resumes). Returns those written."""
    written = []
    for _, shard, count in manifest_shards(root):
        path = sidecar_path(shard)
        if is_complete_sidecar(path, count):
            continue
        with open_shard(shard) as f:
            keypoints, image_hw = read_field(f, shard, "keypoints"), read_field(f, shard, "image_hw")
        written.append(write_sidecar(path, *label_sidecar_arrays(keypoints, image_hw, map_hw, sigma), source="labels"))
    return written


def label_sidecar_arrays(keypoints: np.ndarray, image_hw: np.ndarray, map_hw: tuple[int, int] = (MAP_SIZE, MAP_SIZE),
                         sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sidecar arrays from ground-truth keypoints: confidence 1 for visible keypoints (code 2) and 0
    otherwise; heatmaps (x255) of the visible keypoints; segments gated by that confidence."""
    hm_hw = tuple(map_hw)
    n = len(keypoints)
    conf = (keypoints[..., 2] == vocab.VIS_VISIBLE).astype(np.float32)
    pose_kps = np.concatenate([np.nan_to_num(keypoints[..., :2]), conf[..., None]], axis=-1).astype(np.float32)
    heatmaps = np.zeros((n, vocab.NUM_KEYPOINTS, *hm_hw), np.uint8)
    segments = np.zeros((n, vocab.NUM_SEGMENTS, *hm_hw), np.uint8)
    for i in range(n):
        hw = tuple(int(v) for v in image_hw[i])
        maps = vocab.render_heatmaps(pose_kps[i], hm_hw, hw, sigma, mask=conf[i] > 0)
        heatmaps[i] = np.round(maps * HEATMAP_SCALE).astype(np.uint8)
        segments[i] = vocab.rasterise_segments(pose_kps[i], hm_hw, hw)
    return pose_kps, heatmaps, segments
