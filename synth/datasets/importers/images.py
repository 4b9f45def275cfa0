"""Any folder of vehicle crops -> dataset directory (`cli.py import images`, docs/OWN_DATA.md).

Where the labels come from, one of:

- a CSV with a header row (`labels`): column `image` (path relative to the folder, required) and optionally
  `vehicle_id`, `camera_id`, `color_id`, `type_id` (VeRi ids, 0 unknown) and `split`. Only the images it lists
  are imported, in its order; an empty cell means unknown (-1 for the ids, 0 for colour and type).
- VeRi-style file names (`veri_names=True`): identity and camera from `VVVV_cCCC_....jpg`.
- nothing: every image file under the folder (recursively, sorted, hidden entries skipped) with identity and
  camera unknown (-1): an unlabelled gallery to search.

Image names in the dataset are the paths relative to the folder (`sub/dir/x.jpg`), so search results point
back at the user's files. Formats other than JPEG and PNG are decoded and stored as JPEG. The bad-input policy
and the resumable writer are the shared ones (`common.import_splits`): a bad row or an unreadable image stops
the import naming the file, or is counted and listed with `skip_bad`.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator, Sequence

from synth.datasets.importers.common import (
    BadInput,
    Entry,
    ImportReport,
    Problem,
    RowError,
    SplitSource,
    camera_from_name,
    import_splits,
    parse_color,
    parse_int,
    parse_type,
    require_dir,
    require_file,
    vehicle_from_name,
)
from synth.datasets.schema import DEFAULT_SHARD_SIZE, DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABEL_COLUMNS = ("image", "vehicle_id", "camera_id", "color_id", "type_id", "split")
UNKNOWN_ID = -1
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def list_images(root: Path) -> list[Path]:
    """Image files under `root` (recursively), sorted by relative path; hidden files and folders are skipped
    (a search cache lives in `.pamtri_cache/` inside the folder)."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def check_split_name(split: str) -> str:
    if not _SPLIT_NAME.match(split or ""):
        raise ValueError(f"split name {split!r} must be letters, digits and '_'")
    return split


def _optional_int(text: str | None, what: str, default: int) -> int:
    return default if text is None or not str(text).strip() else parse_int(text, what)


def _labels_from_veri_name(name: str) -> dict:
    stem = Path(name).name
    vehicle = vehicle_from_name(stem)
    camera = camera_from_name(stem)
    if vehicle < 0 or camera < 0:
        raise RowError(f"{stem!r} is not a VeRi-style name VVVV_cCCC_...: identity or camera unknown")
    return {"vehicle_id": vehicle, "camera_id": camera}


def _relative_name(text: str) -> str:
    name = text.strip().replace("\\", "/")
    if not name:
        raise RowError("empty image path")
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts:
        raise RowError(f"image path {text!r} must be relative to the folder, without '..'")
    return Path(name).as_posix()


def _read_label_csv(path: Path, root: Path, default_split: str, bad: BadInput) -> dict[str, list[Entry | Problem]]:
    """split -> entries (and problems) of a label CSV, in file order."""
    by_split: dict[str, list[Entry | Problem]] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
        except UnicodeDecodeError as exc:
            raise DatasetError(path, f"not UTF-8 text: {exc.reason}") from None
        if "image" not in header:
            raise DatasetError(path, f"line 1: the header must name an 'image' column (columns: {', '.join(LABEL_COLUMNS)}); "
                                     f"found {header}")
        unknown = [h for h in header if h not in LABEL_COLUMNS]
        if unknown:
            raise DatasetError(path, f"line 1: unknown columns {unknown}; known: {', '.join(LABEL_COLUMNS)}")
        reader.fieldnames = header
        try:
            for row in reader:
                line = reader.line_num
                split = (row.get("split") or "").strip() or default_split
                try:
                    if None in row:
                        raise RowError(f"{len(header) + len(row[None])} fields, the header has {len(header)}")
                    name = _relative_name(row["image"] or "")
                    if not _SPLIT_NAME.match(split):
                        raise RowError(f"split {split!r} must be letters, digits and '_'")
                    labels = {
                        "vehicle_id": _optional_int(row.get("vehicle_id"), "vehicle_id", UNKNOWN_ID),
                        "camera_id": _optional_int(row.get("camera_id"), "camera_id", UNKNOWN_ID),
                        "color_id": parse_color(row["color_id"]) if (row.get("color_id") or "").strip() else 0,
                        "type_id": parse_type(row["type_id"]) if (row.get("type_id") or "").strip() else 0,
                    }
                except RowError as exc:
                    by_split.setdefault(split, []).append(Problem(path, str(exc), line))
                    continue
                by_split.setdefault(split, []).append(
                    Entry(image_path=root / name, image_name=name, label_file=path, line=line, **labels))
        except UnicodeDecodeError as exc:
            raise DatasetError(path, f"not UTF-8 text: {exc.reason}") from None
    if not by_split:
        raise DatasetError(path, "the label CSV lists no images")
    return by_split


