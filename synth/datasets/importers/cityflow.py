"""CityFlow-ReID (AI City Challenge 2019 track 2) -> dataset directory (docs/IMPORT.md).

Layout read: `image_train/`, `image_query/`, `image_test/`, `train_label.xml` (Item: imageName, vehicleID,
cameraID; no colour or type), `name_query.txt`, `name_test.txt`, and `name_train.txt` when present (else the
XML's order). The official query and test labels were never published, so:

- `train`: the training images (minus the identities held out for validation);
- `query` / `gallery` (only with `val_ids=N`): a validation split carved from N training identities seen by at
  least two cameras, chosen with `seed`. For each held-out identity and each camera the first listed image is
  a query and the rest are gallery; a query's true matches are then the gallery images from other cameras.
- `challenge_query` / `challenge_gallery` (with `challenge=True`): the official unlabelled query and test
  images, vehicle id and camera -1, for writing a submission.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np

from synth.datasets.importers.common import (
    BadInput,
    Entry,
    ImportReport,
    Problem,
    RowError,
    SplitSource,
    check_image_name,
    import_splits,
    parse_camera_attribute,
    parse_color,
    parse_int,
    parse_type,
    read_name_list,
    read_xml_labels,
    require_dir,
    require_file,
)
from synth.datasets.schema import DEFAULT_SHARD_SIZE


def parse_cityflow_item(attrs: dict[str, str]) -> dict:
    for key in ("vehicleID", "cameraID"):
        if key not in attrs:
            raise RowError(f"Item lacks the {key} attribute")
    return {
        "vehicle_id": parse_int(attrs["vehicleID"], "vehicleID"),
        "camera_id": parse_camera_attribute(attrs["cameraID"]),
        # later AI City releases add colour/type; 2019 has none (0 = unknown)
        "color_id": parse_color(attrs["colorID"]) if "colorID" in attrs else 0,
        "type_id": parse_type(attrs["typeID"]) if "typeID" in attrs else 0,
    }


def _train_rows(root: Path, labels: dict) -> Iterator[tuple[Path, int, str, dict | None]]:
    """(list file, line, name, labels or None) in training order."""
    name_list = root / "name_train.txt"
    if name_list.is_file():
        for line, name in read_name_list(name_list):
            yield name_list, line, name, labels.get(name, (0, None))[1]
    else:
        for name, (line, parsed) in labels.items():
            yield root / "train_label.xml", line, name, parsed


def choose_validation(root: Path, labels: dict, val_ids: int, seed: int) -> tuple[set[int], set[str]]:
    """The held-out identities and, among their images, the names that become queries."""
    cameras: dict[int, set[int]] = defaultdict(set)
    for _, _, name, parsed in _train_rows(root, labels):
        if parsed is not None:
            cameras[parsed["vehicle_id"]].add(parsed["camera_id"])
    eligible = sorted(v for v, cams in cameras.items() if len(cams) >= 2)
    if val_ids > len(eligible):
        raise ValueError(f"{root}: --val-ids {val_ids} but only {len(eligible)} training identities are seen by "
                         "two or more cameras")
    held = set(np.random.default_rng(seed).choice(eligible, size=val_ids, replace=False).tolist())
    queries, seen = set(), set()
    for _, _, name, parsed in _train_rows(root, labels):
        if parsed is not None and parsed["vehicle_id"] in held:
            key = (parsed["vehicle_id"], parsed["camera_id"])
            if key not in seen:
                seen.add(key)
                queries.add(name.strip())
    return held, queries


def _train_split(root: Path, labels: dict, keep, report_problems: bool) -> callable:
    """Entries of the training list that `keep(name, labels)` selects; label problems are reported by one split
    only (train), so each is counted once."""
    folder = root / "image_train"

    def entries() -> Iterator[Entry | Problem]:
        for list_file, line, raw, parsed in _train_rows(root, labels):
            try:
                name = check_image_name(raw)
                if parsed is None:
                    raise RowError(f"{name!r} has no Item in train_label.xml")
            except RowError as exc:
                if report_problems:
                    yield Problem(list_file, str(exc), line)
                continue
            if keep(name, parsed):
                yield Entry(image_path=folder / name, image_name=name, label_file=list_file, line=line, **parsed)

    return entries


def _unlabelled_split(root: Path, folder: str, name_list: str) -> callable:
    def entries() -> Iterator[Entry | Problem]:
        path = root / name_list
        for line, raw in read_name_list(path):
            try:
                name = check_image_name(raw)
            except RowError as exc:
                yield Problem(path, str(exc), line)
                continue
            yield Entry(image_path=root / folder / name, image_name=name, vehicle_id=-1, label_file=path, line=line)

    return entries


def import_cityflow(
    root: str | Path,
    out: str | Path,
    val_ids: int = 0,
    seed: int = 0,
    challenge: bool = True,
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    progress: bool = True,
) -> ImportReport:
    """Import CityFlow-ReID at `root` into `out`; `val_ids` > 0 carves a labelled query/gallery split."""
    root = Path(root)
    require_dir(root, "CityFlow-ReID root")
    require_dir(root / "image_train", "CityFlow-ReID training images (image_train/)")
    if val_ids < 0:
        raise ValueError("--val-ids must be >= 0")
    bad = BadInput(skip_bad)
    labels = read_xml_labels(require_file(root / "train_label.xml", "CityFlow-ReID train labels"),
                             parse_cityflow_item, bad)
    held, queries = choose_validation(root, labels, val_ids, seed) if val_ids else (set(), set())

    splits = [SplitSource("train", _train_split(root, labels, lambda name, p: p["vehicle_id"] not in held, True))]
    if val_ids:
        splits.append(SplitSource("query", _train_split(root, labels, lambda name, p: name in queries, False)))
        splits.append(SplitSource("gallery", _train_split(
            root, labels, lambda name, p: p["vehicle_id"] in held and name not in queries, False)))
    if challenge:
        for split, folder, name_list in (("challenge_query", "image_query", "name_query.txt"),
                                         ("challenge_gallery", "image_test", "name_test.txt")):
            require_dir(root / folder, f"CityFlow-ReID {split} images ({folder}/)")
            require_file(root / name_list, f"CityFlow-ReID {split} name list")
            splits.append(SplitSource(split, _unlabelled_split(root, folder, name_list)))
    origin = {"format": "cityflow-reid", "root": str(root.resolve()), "val_ids": val_ids, "seed": seed}
    notes = []
    if val_ids:
        notes.append(f"validation: {len(held)} identities held out of train, {len(queries)} queries")
    return import_splits(out, "cityflow", splits, shard_size=shard_size, skip_bad=skip_bad, progress=progress,
                         meta={"origin": origin}, notes=notes, bad=bad)
