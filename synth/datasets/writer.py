"""Writing datasets: samples are appended to shards that appear on disk only once complete."""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np

from synth import vocabulary as vocab
from synth.datasets.manifest import ShardLock, update_manifest
from synth.datasets.schema import (
    DEFAULT_IMAGE_FORMAT,
    DEFAULT_JPEG_QUALITY,
    DEFAULT_SHARD_SIZE,
    FIELDS,
    FIELDS_BY_NAME,
    IMAGE_FORMATS,
    OPTIONAL_FIELDS,
    SCHEMA_VERSION,
    TMP_MARK,
    DatasetError,
    numpy_dtype,
    shard_name,
)

_FLUSH_EVERY = 64


@dataclass
class Sample:
    """One labelled image. `image` is an RGB uint8 array (H, W, 3) or already-encoded JPEG/PNG bytes
    (importers keep the original file's bytes: no re-encoding loss)."""

    image: np.ndarray | bytes
    image_name: str
    vehicle_id: int
    camera_id: int = -1
    color_id: int = 0
    type_id: int = 0
    keypoints: np.ndarray | None = None  # (36, 3): x, y, visibility code
    bbox: np.ndarray | None = None  # (4,) amodal x0, y0, x1, y1
    extra: dict[str, Any] = field(default_factory=dict)  # optional contract fields (synthetic labels)


