"""Dataset directory -> the published PAMTRI code's folders and label CSVs (docs/IMPORT.md).

Written under `out`:

    reid/                      MultiTaskNet `data/<dataset>/`
      image_<s>/               the images, original bytes (no re-encoding)
      heatmap_<s>/, segment_<s>/   per-image folders of 00.jpg.. from pose sidecars (pose_maps=True), else
                               empty: the published loader insists that they exist
      label_<s>.csv            ReID CSV: name, vehicle, colour, type, 36 x (x, y, confidence)
      name_<s>.txt             the image names, VeRi style
    pose/                      PoseEstNet `data/<dataset>/`
      images/image_<s>/        hard links to reid/image_<s>/ (copies where links are impossible)
      annot/label_<s>.csv      pose CSV: name, width, height, 36 x (x, y, v), for samples with keypoint labels
    names.csv                  split, exported name, dataset image_name (they differ only when renamed)
    export.yaml                what was exported from where

Split names: train -> train, query -> query, gallery -> test; any other split keeps its name.
Image names are kept when the published loader reads them right; otherwise they are renamed (names.csv
says how): the loader takes the camera from the 3 digits after the first 'c' in the name (-1 when there is
none) and derives per-image folders by cutting 4 characters of extension.
"""
from __future__ import annotations

import csv
import datetime as _dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np
import yaml

from synth.datasets.importers.common import RowError, camera_from_name
from synth.datasets.importers.pamtri_csv import format_pose_row, format_reid_row, labels_to_reid_csv, pose_to_reid_csv
from synth.datasets.manifest import manifest_shards, read_manifest
from synth.datasets.schema import TMP_MARK, DatasetError
from synth.datasets.sidecar import open_sidecar, sidecar_path

