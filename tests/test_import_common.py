"""Fake real-dataset folders made by the tests (tiny images, label files in the published formats), and tests of
the importers' shared machinery: XML decoding, name parsing, image checks, resume."""
from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from synth.datasets import DatasetError, ShardReader, read_manifest
from synth.datasets.importers.common import (
    RowError,
    camera_from_name,
    image_size,
    iter_xml_items,
    parse_camera_attribute,
    truncation_problem,
)

# --- fakes -------------------------------------------------------------------------------------------------


def make_image(path: Path, seed: int, ext: str = ".jpg") -> bytes:
    """A small random image (size varies with the seed) written as JPEG or PNG; returns its bytes."""
    rng = np.random.default_rng(seed)
    h, w = 16 + seed % 7, 20 + (seed * 3) % 11
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, image)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


def write_label_xml(path: Path, root_tag: str, items: list[dict], extra_lines: str = "") -> None:
    """VeRi/CityFlow-style label XML declared and encoded as gb2312, with Chinese text in it."""
    lines = ['<?xml version="1.0" encoding="gb2312"?>', f'<{root_tag} Version="1.0">',
             "<!-- 车辆重识别 标注 -->", f'<Items number="{len(items)}">']
    for item in items:
        attrs = " ".join(f'{k}="{v}"' for k, v in item.items())
        lines.append(f"<Item {attrs} />")
    lines += [extra_lines, "</Items>", f"</{root_tag}>"]
    path.write_bytes("\r\n".join(lines).encode("gb2312"))


def veri_name(vehicle: int, camera: int, frame: int) -> str:
    return f"{vehicle:04d}_c{camera:03d}_{frame:08d}_0.jpg"


def make_fake_veri(root: Path) -> dict:
    """A tiny VeRi-776: 3 train identities, 2 test identities over 2-3 cameras; queries also in the gallery.
    Returns {split: [(name, vehicle, camera, colour, type), ...]} in listed order."""
    splits = {"train": [], "gallery": [], "query": []}
    seed = 0
    for vehicle, color, type_ in ((1, 1, 4), (2, 7, 1), (5, 10, 9)):
        for camera in (1, 2):
            for frame in (10, 20):
                splits["train"].append((veri_name(vehicle, camera, frame * vehicle), vehicle, camera, color, type_))
    for vehicle, color, type_ in ((7, 5, 2), (9, 4, 3)):
        for camera in (1, 2, 3):
            splits["gallery"].append((veri_name(vehicle, camera, 100 + camera), vehicle, camera, color, type_))
            if camera < 3:
                splits["gallery"].append((veri_name(vehicle, camera, 200 + camera), vehicle, camera, color, type_))
        queries = {veri_name(vehicle, 1, 101), veri_name(vehicle, 2, 102)}
        splits["query"] += [row for row in splits["gallery"] if row[0] in queries]
    folders = {"train": "image_train", "gallery": "image_test", "query": "image_query"}
    for split, rows in splits.items():
        for name, *_ in rows:
            path = root / folders[split] / name
            if split == "query":  # the query file is the gallery file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes((root / "image_test" / name).read_bytes())
            else:
                make_image(path, seed)
                seed += 1
        list_name = {"train": "name_train.txt", "gallery": "name_test.txt", "query": "name_query.txt"}[split]
        (root / list_name).write_text("".join(f"{row[0]}\n" for row in rows))
    for split, xml, tag in (("train", "train_label.xml", "TrainingImages"), ("gallery", "test_label.xml", "TestImages")):
        items = [{"imageName": n, "vehicleID": f"{v:04d}", "cameraID": f"c{c:03d}", "colorID": str(co), "typeID": str(t)}
                 for n, v, c, co, t in splits[split]]
        write_label_xml(root / xml, tag, items)
    return splits


def make_fake_cityflow(root: Path, identities: int = 4, challenge: int = 3) -> list[tuple[str, int, int]]:
    """A tiny CityFlow-ReID (2019): names 000001.jpg..., cameras only in the XML. Returns the train rows."""
    rows, index = [], 0
    for vehicle in range(1, identities + 1):
        cameras = (1, 2) if vehicle != identities else (3,)  # the last identity is seen by one camera only
        for camera in cameras:
            for _ in range(2):
                index += 1
                rows.append((f"{index:06d}.jpg", vehicle, 10 + camera))
    for i, (name, _, _) in enumerate(rows):
        make_image(root / "image_train" / name, i)
    (root / "name_train.txt").write_text("".join(f"{r[0]}\n" for r in rows))
    write_label_xml(root / "train_label.xml", "TrainingImages",
                    [{"imageName": n, "vehicleID": f"{v:04d}", "cameraID": f"c{c:03d}"} for n, v, c in rows])
    for folder, list_name in (("image_query", "name_query.txt"), ("image_test", "name_test.txt")):
        names = [f"{i:06d}.jpg" for i in range(1, challenge + 1)]
        for i, name in enumerate(names):
            make_image(root / folder / name, 50 + i)
        (root / list_name).write_text("\n".join(names) + "\n")
    return rows


def shard_labels(root: Path, split: str) -> list[tuple]:
    """(name, vehicle, camera, colour, type) of every sample of a split, in order."""
    data = ShardReader(root, split, fields=("image_name", "vehicle_id", "camera_id", "color_id", "type_id"))
    out = [(d["image_name"], int(d["vehicle_id"]), int(d["camera_id"]), int(d["color_id"]), int(d["type_id"]))
           for d in (data[i] for i in range(len(data)))]
    data.close()
    return out


