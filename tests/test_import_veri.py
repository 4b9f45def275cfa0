"""VeRi-776 import: labels and bytes as listed, round trip through the PAMTRI CSVs, bad input."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from synth.datasets import DatasetError, ShardReader, read_manifest
from synth.datasets.export import export_pamtri
from synth.datasets.importers import import_pamtri_csv, import_veri
from tests.test_import_common import make_fake_veri, make_image, shard_images, shard_labels, write_label_xml

FOLDERS = {"train": "image_train", "query": "image_query", "gallery": "image_test"}


@pytest.fixture
def veri(tmp_path):
    root = tmp_path / "VeRi"
    return root, make_fake_veri(root)


def test_import_keeps_labels_order_and_bytes(veri, tmp_path):
    root, expected = veri
    out = tmp_path / "out"
    report = import_veri(root, out, shard_size=5, progress=False)
    assert report.skipped == 0
    for split, rows in expected.items():
        assert shard_labels(out, split) == rows
        assert shard_images(out, split) == [(root / FOLDERS[split] / r[0]).read_bytes() for r in rows]
    manifest = read_manifest(out)
    assert manifest["source"] == "veri"
    assert {s: e["num_samples"] for s, e in manifest["splits"].items()} == {s: len(r) for s, r in expected.items()}
    # queries stay in the gallery, as VeRi lists them
    assert {r[0] for r in expected["query"]} <= {r[0] for r in shard_labels(out, "gallery")}
    data = ShardReader(out, "train")
    item = data[0]
    assert item["image"].shape[2] == 3 and tuple(item["image_hw"]) == item["image"].shape[:2]
    assert np.isnan(item["keypoints"][:, :2]).all() and (item["keypoints"][:, 2] == 0).all()
    data.close()


def test_round_trip_through_pamtri_csv(veri, tmp_path):
    root, expected = veri
    first, exported, again = tmp_path / "first", tmp_path / "pamtri", tmp_path / "again"
    import_veri(root, first, shard_size=4, progress=False)
    export_pamtri(first, exported, progress=False)
    reid = exported / "reid"
    for split, target in (("train", "train"), ("query", "query"), ("gallery", "test")):
        assert (reid / f"name_{target}.txt").read_text().split() == [r[0] for r in expected[split]]
        assert (reid / f"heatmap_{target}").is_dir() and (reid / f"segment_{target}").is_dir()
        import_pamtri_csv(reid / f"label_{target}.csv", reid / f"image_{target}", again, shard_size=3, progress=False)
    assert not (exported / "pose").exists()  # no keypoint labels: no pose CSV
    for split in ("train", "query", "gallery"):
        assert shard_labels(again, split) == shard_labels(first, split)
        assert shard_images(again, split) == shard_images(first, split)
    assert not list(again.glob("*.pose.h5"))  # only unknown-keypoint markers: no pose sidecar


def test_query_missing_from_test_xml_takes_labels_from_its_name(veri, tmp_path):
    root, expected = veri
    name = "0011_c004_00000001_0.jpg"
    make_image(root / "image_query" / name, 77)
    with open(root / "name_query.txt", "a") as f:
        f.write(name + "\n")
    report = import_veri(root, tmp_path / "out", progress=False)
    assert shard_labels(tmp_path / "out", "query")[-1] == (name, 11, 4, 0, 0)
    assert any("not in test_label.xml" in note for note in report.notes)


def test_missing_folder(veri, tmp_path):
    root, _ = veri
    shutil.rmtree(root / "image_query")
    with pytest.raises(DatasetError, match="missing folder") as err:
        import_veri(root, tmp_path / "out", progress=False)
    assert "image_query" in str(err.value)


def test_malformed_xml(veri, tmp_path):
    root, _ = veri
    text = (root / "test_label.xml").read_bytes().replace(b'typeID="2" />', b'typeID="2" >', 1)
    (root / "test_label.xml").write_bytes(text)
    with pytest.raises(DatasetError, match="malformed XML") as err:
        import_veri(root, tmp_path / "out", progress=False)
    assert "test_label.xml" in str(err.value) and "line" in str(err.value)


def _rewrite_xml_item(root, old: str, new: str):
    path = root / "train_label.xml"
    data = path.read_bytes().decode("gb2312")
    assert old in data
    path.write_bytes(data.replace(old, new, 1).encode("gb2312"))


def test_bad_xml_values_are_errors_or_skipped(veri, tmp_path):
    root, expected = veri
    _rewrite_xml_item(root, 'cameraID="c002"', 'cameraID="cam-two"')
    with pytest.raises(DatasetError, match=r"line \d+: camera id cannot be parsed") as err:
        import_veri(root, tmp_path / "out", progress=False)
    assert "train_label.xml" in str(err.value)
    report = import_veri(root, tmp_path / "out", skip_bad=True, progress=False)
    # the item is dropped from the XML, so its listed image has no label either
    assert report.skipped_label_items == 1 and report.splits["train"].skipped_rows == 1
    assert len(shard_labels(tmp_path / "out", "train")) == len(expected["train"]) - 1


def test_non_numeric_and_out_of_vocabulary_ids(veri, tmp_path):
    root, _ = veri
    _rewrite_xml_item(root, 'colorID="7"', 'colorID="white"')
    with pytest.raises(DatasetError, match="colour id is not an integer"):
        import_veri(root, tmp_path / "out", progress=False)
    _rewrite_xml_item(root, 'colorID="white"', 'colorID="42"')
    with pytest.raises(DatasetError, match="outside the VeRi vocabulary"):
        import_veri(root, tmp_path / "out", progress=False)


def test_missing_image(veri, tmp_path):
    root, expected = veri
    gone = expected["gallery"][3][0]
    (root / "image_test" / gone).unlink()
    with pytest.raises(DatasetError) as err:
        import_veri(root, tmp_path / "out", progress=False)
    message = str(err.value)
    assert "name_test.txt" in message and "line 4" in message and gone in message and "does not exist" in message
    assert not (tmp_path / "out" / "train-00000.h5").exists()  # label problems stop the import before writing
    report = import_veri(root, tmp_path / "out", skip_bad=True, progress=False)
    assert report.splits["gallery"].skipped_rows == 1 and report.skipped == 1
    assert gone not in [r[0] for r in shard_labels(tmp_path / "out", "gallery")]


def test_corrupt_image(veri, tmp_path):
    root, expected = veri
    bad = root / "image_train" / expected["train"][5][0]
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    with pytest.raises(DatasetError) as err:
        import_veri(root, tmp_path / "out", shard_size=4, progress=False)
    assert str(bad) in str(err.value) and "name_train.txt:6" in str(err.value)
    assert not list((tmp_path / "out").glob("*.tmp"))
    truncated = root / "image_train" / expected["train"][7][0]
    truncated.write_bytes(truncated.read_bytes()[:-60])
    report = import_veri(root, tmp_path / "out", shard_size=4, skip_bad=True, progress=False)
    assert report.splits["train"].skipped_images == 2
    names = [r[0] for r in shard_labels(tmp_path / "out", "train")]
    assert len(names) == len(expected["train"]) - 2 and bad.name not in names and truncated.name not in names
    assert any(str(truncated) in example for example in report.examples)
    again = import_veri(root, tmp_path / "out", shard_size=4, skip_bad=True, progress=False)
    assert again.splits["train"].written == 0 and again.splits["train"].skipped_images_earlier == 2


def test_duplicate_names(veri, tmp_path):
    root, expected = veri
    with open(root / "name_train.txt", "a") as f:
        f.write(expected["train"][2][0] + "\n")
    with pytest.raises(DatasetError, match="duplicate image name") as err:
        import_veri(root, tmp_path / "out", progress=False)
    assert f"line {len(expected['train']) + 1}" in str(err.value) and "name_train.txt:3" in str(err.value)
    report = import_veri(root, tmp_path / "out", skip_bad=True, progress=False)
    assert report.splits["train"].skipped_rows == 1
    assert len(shard_labels(tmp_path / "out", "train")) == len(expected["train"])


def test_duplicate_xml_item(veri, tmp_path):
    root, expected = veri
    name, v, c, co, t = expected["train"][0]
    write_label_xml(root / "train_label.xml", "TrainingImages",
                    [{"imageName": r[0], "vehicleID": r[1], "cameraID": f"c{r[2]:03d}", "colorID": r[3], "typeID": r[4]}
                     for r in expected["train"] + [expected["train"][0]]])
    with pytest.raises(DatasetError, match="duplicate image name") as err:
        import_veri(root, tmp_path / "out", progress=False)
    assert "train_label.xml" in str(err.value) and "first at line 5" in str(err.value)