def encoded_format(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def encode_image(image: np.ndarray, image_format: str, jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image_format == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError(f"could not encode image as {image_format}")
    return buf.tobytes()


def decode_image(data, where: str = "image") -> np.ndarray:
    """Decode JPEG/PNG bytes to an RGB uint8 array; a corrupt image raises ValueError naming `where`."""
    array = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data)
    bgr = cv2.imdecode(array, cv2.IMREAD_COLOR) if array.size else None
    if bgr is None:
        raise ValueError(f"{where}: cannot decode image ({array.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _image_hw(data: bytes, where: str) -> tuple[int, int]:
    return decode_image(data, where).shape[:2]


class ShardWriter:
    """Writes one shard file. Data goes to `<name>.tmp` and is renamed to `<name>` by `close()` after the
    completion attributes are written, so a killed process leaves only a `.tmp` file behind."""

    def __init__(
        self,
        path: str | Path,
        split: str,
        image_format: str = DEFAULT_IMAGE_FORMAT,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        attrs: dict[str, Any] | None = None,
    ):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + TMP_MARK)
        self.split = split
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.num_samples = 0  # flushed to the file
        self._pending: list[dict[str, Any]] = []
        self._optional: tuple[str, ...] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Two processes writing one shard (a --shard K/N given twice) would truncate each other's file.
        self._lock = ShardLock(self.path).acquire()
        try:
            self._file = h5py.File(self.tmp_path, "w")
        except BaseException:
            self._lock.release()
            raise
        file_attrs = {
            "schema_version": SCHEMA_VERSION,
            "split": split,
            "image_format": image_format,
            "keypoint_names": list(vocab.KEYPOINT_NAMES),
            "flip_pairs": np.array(vocab.FLIP_PAIRS, dtype=np.int32),
            "color_names": list(vocab.COLOR_NAMES),
            "type_names": list(vocab.TYPE_NAMES),
            "complete": False,
        }
        file_attrs.update(attrs or {})
        for key, value in file_attrs.items():
            self._file.attrs[key] = value

    def append(self, sample: Sample) -> None:
        row = self._row(sample)
        if self._optional is None:
            self._optional = tuple(name for name in OPTIONAL_FIELDS if name in sample.extra)
            self._create_datasets(row)
        elif set(self._optional) != {k for k in sample.extra if k in FIELDS_BY_NAME}:
            raise ValueError(
                f"{self.tmp_path}: sample {sample.image_name!r} has optional fields {sorted(sample.extra)}, "
                f"the shard's first sample had {sorted(self._optional)}"
            )
        self._pending.append(row)
        if len(self._pending) >= _FLUSH_EVERY:
            self._flush()

    def __len__(self) -> int:
        return self.num_samples + len(self._pending)

    def _row(self, sample: Sample) -> dict[str, Any]:
        unknown = set(sample.extra) - set(OPTIONAL_FIELDS)
        if unknown:
            raise ValueError(f"unknown sample fields {sorted(unknown)}; the contract's optional fields are {OPTIONAL_FIELDS}")
        if isinstance(sample.image, (bytes, bytearray)):
            data = bytes(sample.image)
            fmt = encoded_format(data)
            if fmt != self.image_format:
                raise ValueError(f"{sample.image_name}: image bytes are {fmt or 'not JPEG/PNG'}, shard stores {self.image_format}")
            image_hw = _image_hw(data, sample.image_name)
        else:
            data = encode_image(sample.image, self.image_format, self.jpeg_quality)
            image_hw = sample.image.shape[:2]
        keypoints = sample.keypoints
        if keypoints is None:
            keypoints = np.full((vocab.NUM_KEYPOINTS, 3), np.nan, np.float32)
            keypoints[:, 2] = vocab.VIS_OUTSIDE
        bbox = sample.bbox if sample.bbox is not None else np.full(4, np.nan, np.float32)
        row = {
            "image": np.frombuffer(data, dtype=np.uint8),
            "image_crc32": np.uint32(zlib.crc32(data)),
            "image_name": sample.image_name,
            "image_hw": np.asarray(image_hw, np.int32),
            "vehicle_id": sample.vehicle_id,
            "camera_id": sample.camera_id,
            "color_id": sample.color_id,
            "type_id": sample.type_id,
            "keypoints": keypoints,
            "bbox": bbox,
            **sample.extra,
        }
        for name, value in row.items():
            spec = FIELDS_BY_NAME[name]
            if spec.dtype in ("bytes", "str"):
                continue
            value = np.asarray(value, dtype=spec.dtype)
            if any(want not in (-1, got) for want, got in zip(spec.shape, value.shape)) or value.ndim != len(spec.shape):
                raise ValueError(f"{sample.image_name}: field {name} has shape {value.shape}, expected {spec.shape}")
            row[name] = value
        return row

    def _create_datasets(self, first_row: dict[str, Any]) -> None:
        for spec in FIELDS:
            if spec.name not in first_row:
                continue
            shape = np.shape(first_row[spec.name]) if spec.dtype not in ("bytes", "str") else ()
            chunk_rows = 256 if spec.name != "image" else 16
            self._file.create_dataset(
                spec.name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=numpy_dtype(spec),
                chunks=(chunk_rows, *shape),
                # HDF5 cannot filter variable-length data: images and names go unchecked here, and the
                # images carry their own image_crc32
                fletcher32=spec.dtype not in ("bytes", "str"),
            )

    def _flush(self) -> None:
        if not self._pending:
            return
        start, count = self.num_samples, len(self._pending)
        for name in self._pending[0]:
            dset = self._file[name]
            dset.resize(start + count, axis=0)
            values = [row[name] for row in self._pending]
            if FIELDS_BY_NAME[name].dtype == "bytes":
                for j, value in enumerate(values):  # one by one: h5py turns equal-length rows into a 2-D array
                    dset[start + j] = value
            elif FIELDS_BY_NAME[name].dtype == "str":
                dset[start:] = values
            else:
                dset[start:] = np.stack(values)
        self.num_samples += count
        self._pending.clear()

    def close(self) -> Path:
        """Finish the shard: flush, mark complete, rename into place. Returns the final path."""
        self._flush()
        if self.num_samples == 0:
            self.abort()
            raise ValueError(f"{self.path}: refusing to write an empty shard")
        self._file.attrs["num_samples"] = self.num_samples
        self._file.attrs["complete"] = True
        self._file.close()
        os.replace(self.tmp_path, self.path)
        self._lock.release()
        return self.path

    def abort(self) -> None:
        if self._file.id.valid:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class DatasetWriter:
    """Appends samples to a split of a dataset directory, rolling over to a new shard every `shard_size`
    samples, and keeps `dataset.yaml` up to date as shards complete.

    `first_shard` sets the index of the first shard written, so parallel writers can own disjoint shard
    ranges of one split. `meta` (source, config, seed, model_names, ...) goes into the manifest.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        source: str,
        shard_size: int = DEFAULT_SHARD_SIZE,
        image_format: str = DEFAULT_IMAGE_FORMAT,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        first_shard: int = 0,
        shard_attrs: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ):
        if shard_size < 1:
            raise ValueError("shard_size must be >= 1")
        self.root = Path(root)
        self.split = split
        self.source = source
        self.shard_size = shard_size
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.next_shard = first_shard
        self.shard_attrs = {"source": source, **(shard_attrs or {})}
        self.meta = {"source": source, **(meta or {})}
        self.written: list[Path] = []
        self._shard: ShardWriter | None = None
        self.root.mkdir(parents=True, exist_ok=True)

    def append(self, sample: Sample) -> None:
        if self._shard is None:
            path = self.root / shard_name(self.split, self.next_shard)
            if path.exists():
                raise DatasetError(path, "shard already exists; refusing to overwrite it")
            self._shard = ShardWriter(path, self.split, self.image_format, self.jpeg_quality, self.shard_attrs)
            self.next_shard += 1
        self._shard.append(sample)
        if len(self._shard) >= self.shard_size:
            self._finish_shard()

    def _finish_shard(self) -> None:
        if self._shard is not None:
            self.written.append(self._shard.close())
            self._shard = None
            update_manifest(self.root, self.meta)

    def close(self) -> list[Path]:
        self._finish_shard()
        update_manifest(self.root, self.meta)
        return self.written

    def abort(self) -> None:
        if self._shard is not None:
            self._shard.abort()
            self._shard = None

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_samples(root, split: str, source: str, samples, **kwargs) -> list[Path]:
    """Write an iterable of samples as one split; returns the shard paths."""
    with DatasetWriter(root, split, source, **kwargs) as writer:
        for sample in samples:
            writer.append(sample)
    return writer.written