PAMTRI_SPLIT_NAMES = {"train": "train", "query": "query", "gallery": "test"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png"}
_UNSAFE_CHARS = set(',"\'\n\r\t/\\')


@dataclass
class ExportReport:
    out: Path
    splits: dict[str, dict] = field(default_factory=dict)

    def format(self) -> str:
        lines = [f"exported to {self.out}"]
        for split, info in self.splits.items():
            text = f"  {split} -> {info['pamtri_split']}: {info['samples']} images, {info['pose_rows']} pose rows"
            if info["renamed"]:
                text += f", {info['renamed']} renamed (see names.csv)"
            text += f", ReID keypoints from {info['keypoints_from']}"
            lines.append(text)
        return "\n".join(lines)


class _AtomicText:
    """A text file written under a temporary name and moved into place on close."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(path.name + TMP_MARK)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.tmp, "w", newline="", encoding="utf-8")
        self.csv = csv.writer(self.file, lineterminator="\n")

    def close(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def pamtri_safe_name(name: str, camera_id: int, extension: str) -> bool:
    """True when the published loaders read `name` right: plain file name, 4-character extension matching the
    bytes, the camera they parse equals `camera_id`, nothing that breaks a CSV field."""
    if not name.endswith(extension) or len(name) <= len(extension) or _UNSAFE_CHARS & set(name):
        return False
    try:
        return camera_from_name(name) == camera_id
    except RowError:
        return False


def export_name(name: str, camera_id: int, extension: str, position: int) -> str:
    """`name` when safe, else `<stem>_cCCC<ext>` (stem without 'c'), else `<position>_cCCC<ext>`."""
    if camera_id > 999:
        raise ValueError(f"camera id {camera_id} of {name!r} does not fit the published loader's 3 digits")
    if pamtri_safe_name(name, camera_id, extension):
        return name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    tail = f"_c{camera_id:03d}" if camera_id >= 0 else ""
    if "c" not in stem and not (_UNSAFE_CHARS & set(stem)) and stem:
        return f"{stem}{tail}{extension}"
    return f"{position:07d}{tail}{extension}"


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DatasetError(out, "output folder is not empty (pass --overwrite to write into it anyway)")
    out.mkdir(parents=True, exist_ok=True)


def _place_image(data: bytes, path: Path, link: Path | None) -> None:
    path.write_bytes(data)
    if link is not None:
        link.unlink(missing_ok=True)
        try:
            os.link(path, link)
        except OSError:  # other file system, or links not allowed
            shutil.copyfile(path, link)


def _write_maps(folder: Path, maps: np.ndarray, scale: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, plane in enumerate(maps):
        plane = np.clip(plane.astype(np.int32) * scale, 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(folder / f"{index:02d}.jpg"), plane):
            raise OSError(f"{folder / f'{index:02d}.jpg'}: cannot write")


def export_pamtri(
    data: str | Path,
    out: str | Path,
    splits: list[str] | None = None,
    keypoints: str = "auto",
    pose_maps: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    visibility: str = "geometric",
) -> ExportReport:
    """Write the dataset directory `data` in the published code's layout (module docstring).

    `keypoints` picks what the ReID CSV carries: 'pose' (the pose sidecar's predictions), 'labels' (ground truth,
    confidence 1 where visible), or 'auto' (the sidecar where a shard has one, else the labels).
    `pose_maps` also writes the sidecars' heatmaps and segments as the per-image JPEG folders.
    `visibility` picks the codes the labels carry: 'geometric' (`keypoints`) or 'annotator' (a render's
    `annotator_visibility`, VeRi's marking habits, where a shard has it; docs/FORMAT.md).
    """
    from tqdm import tqdm

    if keypoints not in ("auto", "pose", "labels"):
        raise ValueError(f"keypoints must be auto, pose or labels, got {keypoints!r}")
    if visibility not in ("geometric", "annotator"):
        raise ValueError(f"visibility must be geometric or annotator, got {visibility!r}")
    data, out = Path(data), Path(out)
    manifest = read_manifest(data)
    shards = manifest_shards(data, manifest)
    available = list(dict.fromkeys(split for split, _, _ in shards))
    chosen = available if splits is None else list(splits)
    for split in chosen:
        if split not in available:
            raise DatasetError(data, f"no split {split!r} (the dataset has {', '.join(available)})")
    targets = {split: PAMTRI_SPLIT_NAMES.get(split, split) for split in chosen}
    clash = [t for t in set(targets.values()) if list(targets.values()).count(t) > 1]
    if clash:
        raise ValueError(f"splits {sorted(s for s, t in targets.items() if t in clash)} would all be written as "
                         f"{clash[0]!r}; export them separately with --splits")
    _check_out(out, overwrite)
    report = ExportReport(out)
    names = _AtomicText(out / "names.csv")
    names.csv.writerow(["split", "exported_name", "image_name"])
    try:
        for split in chosen:
            target = targets[split]
            split_shards = [(path, count) for s, path, count in shards if s == split]
            with tqdm(total=sum(c for _, c in split_shards), desc=f"export {split}", unit="img",
                      disable=not progress, leave=False) as bar:
                report.splits[split] = _export_split(split, target, split_shards, out, names, keypoints,
                                                     pose_maps, bar, visibility)
        names.close()
    except BaseException:
        names.abort()
        raise
    summary = {
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "from": str(data.resolve()),
        "source": manifest.get("source"),
        "keypoints": keypoints,
        "visibility": visibility,
        "splits": report.splits,
    }
    tmp = out / f"export.yaml{TMP_MARK}"
    tmp.write_text(yaml.safe_dump(summary, sort_keys=False))
    os.replace(tmp, out / "export.yaml")
    return report


def _export_split(split, target, split_shards, out, names, keypoints, pose_maps, bar, visibility) -> dict:
    reid, pose = out / "reid", out / "pose"
    image_dir = reid / f"image_{target}"
    image_dir.mkdir(parents=True, exist_ok=True)
    for kind in ("heatmap", "segment"):
        (reid / f"{kind}_{target}").mkdir(exist_ok=True)
    reid_csv = _AtomicText(reid / f"label_{target}.csv")
    name_list = _AtomicText(reid / f"name_{target}.txt")
    pose_csv: _AtomicText | None = None
    info = {"pamtri_split": target, "samples": 0, "pose_rows": 0, "renamed": 0, "keypoints_from": set()}
    used: set[str] = set()
    position = 0
    try:
        for shard, count in split_shards:
            side_path = sidecar_path(shard)
            if keypoints == "pose" and not side_path.exists():
                raise DatasetError(side_path, "pose sidecar missing (--keypoints pose); run pose prediction "
                                                 "first or use --keypoints labels")
            use_sidecar = keypoints != "labels" and side_path.exists()
            info["keypoints_from"].add("pose sidecar" if use_sidecar else "labels")
            with h5py.File(shard, "r") as f, (open_sidecar(side_path) if use_sidecar else _Null()) as side:
                extension = EXTENSIONS[str(f.attrs.get("image_format", "jpeg"))]
                labels = {k: f[k][:] for k in ("image_name", "vehicle_id", "camera_id", "color_id", "type_id",
                                               "keypoints", "image_hw")}
                if visibility == "annotator" and "annotator_visibility" in f:
                    labels["keypoints"][:, :, 2] = f["annotator_visibility"][:]
                pose_kp = side["keypoints"][:] if use_sidecar else None
                if pose_kp is not None and len(pose_kp) != count:
                    raise DatasetError(side_path, f"{len(pose_kp)} rows, its shard has {count}", "keypoints")
                maps = {k: side[k] for k in ("heatmaps", "segments") if use_sidecar and pose_maps and k in side}
                for row in range(count):
                    original = labels["image_name"][row]
                    original = original.decode() if isinstance(original, bytes) else str(original)
                    camera = int(labels["camera_id"][row])
                    name = export_name(original, camera, extension, position)
                    if name in used:
                        name = export_name("", camera, extension, position)
                    if name in used:
                        raise DatasetError(shard, f"exported name {name!r} of {original!r} is already taken")
                    used.add(name)
                    position += 1
                    info["renamed"] += int(name != original)
                    has_pose_labels = bool(np.isfinite(labels["keypoints"][row][:, :2]).any())
                    link = None
                    if has_pose_labels:
                        if pose_csv is None:
                            pose_csv = _AtomicText(pose / "annot" / f"label_{target}.csv")
                            (pose / "images" / f"image_{target}").mkdir(parents=True, exist_ok=True)
                        link = pose / "images" / f"image_{target}" / name
                        height, width = (int(v) for v in labels["image_hw"][row])
                        pose_csv.csv.writerow(format_pose_row(name, width, height, labels["keypoints"][row]))
                        info["pose_rows"] += 1
                    _place_image(bytes(f["image"][row]), image_dir / name, link)
                    values = pose_to_reid_csv(pose_kp[row]) if pose_kp is not None else labels_to_reid_csv(labels["keypoints"][row])
                    reid_csv.csv.writerow(format_reid_row(name, labels["vehicle_id"][row], labels["color_id"][row],
                                                          labels["type_id"][row], values))
                    name_list.file.write(name + "\n")
                    names.csv.writerow([split, name, original])
                    stem = name[:-4]  # the published loader cuts 4 characters
                    if "heatmaps" in maps:
                        _write_maps(reid / f"heatmap_{target}" / stem, maps["heatmaps"][row], 1)
                    if "segments" in maps:
                        _write_maps(reid / f"segment_{target}" / stem, maps["segments"][row], 255)
                    info["samples"] += 1
                    bar.update(1)
        for text in (reid_csv, name_list) + ((pose_csv,) if pose_csv else ()):
            text.close()
    except BaseException:
        for text in (reid_csv, name_list) + ((pose_csv,) if pose_csv else ()):
            if not text.file.closed:
                text.abort()
        raise
    info["keypoints_from"] = " and ".join(sorted(info["keypoints_from"])) or "labels"
    return info


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
