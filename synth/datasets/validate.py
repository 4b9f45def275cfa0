"""Checking a dataset directory against the contract, and gathering the statistics `cli.py inspect` prints."""
from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from synth import vocabulary as vocab

from synth.datasets.manifest import manifest_shards, open_shard, read_field, read_manifest, shard_files, split_of
from synth.datasets.schema import (
    FIELDS,
    FIELDS_BY_NAME,
    MANIFEST_NAME,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    TMP_MARK,
    DatasetError,
    numpy_dtype,
    shard_name,
)
from synth.datasets.writer import decode_image

_INSIDE_TOLERANCE = 0.5  # px: keypoints on the border pixel's outer edge still count as inside
# Human labels (VeRi's) mark the right/bottom edge at W/H, half a pixel past the outer edge: also inside.
_EDGE_LABEL = 0.5


@dataclass
class SplitStats:
    num_samples: int = 0
    identities: set = field(default_factory=set)
    cameras: set = field(default_factory=set)
    color_hist: Counter = field(default_factory=Counter)
    type_hist: Counter = field(default_factory=Counter)
    visibility_counts: np.ndarray = field(default_factory=lambda: np.zeros((vocab.NUM_KEYPOINTS, 3), np.int64))


@dataclass
class ValidationReport:
    root: Path
    manifest: dict[str, Any] | None = None
    splits: dict[str, SplitStats] = field(default_factory=dict)
    errors: list[DatasetError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    images_decoded: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_if_errors(self) -> None:
        if self.errors:
            raise self.errors[0]


def _check_field(f: h5py.File, path: Path, name: str, count: int | None) -> int | None:
    """Check one field's dtype and per-sample shape; returns its length."""
    spec = FIELDS_BY_NAME[name]
    dset = f[name]
    want = numpy_dtype(spec)
    if spec.dtype == "bytes":
        ok = h5py.check_vlen_dtype(dset.dtype) == np.dtype(np.uint8)
    elif spec.dtype == "str":
        ok = h5py.check_string_dtype(dset.dtype) is not None
    else:
        ok = dset.dtype == want
    if not ok:
        raise DatasetError(path, f"dtype {dset.dtype}, expected {spec.dtype}", name)
    shape = dset.shape[1:]
    if len(shape) != len(spec.shape) or any(w not in (-1, g) for w, g in zip(spec.shape, shape)):
        raise DatasetError(path, f"per-sample shape {shape}, expected {spec.shape}", name)
    if count is not None and dset.shape[0] != count:
        raise DatasetError(path, f"{dset.shape[0]} rows, other fields have {count}", name)
    return dset.shape[0]


def validate_shard(path: Path, expected_split: str | None = None, expected_count: int | None = None,
                   report: ValidationReport | None = None, decode: int = 0, rng=None) -> SplitStats:
    """Validate one shard; raises DatasetError at the first problem. Returns its statistics."""
    with open_shard(path) as f:
        version = f.attrs.get("schema_version")
        if version is None:
            raise DatasetError(path, "no schema_version attribute: not a dataset shard", "schema_version")
        if int(version) > SCHEMA_VERSION:
            raise DatasetError(path, f"schema version {int(version)} is newer than this toolkit reads ({SCHEMA_VERSION})", "schema_version")
        if not f.attrs.get("complete", False):
            raise DatasetError(path, "shard is not marked complete (its writer did not finish)", "complete")
        split = str(f.attrs.get("split", ""))
        if expected_split is not None and split != expected_split:
            raise DatasetError(path, f"attribute says split {split!r}, file name says {expected_split!r}", "split")
        missing = [name for name in REQUIRED_FIELDS if name not in f]
        if missing:
            raise DatasetError(path, "required field missing", missing[0])
        unknown = sorted(set(f.keys()) - {fld.name for fld in FIELDS})
        if unknown and report is not None:
            report.warnings.append(f"{path}: fields outside the contract: {unknown}")
        count = None
        for spec in FIELDS:
            if spec.name in f:
                count = _check_field(f, path, spec.name, count)
        if int(f.attrs.get("num_samples", -1)) != count:
            raise DatasetError(path, f"num_samples attribute {f.attrs.get('num_samples')} != {count} rows", "num_samples")
        if expected_count is not None and expected_count != count:
            raise DatasetError(path, f"manifest lists {expected_count} samples, shard has {count}")
        return _check_values(f, path, count, decode, rng, report)


def _check_image_digests(f: h5py.File, path: Path, count: int, block: int = 256) -> None:
    """Every image's bytes against its stored CRC-32 (shards written before digests existed have none)."""
    if "image_crc32" not in f:
        return
    digests = read_field(f, path, "image_crc32")
    for start in range(0, count, block):
        for offset, data in enumerate(read_field(f, path, "image", slice(start, start + block))):
            row = start + offset
            if zlib.crc32(data.tobytes()) != int(digests[row]):
                raise DatasetError(path, f"sample {row}: image bytes fail their CRC-32 (corrupt file)", "image")


def _check_values(f: h5py.File, path: Path, count: int, decode: int, rng, report) -> SplitStats:
    stats = SplitStats(num_samples=count)
    _check_image_digests(f, path, count)
    image_hw = read_field(f, path, "image_hw")
    if np.any(image_hw <= 0):
        raise DatasetError(path, f"non-positive image size at row {int(np.argwhere(image_hw <= 0)[0, 0])}", "image_hw")
    for name, upper in (("color_id", vocab.NUM_COLORS), ("type_id", vocab.NUM_TYPES)):
        values = read_field(f, path, name)
        bad = np.flatnonzero((values < 0) | (values > upper))
        if bad.size:
            raise DatasetError(path, f"row {bad[0]}: {values[bad[0]]} outside the vocabulary 0..{upper}", name)
    keypoints = read_field(f, path, "keypoints")
    codes = keypoints[:, :, 2]
    bad = np.argwhere(~np.isin(codes, (vocab.VIS_OUTSIDE, vocab.VIS_OCCLUDED, vocab.VIS_VISIBLE)))
    if bad.size:
        row, k = bad[0]
        raise DatasetError(path, f"row {row} keypoint {k}: visibility code {codes[row, k]} not in 0, 1, 2", "keypoints")
    marked = codes > 0
    xy = keypoints[:, :, :2]
    bad = np.argwhere(marked & ~np.all(np.isfinite(xy), axis=2))
    if bad.size:
        row, k = bad[0]
        raise DatasetError(path, f"row {row} keypoint {k}: marked in the image but coordinates are not finite", "keypoints")
    h = image_hw[:, 0:1].astype(np.float32)
    w = image_hw[:, 1:2].astype(np.float32)
    with np.errstate(invalid="ignore"):
        upper = _INSIDE_TOLERANCE + _EDGE_LABEL
        outside = (xy[:, :, 0] < -_INSIDE_TOLERANCE) | (xy[:, :, 0] > w - 1 + upper) | \
                  (xy[:, :, 1] < -_INSIDE_TOLERANCE) | (xy[:, :, 1] > h - 1 + upper)
    bad = np.argwhere(marked & outside)
    if bad.size:
        row, k = bad[0]
        raise DatasetError(
            path, f"row {row} keypoint {k} ({vocab.KEYPOINT_NAMES[k]}) at {xy[row, k].tolist()} is marked in the image "
            f"but lies outside it ({int(w[row, 0])}x{int(h[row, 0])})", "keypoints")
    if "annotator_visibility" in f:
        _check_annotator_codes(path, read_field(f, path, "annotator_visibility"), codes)
    for code in range(3):
        stats.visibility_counts[:, code] = (codes == code).sum(axis=0)
    for spec in FIELDS:  # the fields not read above: a corrupt chunk anywhere is found
        if spec.name in f and spec.dtype not in ("bytes", "str"):
            read_field(f, path, spec.name)
    vehicle_ids = f["vehicle_id"][:]
    stats.identities = set(vehicle_ids.tolist())
    stats.cameras = set(f["camera_id"][:].tolist()) - {-1}
    stats.color_hist = Counter(f["color_id"][:].tolist())
    stats.type_hist = Counter(f["type_id"][:].tolist())
    if decode and count:
        rows = np.arange(count) if decode >= count else np.sort(rng.choice(count, decode, replace=False))
        for row in rows:
            try:
                image = decode_image(f["image"][row], f"{path} sample {row}")
            except ValueError as exc:
                raise DatasetError(path, str(exc), "image") from None
            if tuple(image.shape[:2]) != tuple(image_hw[row]):
                raise DatasetError(path, f"row {row}: decoded size {image.shape[:2]} != image_hw {tuple(image_hw[row])}", "image")
            if report is not None:
                report.images_decoded += 1
    return stats


def _check_annotator_codes(path: Path, annotator: np.ndarray, codes: np.ndarray) -> None:
    """Annotator codes are visibility codes, and say "in the image" exactly where the geometric ones do."""
    bad = np.argwhere(~np.isin(annotator, (vocab.VIS_OUTSIDE, vocab.VIS_OCCLUDED, vocab.VIS_VISIBLE)))
    if bad.size:
        row, k = bad[0]
        raise DatasetError(path, f"row {row} keypoint {k}: code {annotator[row, k]} not in 0, 1, 2",
                           "annotator_visibility")
    bad = np.argwhere((annotator == vocab.VIS_OUTSIDE) != (codes == vocab.VIS_OUTSIDE))
    if bad.size:
        row, k = bad[0]
        raise DatasetError(path, f"row {row} keypoint {k}: code {annotator[row, k]} but the keypoints field "
                           f"says {int(codes[row, k])}: the two disagree on whether it is in the image",
                           "annotator_visibility")


def _identity_labels(path: Path) -> dict[int, tuple]:
    """vehicle_id -> (colour, type, model) of a shard, to check identities agree across shards."""
    with h5py.File(path, "r") as f:
        columns = [f["vehicle_id"][:], f["color_id"][:], f["type_id"][:]]
        columns.append(f["model_id"][:] if "model_id" in f else np.full(len(columns[0]), -1))
    out: dict[int, tuple] = {}
    for vid, *labels in zip(*(c.tolist() for c in columns)):
        out.setdefault(vid, tuple(labels))
        if out[vid] != tuple(labels):
            out[vid] = None  # conflicting labels within one shard
    return out


def validate_dataset(root: str | Path, decode: int | str = 64, seed: int = 0) -> ValidationReport:
    """Validate every shard a dataset's manifest lists. Problems are collected in `report.errors` (one per
    shard at most); `decode` images are decoded per dataset ("all" for every one)."""
    root = Path(root)
    report = ValidationReport(root=root)
    if not root.is_dir():
        report.errors.append(DatasetError(root, "dataset directory does not exist"))
        return report
    try:
        report.manifest = read_manifest(root)
        listed = manifest_shards(root, report.manifest)
    except (DatasetError, KeyError, TypeError) as exc:
        report.errors.append(exc if isinstance(exc, DatasetError) else DatasetError(root / MANIFEST_NAME, f"malformed: {exc}"))
        return report
    missing = _missing_shards(root, report.manifest, listed)
    if missing:
        report.errors.append(missing)
    listed_names = {path.name for _, path, _ in listed}
    for path in shard_files(root):
        if path.name not in listed_names:
            report.warnings.append(f"{path}: shard on disk but not in {MANIFEST_NAME} (unfinished run or stale manifest)")
    for path in root.glob(f"*{TMP_MARK}*"):
        report.warnings.append(f"{path}: leftover temporary file of an interrupted write (ignored)")
    rng = np.random.default_rng(seed)
    total = max(1, sum(n for _, _, n in listed))
    identity_labels: dict[int, tuple] = {}
    identity_source: dict[int, Path] = {}
    for split, path, count in listed:
        budget = count if decode == "all" else int(np.ceil(int(decode) * count / total))
        try:
            if split_of(path) != split:
                raise DatasetError(path, f"listed under split {split!r} but named for {split_of(path)!r}")
            stats = validate_shard(path, split, count, report, budget, rng)
            for vid, labels in _identity_labels(path).items():
                if labels is None:
                    raise DatasetError(path, f"vehicle_id {vid} has conflicting colour/type/model labels", "vehicle_id")
                if vid in identity_labels and identity_labels[vid] != labels:
                    raise DatasetError(
                        path, f"vehicle_id {vid} labelled (colour, type, model) {labels} here but "
                        f"{identity_labels[vid]} in {identity_source[vid].name}", "vehicle_id")
                identity_labels.setdefault(vid, labels)
                identity_source.setdefault(vid, path)
        except DatasetError as exc:
            report.errors.append(exc)
            continue
        merged = report.splits.setdefault(split, SplitStats())
        merged.num_samples += stats.num_samples
        merged.identities |= stats.identities
        merged.cameras |= stats.cameras
        merged.color_hist.update(stats.color_hist)
        merged.type_hist.update(stats.type_hist)
        merged.visibility_counts += stats.visibility_counts
    return report


def _missing_shards(root: Path, manifest: dict, listed) -> DatasetError | None:
    """A render records what the complete dataset holds (`planned_splits`, or only `num_samples_planned` in
    older manifests): a folder with fewer complete shards, e.g. a `--shard K/N` task that never ran, is named
    as incomplete rather than passed."""

    where = root / MANIFEST_NAME
    have = {path.name for _, path, _ in listed}
    planned = manifest.get("planned_splits")
    if isinstance(planned, dict):
        problems = []
        for split, plan in planned.items():
            names = [shard_name(split, k) for k in range(int(plan.get("shards", 0)))]
            absent = [name for name in names if name not in have]
            count = sum(n for s, _, n in listed if s == split)
            if absent:
                shown = ", ".join(absent[:8]) + (f" and {len(absent) - 8} more" if len(absent) > 8 else "")
                problems.append(f"split {split}: {len(absent)} of {len(names)} shards missing ({shown}), "
                                f"{int(plan.get('num_samples', 0)) - count} of {plan.get('num_samples')} samples")
            elif count != int(plan.get("num_samples", count)):
                problems.append(f"split {split}: {count} samples, {plan.get('num_samples')} planned")
        if problems:
            return DatasetError(where, "incomplete dataset (a --shard K/N task not run or not finished?): "
                                + "; ".join(problems))
        return None
    planned_total = manifest.get("num_samples_planned")
    if isinstance(planned_total, int):
        total = sum(n for _, _, n in listed)
        if total != planned_total:
            return DatasetError(where, f"incomplete dataset: {total} of the {planned_total} planned samples "
                                       "(num_samples_planned) are in complete shards")
    return None


def visibility_rates(counts: np.ndarray) -> np.ndarray:
    """Per keypoint, the fraction of samples with code 2 (visible) and with code 1 (occluded)."""
    total = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return counts[:, [2, 1]] / total


def merge_identities(report: ValidationReport) -> dict[str, Any]:
    """Identity overlap between splits (e.g. query/gallery share identities, train should not)."""
    out: dict[str, Any] = defaultdict(dict)
    names = sorted(report.splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            out[a][b] = len(report.splits[a].identities & report.splits[b].identities)
    return dict(out)
