"""The two label CSV formats of the published PAMTRI code, read and written (docs/IMPORT.md).

- Pose CSV (PoseEstNet `annot/label_<split>.csv`, 111 fields, no header): image name, width, height, then
  x, y, v for keypoints 0..35, all integers, v = 1 visible / 0 not.
- ReID CSV (MultiTaskNet `label_<split>.csv`, 112 fields): image name, vehicle id, colour id, type id, then
  x, y, confidence per keypoint (floats; predicted by the pose network). The camera comes from the image
  name, as the published loader reads it (`camera_from_name`).

Keypoint mapping, chosen so that import -> export -> import is exact:

pose CSV (x, y, v)                          dataset `keypoints` (x, y, code)
(-1, -1, 0)                          <->    (NaN, NaN, 0)   unknown position (nothing to map it to in the CSV)
v = 1                                <->    code 2 (visible)
v = 0, 0 <= x <= W-1 and 0 <= y <= H-1 <->  code 1 (in the frame, occluded: PAMTRI's labels place hidden points)
v = 0, outside the frame             <->    code 0 (outside), coordinates kept

Exported coordinates are rounded to the nearest integer (the published loader calls int()).
ReID CSV keypoints are a pose *prediction*: they go to the pose sidecar `<shard>.pose.h5` (dataset `keypoints`
only, (N, 36, 3) float32: x, y, confidence) and the ground-truth `keypoints` of such samples stay unknown.
(-1, -1, 0) is the unknown marker there too; a split whose rows all carry only that marker gets no sidecar.
Floats are written as the shortest text that reads back to the same float32.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from synth import vocabulary as vocab
from synth.datasets.importers.common import (
    Entry,
    ImportReport,
    Problem,
    RowError,
    SplitSource,
    camera_from_name,
    check_image_name,
    import_splits,
    parse_color,
    parse_float,
    parse_int,
    parse_type,
    require_dir,
    require_file,
    vehicle_from_name,
)
from synth.datasets.schema import DEFAULT_SHARD_SIZE, DatasetError

K = vocab.NUM_KEYPOINTS
POSE_CSV_FIELDS = 3 + 3 * K  # 111
REID_CSV_FIELDS = 4 + 3 * K  # 112
FORMAT_BY_FIELDS = {POSE_CSV_FIELDS: "pose", REID_CSV_FIELDS: "reid"}
UNKNOWN_XY = -1  # the CSV stand-in for an unknown position (with v / confidence 0)


# --- keypoint mapping --------------------------------------------------------------------------------------


def pose_csv_to_keypoints(xyv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(36, 3) integer x, y, v of a pose CSV row -> (36, 3) float32 x, y, visibility code."""
    xyv = np.asarray(xyv, dtype=np.int64)
    x, y, v = xyv[:, 0], xyv[:, 1], xyv[:, 2]
    out = xyv.astype(np.float32)
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    out[:, 2] = np.where(v == 1, vocab.VIS_VISIBLE, np.where(inside, vocab.VIS_OCCLUDED, vocab.VIS_OUTSIDE))
    unknown = (x == UNKNOWN_XY) & (y == UNKNOWN_XY) & (v == 0)
    out[unknown, :2] = np.nan
    return out


def keypoints_to_pose_csv(keypoints: np.ndarray) -> np.ndarray:
    """(36, 3) x, y, visibility code -> (36, 3) int64 x, y, v for a pose CSV (coordinates rounded)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    known = np.all(np.isfinite(keypoints[:, :2]), axis=1)
    out = np.full((K, 3), UNKNOWN_XY, np.int64)
    out[:, 2] = 0
    out[known, :2] = np.floor(keypoints[known, :2] + 0.5).astype(np.int64)
    out[known, 2] = (keypoints[known, 2] == vocab.VIS_VISIBLE).astype(np.int64)
    return out


def reid_csv_to_pose(values: np.ndarray) -> np.ndarray:
    """(36, 3) x, y, confidence of a ReID CSV row -> sidecar keypoints (unknown marker -> NaN)."""
    out = np.asarray(values, dtype=np.float32).copy()
    unknown = (out[:, 0] == UNKNOWN_XY) & (out[:, 1] == UNKNOWN_XY) & (out[:, 2] == 0)
    out[unknown, :2] = np.nan
    return out


def pose_to_reid_csv(pose: np.ndarray) -> np.ndarray:
    """Sidecar keypoints (x, y, confidence) -> ReID CSV values (NaN position -> the unknown marker)."""
    out = np.asarray(pose, dtype=np.float32).copy()
    unknown = ~np.all(np.isfinite(out[:, :2]), axis=1)
    out[unknown] = (UNKNOWN_XY, UNKNOWN_XY, 0)
    return out


def labels_to_reid_csv(keypoints: np.ndarray) -> np.ndarray:
    """Ground-truth keypoints as ReID CSV values: confidence 1 where visible, 0 otherwise."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    pose = keypoints.copy()
    pose[:, 2] = (keypoints[:, 2] == vocab.VIS_VISIBLE).astype(np.float32)
    return pose_to_reid_csv(pose)


