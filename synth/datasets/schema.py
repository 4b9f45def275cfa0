"""The HDF5 dataset contract (docs/FORMAT.md): field names, shapes, dtypes, versions, and its error type."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.vocabulary import NUM_KEYPOINTS

SCHEMA_VERSION = 2  # 2 added annotator_visibility; version 1 shards are read as they are
MANIFEST_NAME = "dataset.yaml"
SHARD_SUFFIX = ".h5"
POSE_SUFFIX = ".pose.h5"
TMP_MARK = ".tmp"
IMAGE_FORMATS = ("jpeg", "png")
DEFAULT_IMAGE_FORMAT = "jpeg"  # chosen by bench/shard_io.py, see docs/FORMAT.md
DEFAULT_JPEG_QUALITY = 95
DEFAULT_SHARD_SIZE = 2000
SPLITS = ("train", "val", "query", "gallery", "test")


class DatasetError(Exception):
    """A dataset file breaks the contract. Names the file, the field (when one is at fault) and the problem."""

    def __init__(self, path, problem: str, field: str | None = None):
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}" + (f" [{field}]" if field else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str  # numpy dtype name, "bytes" (variable-length uint8) or "str" (variable-length utf-8)
    shape: tuple[int, ...]  # per-sample shape
    required: bool = True
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field("image", "bytes", (), doc="encoded image (JPEG or PNG, file attribute image_format), RGB"),
    Field("image_name", "str", (), doc="original or generated file name, unique within its split"),
    Field("image_hw", "int32", (2,), doc="decoded image height, width"),
    Field("vehicle_id", "int64", (), doc="identity; unique within the dataset (not across datasets)"),
    Field("camera_id", "int32", (), doc="camera, -1 where none"),
    Field("color_id", "int16", (), doc="VeRi colour id, 0 unknown"),
    Field("type_id", "int16", (), doc="VeRi type id, 0 unknown"),
    Field("keypoints", "float32", (NUM_KEYPOINTS, 3), doc="x, y, visibility code; NaN x, y where unknown"),
    Field("bbox", "float32", (4,), doc="amodal box x0, y0, x1, y1 in pixels; NaN where unknown"),
    # synthetic only
    Field("model_id", "int32", (), False, "index into the model_names file attribute"),
    Field("viewpoint", "float32", (3,), False, "azimuth, elevation (degrees), distance (m)"),
    Field("K", "float32", (3, 3), False, "intrinsics of the output image"),
    Field("Rt", "float32", (3, 4), False, "world-to-camera [R|t], OpenCV camera frame"),
    Field("visible_fraction", "float32", (), False, "fraction of the vehicle's pixels not occluded"),
    Field("truncation", "float32", (), False, "fraction of the amodal box outside the image"),
    Field("lighting", "float32", (-1,), False, "lighting parameters, named by the lighting_names attribute"),
    Field("seed", "int64", (), False, "per-sample seed: the sample is a pure function of it and the config"),
    Field("annotator_visibility", "int8", (NUM_KEYPOINTS,), False,
          "visibility codes 0/1/2 as VeRi-776's annotators would mark them (synth/annotation.py)"),
    # written by the writer itself, never given by a sample; absent from shards written before it existed
    Field("image_crc32", "uint32", (), False,
          "CRC-32 of the image's encoded bytes (the other fields carry HDF5 Fletcher-32 chunk checksums)"),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}
REQUIRED_FIELDS = tuple(f.name for f in FIELDS if f.required)
CHECKSUM_FIELDS = ("image_crc32",)
OPTIONAL_FIELDS = tuple(f.name for f in FIELDS if not f.required and f.name not in CHECKSUM_FIELDS)

# Pose sidecar (<shard>.pose.h5), aligned by index with its shard.
POSE_FIELDS: tuple[Field, ...] = (
    Field("keypoints", "float32", (NUM_KEYPOINTS, 3), doc="x, y in image pixels, confidence"),
    Field("heatmaps", "uint8", (NUM_KEYPOINTS, -1, -1), doc="heatmaps x 255, registered to the image"),
    Field("segments", "uint8", (13, -1, -1), doc="segment masks in {0, 1}"),
)


def numpy_dtype(field: Field):
    import h5py

    if field.dtype == "bytes":
        return h5py.vlen_dtype(np.uint8)
    if field.dtype == "str":
        return h5py.string_dtype("utf-8")
    return np.dtype(field.dtype)


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}{SHARD_SUFFIX}"


def pose_sidecar_name(shard_file: str) -> str:
    return shard_file[: -len(SHARD_SUFFIX)] + POSE_SUFFIX