def shard_images(root: Path, split: str) -> list[bytes]:
    data = ShardReader(root, split, fields=("image",), decode=False)
    out = [bytes(data[i]["image"]) for i in range(len(data))]
    data.close()
    return out


# --- tests of the shared machinery -------------------------------------------------------------------------


def test_gb2312_xml_is_read_with_line_numbers(tmp_path):
    path = tmp_path / "labels.xml"
    write_label_xml(path, "TrainingImages", [{"imageName": "a.jpg", "vehicleID": "0001", "cameraID": "c002"},
                                             {"imageName": "b.jpg", "vehicleID": "0002", "cameraID": "c003",
                                              "note": "白色"}])
    items = list(iter_xml_items(path))
    assert [attrs["imageName"] for _, attrs in items] == ["a.jpg", "b.jpg"]
    assert items[1][1]["note"] == "白色"
    assert [line for line, _ in items] == [5, 6]


def test_malformed_xml_names_file_and_line(tmp_path):
    path = tmp_path / "labels.xml"
    write_label_xml(path, "TrainingImages", [{"imageName": "a.jpg", "vehicleID": "1", "cameraID": "c1"}],
                    extra_lines='<Item imageName="b.jpg" vehicleID="2" cameraID="c1" <broken')
    with pytest.raises(DatasetError) as err:
        list(iter_xml_items(path))
    assert str(path) in str(err.value) and "line 6" in str(err.value) and "malformed XML" in str(err.value)


def test_xml_bytes_outside_the_declared_encoding(tmp_path):
    path = tmp_path / "labels.xml"
    write_label_xml(path, "TrainingImages", [{"imageName": "a.jpg", "vehicleID": "1", "cameraID": "c1"}])
    data = path.read_bytes().replace(b'imageName="a.jpg"', b'imageName="\xff\xfe.jpg"')
    path.write_bytes(data)
    with pytest.raises(DatasetError, match="near line 5: bytes that are not gb18030 text"):
        list(iter_xml_items(path))
    utf8 = tmp_path / "utf8.xml"
    utf8.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<R><Item imageName="车.jpg"/></R>', encoding="utf-8")
    assert [attrs["imageName"] for _, attrs in iter_xml_items(utf8)] == ["车.jpg"]


def test_camera_parsing():
    assert camera_from_name("0002_c013_00030600_0.jpg") == 13
    assert camera_from_name("000123.jpg") == -1
    with pytest.raises(RowError, match="camera id cannot be parsed"):
        camera_from_name("0002_cam_0001.jpg")
    assert parse_camera_attribute("c007") == 7
    with pytest.raises(RowError, match="camera id cannot be parsed"):
        parse_camera_attribute("cXY")


def test_image_size_and_truncation(tmp_path):
    for ext in (".jpg", ".png"):
        data = make_image(tmp_path / f"a{ext}", 3, ext)
        h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
        fmt = "jpeg" if ext == ".jpg" else "png"
        assert image_size(data) == (w, h)
        assert truncation_problem(data, fmt) is None
        assert truncation_problem(data[: len(data) - 40], fmt) is not None
    jpeg = (tmp_path / "a.jpg").read_bytes()
    assert truncation_problem(jpeg + b"trailing bytes after the end marker", "jpeg") is None


def test_resume_rewrites_only_missing_shards(tmp_path):
    from synth.datasets.importers import import_veri

    root, out, fresh = tmp_path / "veri", tmp_path / "out", tmp_path / "fresh"
    make_fake_veri(root)
    first = import_veri(root, out, shard_size=4, progress=False)
    shards = sorted(out.glob("train-*.h5"))
    assert len(shards) == 3 and first.splits["train"].written == 12
    before = {p.name: p.stat().st_mtime_ns for p in shards}
    shards[1].unlink()  # as if killed while writing shard 1: it never appeared, a temporary remains
    (out / (shards[1].name + ".tmp")).write_bytes(b"partial")
    again = import_veri(root, out, shard_size=4, progress=False)
    assert again.splits["train"].written == 4 and again.splits["train"].resumed == 8
    assert again.splits["gallery"].written == 0 and again.splits["gallery"].resumed == 10
    assert {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("train-*.h5"))}[shards[0].name] == before[shards[0].name]
    assert not list(out.glob("*.tmp"))
    import_veri(root, fresh, shard_size=4, progress=False)
    for split in ("train", "query", "gallery"):
        assert shard_labels(out, split) == shard_labels(fresh, split)
        assert shard_images(out, split) == shard_images(fresh, split)
    assert read_manifest(out)["splits"]["train"]["num_samples"] == 12


def test_resume_refuses_a_different_plan(tmp_path):
    from synth.datasets.importers import import_veri

    root, out = tmp_path / "veri", tmp_path / "out"
    make_fake_veri(root)
    import_veri(root, out, shard_size=4, progress=False)
    with pytest.raises(DatasetError, match="different labels or options"):
        import_veri(root, out, shard_size=5, progress=False)
    names = (root / "name_train.txt").read_text().splitlines()
    (root / "name_train.txt").write_text("\n".join(names[:8]) + "\n")  # a shorter list: shard 2 is stale
    with pytest.raises(DatasetError, match="beyond this import"):
        import_veri(root, out, shard_size=4, progress=False)


def test_shard_records_its_plan(tmp_path):
    from synth.datasets.importers import import_veri

    root, out = tmp_path / "veri", tmp_path / "out"
    make_fake_veri(root)
    import_veri(root, out, shard_size=100, progress=False)
    with h5py.File(out / "train-00000.h5", "r") as f:
        assert len(f.attrs["import_plan"]) == 64 and f.attrs["source"] == "veri"