def format_float(value) -> str:
    """The shortest decimal text that reads back as the same float32."""
    return np.format_float_positional(np.float32(value), unique=True, trim="0")


def format_pose_row(name: str, width: int, height: int, keypoints: np.ndarray) -> list[str]:
    xyv = keypoints_to_pose_csv(keypoints)
    return [name, str(int(width)), str(int(height)), *(str(int(v)) for v in xyv.reshape(-1))]


def format_reid_row(name: str, vehicle_id: int, color_id: int, type_id: int, values: np.ndarray) -> list[str]:
    return [name, str(int(vehicle_id)), str(int(color_id)), str(int(type_id)),
            *(format_float(v) for v in np.asarray(values, np.float32).reshape(-1))]


# --- reading -----------------------------------------------------------------------------------------------


def iter_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank row."""
    with open(path, "r", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            for row in reader:
                if row and any(field.strip() for field in row):
                    yield reader.line_num, [field.strip() for field in row]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DatasetError(path, f"line {reader.line_num + 1}: unreadable CSV ({exc})") from None


def sniff_format(path: Path) -> str:
    """'pose' or 'reid', from the field count of the first row."""
    for line, row in iter_csv_rows(path):
        if len(row) in FORMAT_BY_FIELDS:
            return FORMAT_BY_FIELDS[len(row)]
        raise DatasetError(path, f"line {line}: {len(row)} fields; a PAMTRI pose CSV has {POSE_CSV_FIELDS}, "
                                 f"a ReID CSV {REID_CSV_FIELDS}")
    raise DatasetError(path, "empty CSV: no rows")


def _field_name(index: int, first: int, parts) -> str:
    """'field 11 (keypoint 2 y)' for the 0-based column `index` of a row whose keypoints start at `first`."""
    return f"field {index + 1} (keypoint {(index - first) // 3} {parts[(index - first) % 3]})"


def parse_pose_row(row: list[str]) -> tuple[str, int, int, np.ndarray]:
    """name, width, height, (36, 3) x, y, code."""
    if len(row) != POSE_CSV_FIELDS:
        raise RowError(f"{len(row)} fields, a pose CSV row has {POSE_CSV_FIELDS}")
    name = check_image_name(row[0])
    width, height = parse_int(row[1], "width"), parse_int(row[2], "height")
    if width <= 0 or height <= 0:
        raise RowError(f"image size {width}x{height} is not positive")
    try:  # the fields are text: int() as parse_int calls it; a bad one is parsed again, for the message naming it
        xyv = np.array([int(v) for v in row[3:]])
    except ValueError:
        xyv = np.array([parse_int(v, _field_name(i, 3, "xyv")) for i, v in enumerate(row[3:], 3)])
    xyv = xyv.reshape(K, 3)
    bad_v = (xyv[:, 2] != 0) & (xyv[:, 2] != 1)
    if bad_v.any():
        k = int(np.argmax(bad_v))
        raise RowError(f"keypoint {k} visibility is {xyv[k, 2]}, expected 0 or 1")
    return name, width, height, pose_csv_to_keypoints(xyv, width, height)


def check_visible_inside(keypoints: np.ndarray, width: int, height: int) -> None:
    """A visible point must lie in the image (the dataset contract; inspect checks it) before it is written.
    The real labels mark the right/bottom edge at W/H, which counts as inside; anything beyond is refused (or
    skipped with --skip-bad). Statistics over label files (`read_pose_csv`) keep such rows: VeRi's train file
    has six."""
    x, y = keypoints[:, 0], keypoints[:, 1]
    outside = (keypoints[:, 2] == vocab.VIS_VISIBLE) & ((x < 0) | (x > width) | (y < 0) | (y > height))
    if outside.any():
        k = int(np.argmax(outside))
        raise RowError(f"keypoint {k} is marked visible (v=1) at ({x[k]:g}, {y[k]:g}), outside the "
                       f"{width}x{height} image")


def parse_reid_row(row: list[str]) -> tuple[str, int, int, int, np.ndarray]:
    """name, vehicle id, colour id, type id, (36, 3) x, y, confidence for the sidecar."""
    if len(row) != REID_CSV_FIELDS:
        raise RowError(f"{len(row)} fields, a ReID CSV row has {REID_CSV_FIELDS}")
    name = check_image_name(row[0])
    values = [parse_float(v, _field_name(i, 4, ("x", "y", "confidence"))) for i, v in enumerate(row[4:], 4)]
    return (name, parse_int(row[1], "vehicle id"), parse_color(row[2]), parse_type(row[3]),
            reid_csv_to_pose(np.array(values, np.float64).reshape(K, 3)))


def default_split(csv_path: Path, fmt: str) -> str:
    """label_train.csv -> train; label_query.csv -> query; label_test.csv -> gallery (ReID) or test (pose)."""
    match = re.match(r"^label_([A-Za-z0-9_]+)\.csv$", csv_path.name)
    if not match:
        raise ValueError(f"{csv_path}: cannot tell the split from the file name; pass --split")
    split = match.group(1)
    return "gallery" if (fmt == "reid" and split == "test") else split


def _entries(csv_path: Path, images: Path, fmt: str):
    def entries() -> Iterator[Entry | Problem]:
        for line, row in iter_csv_rows(csv_path):
            try:
                if fmt == "pose":
                    name, width, height, keypoints = parse_pose_row(row)
                    check_visible_inside(keypoints, width, height)
                    try:
                        camera = camera_from_name(name)
                    except RowError:  # pose training never uses the camera
                        camera = -1
                    yield Entry(image_path=images / name, image_name=name, vehicle_id=vehicle_from_name(name),
                                camera_id=camera, keypoints=keypoints, declared_size=(width, height),
                                label_file=csv_path, line=line)
                else:
                    name, vehicle, color, type_, pose = parse_reid_row(row)
                    yield Entry(image_path=images / name, image_name=name, vehicle_id=vehicle,
                                camera_id=camera_from_name(name), color_id=color, type_id=type_,
                                pose_keypoints=pose, label_file=csv_path, line=line)
            except RowError as exc:
                yield Problem(csv_path, str(exc), line)

    return entries


def import_pamtri_csv(
    csv_path: str | Path,
    images: str | Path,
    out: str | Path,
    split: str | None = None,
    fmt: str = "auto",
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    progress: bool = True,
) -> ImportReport:
    """Import one PAMTRI label CSV (pose or ReID, `fmt` 'auto' tells them by field count) and the images it names
    (in `images`) as one split of `out`. Run once per CSV to fill several splits of one dataset."""
    csv_path, images = Path(csv_path), Path(images)
    require_file(csv_path, "PAMTRI label CSV")
    require_dir(images, "image folder of the CSV")
    if fmt not in ("auto", "pose", "reid"):
        raise ValueError(f"format must be auto, pose or reid, got {fmt!r}")
    fmt = sniff_format(csv_path) if fmt == "auto" else fmt
    split = split or default_split(csv_path, fmt)
    if not re.match(r"^[A-Za-z0-9_]+$", split):
        raise ValueError(f"split name {split!r}: use letters, digits and _")
    origin = {"format": f"pamtri-{fmt}-csv", "csv": str(csv_path.resolve()), "images": str(images.resolve())}
    return import_splits(out, "pamtri-csv", [SplitSource(split, _entries(csv_path, images, fmt))],
                         shard_size=shard_size, skip_bad=skip_bad, progress=progress,
                         meta={"origin_" + split: origin})


def read_pose_csv(path: str | Path) -> Iterator[tuple[int, str, int, int, np.ndarray]]:
    """(line, name, width, height, keypoints) of every row of a pose CSV, no images needed: for statistics
    over label files alone (e.g. the real VeRi keypoint labels). Bad rows raise DatasetError."""
    path = Path(path)
    for line, row in iter_csv_rows(path):
        try:
            yield (line, *parse_pose_row(row))
        except RowError as exc:
            raise DatasetError(path, f"line {line}: {exc}") from None
