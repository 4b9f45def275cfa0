"""VeRi-776 -> dataset directory (docs/IMPORT.md).

Layout read: `image_train/`, `image_query/`, `image_test/` (the gallery), `train_label.xml`, `test_label.xml`
(Item elements: imageName, vehicleID, cameraID, colorID, typeID; declared gb2312) and the name lists
`name_train.txt`, `name_query.txt`, `name_test.txt` (when a list is absent: the XML's order, or for the query
the sorted folder listing). Splits written: train, query, gallery, in name-list order.

Query images have no XML of their own: they are gallery images too, so their labels come from
`test_label.xml`; a query name missing there falls back to the identity and camera in its file name
(`VVVV_cCCC_FFFFFFFF_N.jpg`) with unknown colour and type. The query images stay in the gallery, as VeRi
lists them; the evaluation removes same-identity-same-camera gallery items per query (docs/EVALUATION.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from synth.datasets.importers.common import (
    BadInput,
    Entry,
    ImportReport,
    Problem,
    RowError,
    SplitSource,
    camera_from_name,
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
    vehicle_from_name,
)
from synth.datasets.schema import DEFAULT_SHARD_SIZE

SPLIT_FOLDERS = {"train": "image_train", "query": "image_query", "gallery": "image_test"}
NAME_LISTS = {"train": "name_train.txt", "query": "name_query.txt", "gallery": "name_test.txt"}


def parse_veri_item(attrs: dict[str, str]) -> dict:
    """Labels of one VeRi XML Item."""
    for key in ("vehicleID", "cameraID", "colorID", "typeID"):
        if key not in attrs:
            raise RowError(f"Item lacks the {key} attribute")
    return {
        "vehicle_id": parse_int(attrs["vehicleID"], "vehicleID"),
        "camera_id": parse_camera_attribute(attrs["cameraID"]),
        "color_id": parse_color(attrs["colorID"]),
        "type_id": parse_type(attrs["typeID"]),
    }


def labels_from_name(name: str) -> dict:
    """Identity and camera from a VeRi file name, for a query image missing from test_label.xml."""
    vehicle = vehicle_from_name(name)
    camera = camera_from_name(name)
    if vehicle < 0 or camera < 0:
        raise RowError(f"{name!r} is in no label XML and its name is not VVVV_cCCC_...: identity unknown")
    return {"vehicle_id": vehicle, "camera_id": camera, "color_id": 0, "type_id": 0}


def _listed_names(root: Path, split: str, labels: dict | None) -> Iterator[tuple[Path, int, str]]:
    """(list file, line, name) in the split's order: its name list, else the XML, else the folder."""
    name_list = root / NAME_LISTS[split]
    if name_list.is_file():
        for line, name in read_name_list(name_list):
            yield name_list, line, name
    elif labels is not None:
        for name, (line, _) in labels.items():
            yield root / ("train_label.xml" if split == "train" else "test_label.xml"), line, name
    else:
        folder = root / SPLIT_FOLDERS[split]
        for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
            yield folder, 0, name


def _split_entries(root: Path, split: str, labels: dict, list_labels: bool, fallback_to_name: bool):
    folder = root / SPLIT_FOLDERS[split]

    def entries() -> Iterator[Entry | Problem]:
        for list_file, line, raw in _listed_names(root, split, labels if list_labels else None):
            try:
                name = check_image_name(raw)
                if name in labels:
                    parsed = labels[name][1]
                elif fallback_to_name:
                    parsed = labels_from_name(name)
                else:
                    raise RowError(f"{name!r} has no Item in the label XML")
            except RowError as exc:
                yield Problem(list_file, str(exc), line or None)
                continue
            yield Entry(image_path=folder / name, image_name=name, label_file=list_file, line=line, **parsed)

    return entries


def import_veri(
    root: str | Path,
    out: str | Path,
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    progress: bool = True,
) -> ImportReport:
    """Import VeRi-776 at `root` into the dataset directory `out` (splits train, query, gallery); resumable."""
    root = Path(root)
    require_dir(root, "VeRi-776 root")
    for split, folder in SPLIT_FOLDERS.items():
        require_dir(root / folder, f"VeRi-776 {split} images ({folder}/)")
    bad = BadInput(skip_bad)
    train_xml = require_file(root / "train_label.xml", "VeRi-776 train labels")
    test_xml = require_file(root / "test_label.xml", "VeRi-776 test (gallery) labels")
    train_labels = read_xml_labels(train_xml, parse_veri_item, bad)
    test_labels = read_xml_labels(test_xml, parse_veri_item, bad)
    splits = [
        SplitSource("train", _split_entries(root, "train", train_labels, True, False)),
        SplitSource("query", _split_entries(root, "query", test_labels, False, True)),
        SplitSource("gallery", _split_entries(root, "gallery", test_labels, True, False)),
    ]
    query_without_xml = _count_query_without_xml(root, test_labels)
    notes = []
    if query_without_xml:
        notes.append(f"{query_without_xml} query images are not in test_label.xml: identity and camera from "
                     "their names, colour and type unknown")
    return import_splits(
        out, "veri", splits, shard_size=shard_size, skip_bad=skip_bad, progress=progress,
        meta={"origin": {"format": "veri-776", "root": str(root.resolve())}}, notes=notes, bad=bad,
    )


def _count_query_without_xml(root: Path, test_labels: dict) -> int:
    return sum(1 for _, _, name in _listed_names(root, "query", None) if name.strip() not in test_labels)