def _folder_entries(root: Path, files: Sequence[tuple[Path, str]], veri_names: bool) -> list[Entry | Problem]:
    out: list[Entry | Problem] = []
    for path, name in files:
        try:
            labels = _labels_from_veri_name(name) if veri_names else {"vehicle_id": UNKNOWN_ID, "camera_id": UNKNOWN_ID}
        except RowError as exc:
            out.append(Problem(path, str(exc)))
            continue
        out.append(Entry(image_path=path, image_name=name, label_file=root, line=0, **labels))
    return out


def import_image_files(
    files: Sequence[tuple[Path, str]],
    out: str | Path,
    split: str = "query",
    veri_names: bool = False,
    where: Path | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Import explicit (file, image name) pairs as one split (the query images of `cli.py search`)."""
    if not files:
        raise ValueError("no image files given")
    entries = _folder_entries(where or Path("."), files, veri_names)
    return import_splits(out, "images", [SplitSource(check_split_name(split), lambda: iter(entries))],
                         shard_size=shard_size, skip_bad=skip_bad, progress=progress,
                         meta={"origin": {"format": "images", "files": len(files)}})


def import_images(
    root: str | Path,
    out: str | Path,
    labels: str | Path | None = None,
    veri_names: bool = False,
    split: str = "gallery",
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    progress: bool = True,
) -> ImportReport:
    """Import the folder `root` of vehicle crops into the dataset directory `out` (resumable). Labels from the
    CSV `labels`, from VeRi-style names (`veri_names`), or none; `split` names the split of rows without one."""
    root = require_dir(Path(root), "folder of images")
    check_split_name(split)
    if labels is not None and veri_names:
        raise ValueError("give labels from a CSV or from VeRi-style names, not both")
    bad = BadInput(skip_bad)
    notes = []
    if labels is not None:
        labels = require_file(Path(labels), "label CSV")
        by_split = _read_label_csv(labels, root, split, bad)
        listed = {e.image_name for entries in by_split.values() for e in entries if isinstance(e, Entry)}
        unlisted = sum(1 for p in list_images(root) if p.relative_to(root).as_posix() not in listed)
        if unlisted:
            notes.append(f"{unlisted} image file(s) in {root} are not in {labels.name} and were not imported")
    else:
        files = [(p, p.relative_to(root).as_posix()) for p in list_images(root)]
        if not files:
            raise DatasetError(root, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        by_split = {split: _folder_entries(root, files, veri_names)}
        if not veri_names:
            notes.append("no labels: identity and camera unknown (-1); such a dataset serves as a search gallery")
    sources = [SplitSource(name, lambda entries=entries: iter(entries)) for name, entries in by_split.items()]
    origin = {"format": "images", "root": str(root.resolve()),
              "labels": str(Path(labels).resolve()) if labels else ("veri-names" if veri_names else None)}
    return import_splits(out, "images", sources, shard_size=shard_size, skip_bad=skip_bad, progress=progress,
                         meta={"origin": origin}, notes=notes, bad=bad)
