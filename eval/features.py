"""`FeatureSet`: ReID features with the labels the evaluator needs, and its one file format.

File format (docs/EVALUATION.md): an uncompressed NumPy `.npz` archive (no pickled objects), so any system
can write one with a single `np.savez` call:

| key | shape, dtype | |
|---|---|---|
| `features` | (N, D) float32 | one feature vector per image |
| `vehicle_id` | (N,) int64 | identity (ids of different datasets are not comparable) |
| `camera_id` | (N,) int32 | camera, -1 where none |
| `split` | (N,) str | `query` or `gallery` |
| `image_name` | (N,) str | name of the image in the dataset |
| `color_pred`, `type_pred` | (N,) int16, optional | predicted VeRi colour / type id (1-based, 0 unknown) |
| `color_id`, `type_id` | (N,) int16, optional | ground-truth VeRi colour / type id |
| `dataset_dir` | () str, optional | dataset directory holding the images (for pictures) |
| `meta` | () str, optional | JSON object: run directory, model, config, anything descriptive |
| `format`, `format_version` | () str, () int | `pamtri-features`, 1 (optional when written by other tools) |

Writes go to a temporary name and are renamed into place.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "pamtri-features"
FORMAT_VERSION = 1
SPLIT_NAMES = ("query", "gallery")
_LABELS = {"vehicle_id": np.int64, "camera_id": np.int32}
_OPTIONAL = {"color_pred": np.int16, "type_pred": np.int16, "color_id": np.int16, "type_id": np.int16}


@dataclass
class FeatureSet:
    features: np.ndarray
    vehicle_id: np.ndarray
    camera_id: np.ndarray
    split: np.ndarray
    image_name: np.ndarray
    color_pred: np.ndarray | None = None
    type_pred: np.ndarray | None = None
    color_id: np.ndarray | None = None
    type_id: np.ndarray | None = None
    dataset_dir: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.features = np.asarray(self.features)
        self.vehicle_id = np.asarray(self.vehicle_id)
        self.camera_id = np.asarray(self.camera_id)
        self.split = np.asarray(self.split).astype(str)
        self.image_name = np.asarray(self.image_name).astype(str)
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value))
        if self.dataset_dir is not None:
            self.dataset_dir = str(self.dataset_dir)

    # --- checks ------------------------------------------------------------------------------------------

    def validate(self, where: str = "FeatureSet") -> "FeatureSet":
        """Check shapes, dtypes, finiteness and split names; raise ValueError naming `where` and the field.
        Returns self with arrays converted to their documented dtypes."""
        f = self.features
        if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
            raise ValueError(f"{where}: features must be a non-empty (N, D) array, got shape {f.shape}")
        if not np.issubdtype(f.dtype, np.floating) and not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"{where}: features must be numbers, got dtype {f.dtype}")
        self.features = np.ascontiguousarray(f, dtype=np.float32)
        n = f.shape[0]
        bad = ~np.isfinite(self.features).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(f"{where}: features have NaN or infinite values in {rows.size} rows (first: {rows[:5].tolist()})")
        for name, dtype in {**_LABELS, **_OPTIONAL}.items():
            value = getattr(self, name)
            if value is None:
                continue
            if value.shape != (n,):
                raise ValueError(f"{where}: {name} has shape {value.shape} but there are {n} feature rows")
            if value.size and not np.issubdtype(value.dtype, np.integer):
                raise ValueError(f"{where}: {name} must be integers, got dtype {value.dtype}")
            setattr(self, name, value.astype(dtype, copy=False))
        for name in ("split", "image_name"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{where}: {name} has shape {getattr(self, name).shape} but there are {n} feature rows")
        unknown = sorted(set(np.unique(self.split)) - set(SPLIT_NAMES))
        if unknown:
            raise ValueError(f"{where}: split values must be {SPLIT_NAMES}, found {unknown}")
        return self

    # --- views -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, index) -> "FeatureSet":
        """A FeatureSet of the rows selected by a boolean mask or an index array."""
        pick = {name: (None if getattr(self, name) is None else getattr(self, name)[index])
                for name in ("features", "vehicle_id", "camera_id", "split", "image_name", *_OPTIONAL)}
        return FeatureSet(**pick, dataset_dir=self.dataset_dir, meta=dict(self.meta))

    @property
    def query(self) -> "FeatureSet":
        return self.subset(self.split == "query")

    @property
    def gallery(self) -> "FeatureSet":
        return self.subset(self.split == "gallery")

    @classmethod
    def concat(cls, parts: list["FeatureSet"]) -> "FeatureSet":
        """Rows of several FeatureSets in order (optional fields kept only when every part has them)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        arrays = {}
        for name in ("features", "vehicle_id", "camera_id", "split", "image_name", *_OPTIONAL):
            values = [getattr(p, name) for p in parts]
            arrays[name] = None if any(v is None for v in values) else np.concatenate(values)
        return cls(**arrays, dataset_dir=parts[0].dataset_dir, meta=dict(parts[0].meta))

    # --- file format -------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the documented `.npz` file atomically. Returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"{path}: feature files are .npz archives; use a .npz name")
        self.validate(str(path))
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION),
            "features": self.features,
            "vehicle_id": self.vehicle_id,
            "camera_id": self.camera_id,
            "split": self.split.astype(str),
            "image_name": self.image_name.astype(str),
            "meta": np.array(json.dumps(self.meta, default=str)),
        }
        for name in _OPTIONAL:
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        if self.dataset_dir is not None:
            arrays["dataset_dir"] = np.array(self.dataset_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        """Read and validate a feature file; errors name the file and the problem."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: feature file not found")
        try:
            archive = np.load(path, allow_pickle=False)
        except Exception as exc:  # zipfile.BadZipFile, OSError, ValueError: all mean "not a readable .npz"
            raise ValueError(f"{path}: not a readable .npz feature file ({exc})") from None
        with archive:
            keys = set(archive.files)
            if "format" in keys and str(archive["format"]) != FORMAT_NAME:
                raise ValueError(f"{path}: format is {str(archive['format'])!r}, expected {FORMAT_NAME!r}")
            if "format_version" in keys and int(archive["format_version"]) > FORMAT_VERSION:
                raise ValueError(f"{path}: format version {int(archive['format_version'])} is newer than this "
                                 f"toolkit reads ({FORMAT_VERSION})")
            missing = [k for k in ("features", "vehicle_id", "camera_id", "split", "image_name") if k not in keys]
            if missing:
                raise ValueError(f"{path}: missing arrays {missing}")
            try:
                values = {k: archive[k] for k in keys}
            except ValueError as exc:  # object arrays need pickle, which is refused
                raise ValueError(f"{path}: unreadable array ({exc})") from None
        meta = {}
        if "meta" in values:
            try:
                meta = json.loads(str(values["meta"]))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: meta is not JSON ({exc})") from None
        dataset_dir = str(values["dataset_dir"]) if "dataset_dir" in values else None
        if dataset_dir is not None and not Path(dataset_dir).is_absolute():
            beside = path.parent / dataset_dir
            if beside.exists():  # relative paths are taken relative to the feature file
                dataset_dir = str(beside)
        fs = cls(
            features=values["features"], vehicle_id=values["vehicle_id"], camera_id=values["camera_id"],
            split=values["split"], image_name=values["image_name"],
            **{k: values.get(k) for k in _OPTIONAL}, dataset_dir=dataset_dir, meta=meta,
        )
        return fs.validate(str(path))
