"""PAMTRI pose and ReID CSVs: keypoint mapping, exact round trips, export of a rendered-style dataset, the real
VeRi keypoint labels, bad rows."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from synth import vocabulary as vocab
from synth.datasets import DatasetError, Sample, ShardReader, read_manifest, write_samples
from synth.datasets.export import export_pamtri
from synth.datasets.importers import import_pamtri_csv, read_pose_csv
from synth.datasets.importers.pamtri_csv import REID_CSV_FIELDS, format_float
from tests.test_import_common import make_image, shard_images, shard_labels

REAL_KEYPOINTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "veri_keypoints" / "label_train.csv"
NAMES = ["0001_c001_00016450_0.jpg", "0001_c002_00016460_0.jpg", "0004_c013_00000100_1.jpg", "render_000007.jpg"]


def _size(path: Path) -> tuple[int, int]:
    h, w = cv2.imread(str(path)).shape[:2]
    return w, h


def make_pose_csv(folder: Path, csv_path: Path) -> list[list[str]]:
    """Rows covering every mapping case: visible, hidden inside, outside, visible on the border, unknown."""
    rng = np.random.default_rng(0)
    rows = []
    for i, name in enumerate(NAMES):
        make_image(folder / name, i)
        w, h = _size(folder / name)
        xyv = np.stack([rng.integers(0, w, 36), rng.integers(0, h, 36), rng.integers(0, 2, 36)], axis=1)
        xyv[0] = (w + 3, 5, 0)  # outside the frame, not visible
        xyv[1] = (w, h // 2, 1)  # visible, exactly on the border (as in the real labels)
        xyv[2] = (-1, -1, 0)  # unknown
        xyv[3] = (2, 3, 0)  # hidden inside the frame
        rows.append([name, str(w), str(h), *(str(int(v)) for v in xyv.reshape(-1))])
    _write_csv(csv_path, rows)
    return rows


def make_reid_csv(folder: Path, csv_path: Path, unknown_only: bool = False) -> list[list[str]]:
    rng = np.random.default_rng(1)
    rows = []
    for i, name in enumerate(NAMES[:3]):
        make_image(folder / name, 10 + i)
        values = np.round(rng.uniform(0, 120, (36, 3)), 3)
        values[:, 2] = np.round(rng.uniform(0, 1.1, 36), 3)
        values[5] = (-1, -1, 0)
        if unknown_only:
            values[:] = (-1, -1, 0)
        rows.append([name, str(int(name[:4])), str(1 + i), str(2 + i), *(repr(float(v)) for v in values.reshape(-1))])
    _write_csv(csv_path, rows)
    return rows


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(row) + "\n" for row in rows))


def _keypoints(root: Path, split: str) -> np.ndarray:
    data = ShardReader(root, split, fields=("keypoints",))
    out = np.stack([data[i]["keypoints"] for i in range(len(data))])
    data.close()
    return out


def _sidecar_keypoints(root: Path, split: str) -> np.ndarray:
    data = ShardReader(root, split, fields=("image_name",))
    out = []
    for shard in data.shards:
        with h5py.File(shard.with_name(shard.name[:-3] + ".pose.h5"), "r") as f:
            out.append(f["keypoints"][:])
    data.close()
    return np.concatenate(out)


def test_pose_csv_mapping(tmp_path):
    rows = make_pose_csv(tmp_path / "images", tmp_path / "label_train.csv")
    out = tmp_path / "out"
    import_pamtri_csv(tmp_path / "label_train.csv", tmp_path / "images", out, progress=False)
    keypoints = _keypoints(out, "train")
    xyv = np.array([[int(v) for v in row[3:]] for row in rows]).reshape(-1, 36, 3)
    assert (keypoints[:, 0, 2] == vocab.VIS_OUTSIDE).all() and (keypoints[:, 0, 0] == xyv[:, 0, 0]).all()
    assert (keypoints[:, 1, 2] == vocab.VIS_VISIBLE).all()
    assert np.isnan(keypoints[:, 2, :2]).all() and (keypoints[:, 2, 2] == vocab.VIS_OUTSIDE).all()
    assert (keypoints[:, 3, 2] == vocab.VIS_OCCLUDED).all()
    rest = xyv[:, 4:]
    assert np.array_equal(keypoints[:, 4:, 2], np.where(rest[..., 2] == 1, 2, 1))  # all inside the frame
    assert np.array_equal(keypoints[:, 4:, :2], rest[..., :2])
    assert np.array_equal(vocab.pamtri_visible(keypoints[..., 2]), xyv[..., 2])
    labels = shard_labels(out, "train")
    assert [l[1:3] for l in labels] == [(1, 1), (1, 2), (4, 13), (-1, -1)]  # identity and camera from the name


def test_pose_csv_round_trip_is_exact(tmp_path):
    make_pose_csv(tmp_path / "images", tmp_path / "label_train.csv")
    first, exported, again = tmp_path / "first", tmp_path / "pamtri", tmp_path / "again"
    import_pamtri_csv(tmp_path / "label_train.csv", tmp_path / "images", first, shard_size=3, progress=False)
    export_pamtri(first, exported, progress=False)
    pose = exported / "pose"
    assert (pose / "annot" / "label_train.csv").read_text() == (tmp_path / "label_train.csv").read_text()
    for name in NAMES:
        assert (pose / "images" / "image_train" / name).read_bytes() == (tmp_path / "images" / name).read_bytes()
    import_pamtri_csv(pose / "annot" / "label_train.csv", pose / "images" / "image_train", again, progress=False)
    assert np.array_equal(_keypoints(again, "train"), _keypoints(first, "train"), equal_nan=True)
    assert shard_labels(again, "train") == shard_labels(first, "train")


def test_reid_csv_round_trip_is_exact(tmp_path):
    images = tmp_path / "image_test"
    rows = make_reid_csv(images, tmp_path / "label_test.csv")
    first, exported, again = tmp_path / "first", tmp_path / "pamtri", tmp_path / "again"
    report = import_pamtri_csv(tmp_path / "label_test.csv", images, first, progress=False)
    assert list(report.splits) == ["gallery"] and report.splits["gallery"].pose_sidecars
    assert shard_labels(first, "gallery") == [(r[0], int(r[1]), int(r[0][6:9]), int(r[2]), int(r[3])) for r in rows]
    pose = _sidecar_keypoints(first, "gallery")
    values = np.array([[float(v) for v in r[4:]] for r in rows], np.float32).reshape(-1, 36, 3)
    assert np.isnan(pose[:, 5, :2]).all() and (pose[:, 5, 2] == 0).all()  # the unknown marker
    keep = np.ones(36, bool)
    keep[5] = False
    assert np.array_equal(pose[:, keep], values[:, keep])
    assert np.isnan(_keypoints(first, "gallery")[..., :2]).all()  # a prediction is not a ground-truth label
    export_pamtri(first, exported, progress=False)
    exported_rows = list(csv.reader(open(exported / "reid" / "label_test.csv")))
    assert [r[:4] for r in exported_rows] == [r[:4] for r in rows]
    assert np.array_equal(np.array([r[4:] for r in exported_rows], float), np.array([r[4:] for r in rows], float))
    import_pamtri_csv(exported / "reid" / "label_test.csv", exported / "reid" / "image_test", again, progress=False)
    assert np.array_equal(_sidecar_keypoints(again, "gallery"), pose, equal_nan=True)
    assert shard_labels(again, "gallery") == shard_labels(first, "gallery")
    assert shard_images(again, "gallery") == shard_images(first, "gallery")


def test_unknown_only_reid_keypoints_make_no_sidecar(tmp_path):
    make_reid_csv(tmp_path / "img", tmp_path / "label_query.csv", unknown_only=True)
    report = import_pamtri_csv(tmp_path / "label_query.csv", tmp_path / "img", tmp_path / "out", progress=False)
    assert not report.splits["query"].pose_sidecars and not list((tmp_path / "out").glob("*.pose.h5"))


def test_float_text_is_shortest_exact():
    for value in (121.667, 0.728, 1.034, 3.0, 1e-3, 4095.999):
        text = format_float(value)
        assert np.float32(float(text)) == np.float32(value) and len(text) <= len(repr(value))


def _rendered_dataset(root: Path) -> list[np.ndarray]:
    """A dataset as the renderer writes it: PNG pixels, sub-pixel keypoints in all visibility states, and
    annotator codes that mark every in-frame keypoint visible."""
    rng = np.random.default_rng(5)
    samples, all_keypoints = [], []
    for i in range(3):
        image = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
        keypoints = np.zeros((36, 3), np.float32)
        keypoints[:, 0] = rng.uniform(0, 39, 36)
        keypoints[:, 1] = rng.uniform(0, 29, 36)
        keypoints[:, 2] = rng.integers(1, 3, 36)
        keypoints[0] = (45.3, 12.2, vocab.VIS_OUTSIDE)
        keypoints[1] = (np.nan, np.nan, vocab.VIS_OUTSIDE)
        annotator = np.where(keypoints[:, 2] > vocab.VIS_OUTSIDE, vocab.VIS_VISIBLE, vocab.VIS_OUTSIDE)
        samples.append(Sample(image=image, image_name=f"scene_{i:06d}.png", vehicle_id=7 + i % 2, color_id=3,
                              type_id=5, keypoints=keypoints, extra={"annotator_visibility": annotator}))
        all_keypoints.append(keypoints)
    write_samples(root, "train", "synthetic", samples, image_format="png")
    return all_keypoints


def test_export_of_a_rendered_dataset(tmp_path):
    data, exported, again = tmp_path / "data", tmp_path / "pamtri", tmp_path / "again"
    truth = np.stack(_rendered_dataset(data))
    report = export_pamtri(data, exported, progress=False)
    assert report.splits["train"]["renamed"] == 3  # 'scene' has a 'c' the published loader would misread
    names = [row[1] for row in csv.reader(open(exported / "names.csv"))][1:]
    assert all(n.endswith(".png") and "c" not in n for n in names)
    reid_rows = list(csv.reader(open(exported / "reid" / "label_train.csv")))
    assert all(len(r) == REID_CSV_FIELDS for r in reid_rows)
    conf = np.array([r[4:] for r in reid_rows], float).reshape(-1, 36, 3)[..., 2]
    assert np.array_equal(conf, (truth[..., 2] == 2).astype(float))
    import_pamtri_csv(exported / "pose" / "annot" / "label_train.csv", exported / "pose" / "images" / "image_train",
                      again, progress=False)
    back = _keypoints(again, "train")
    known = np.isfinite(truth[..., 0])
    assert np.array_equal(back[known][:, :2], np.floor(truth[known][:, :2] + 0.5))  # rounded to whole pixels
    assert np.array_equal(back[..., 2], truth[..., 2]) and np.isnan(back[:, 1, :2]).all()
    assert shard_images(again, "train") == shard_images(data, "train")


def test_export_can_carry_the_annotator_codes(tmp_path):
    data, exported = tmp_path / "data", tmp_path / "pamtri"
    truth = np.stack(_rendered_dataset(data))
    export_pamtri(data, exported, progress=False, visibility="annotator")
    rows = list(read_pose_csv(exported / "pose" / "annot" / "label_train.csv"))
    flags = np.stack([keypoints for *_, keypoints in rows])[..., 2]
    assert np.array_equal(flags == vocab.VIS_VISIBLE, truth[..., 2] > vocab.VIS_OUTSIDE)
    assert (truth[..., 2] == vocab.VIS_OCCLUDED).any()  # so the geometric export would differ
    with pytest.raises(ValueError, match="visibility"):
        export_pamtri(data, tmp_path / "x", progress=False, visibility="seen")


def test_export_writes_pose_maps_from_the_sidecar(tmp_path):
    data, exported = tmp_path / "data", tmp_path / "pamtri"
    _rendered_dataset(data)
    rng = np.random.default_rng(0)
    heatmaps = rng.integers(0, 256, (3, 36, 8, 8), dtype=np.uint8)
    segments = rng.integers(0, 2, (3, 13, 8, 8), dtype=np.uint8)
    pose = rng.uniform(0, 30, (3, 36, 3)).astype(np.float32)
    with h5py.File(data / "train-00000.pose.h5", "w") as f:
        f["keypoints"], f["heatmaps"], f["segments"] = pose, heatmaps, segments
    export_pamtri(data, exported, pose_maps=True, progress=False)
    reid = exported / "reid"
    name = (reid / "name_train.txt").read_text().split()[1]
    folder = reid / "heatmap_train" / name[:-4]
    assert sorted(p.name for p in folder.iterdir()) == [f"{k:02d}.jpg" for k in range(36)]
    assert len(list((reid / "segment_train" / name[:-4]).iterdir())) == 13
    stored = cv2.imread(str(reid / "segment_train" / name[:-4] / "04.jpg"), cv2.IMREAD_GRAYSCALE)
    assert np.abs(stored.astype(int) - segments[1, 4] * 255).max() < 40  # JPEG, as the published code reads
    values = np.array(next(iter(csv.reader(open(reid / "label_train.csv"))))[4:], np.float32).reshape(36, 3)
    assert np.array_equal(values, pose[0])  # ReID keypoints come from the sidecar when there is one


def test_export_refuses_clashes_and_non_empty_output(tmp_path):
    data = tmp_path / "data"
    _rendered_dataset(data)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        export_pamtri(data, tmp_path / "busy", progress=False)
    with pytest.raises(DatasetError, match="no split 'gallery'"):
        export_pamtri(data, tmp_path / "o", splits=["gallery"], progress=False)
    with pytest.raises(DatasetError, match="pose sidecar missing"):
        export_pamtri(data, tmp_path / "o2", keypoints="pose", progress=False)


# --- bad rows ----------------------------------------------------------------------------------------------


def _corrupt_row(csv_path: Path, index: int, edit) -> None:
    rows = [line.split(",") for line in csv_path.read_text().splitlines()]
    rows[index] = edit(rows[index])
    csv_path.write_text("".join(",".join(r) + "\n" for r in rows))


@pytest.mark.parametrize("edit, message", [
    (lambda r: r[:-1], "110 fields, a pose CSV row has 111"),
    (lambda r: r[:10] + ["12.5"] + r[11:], "field 11 (keypoint 2 y) is not an integer: '12.5'"),
    (lambda r: r[:5] + ["2"] + r[6:], "keypoint 0 visibility is 2"),
    (lambda r: [r[0], str(int(r[1]) + 1)] + r[2:], "declares"),
    (lambda r: ["missing.jpg"] + r[1:], "does not exist"),
    (lambda r: [NAMES[0]] + r[1:], "duplicate image name"),
])
def test_bad_pose_rows(tmp_path, edit, message):
    csv_path = tmp_path / "label_train.csv"
    make_pose_csv(tmp_path / "images", csv_path)
    _corrupt_row(csv_path, 2, edit)
    with pytest.raises(DatasetError) as err:
        import_pamtri_csv(csv_path, tmp_path / "images", tmp_path / "out", progress=False)
    text = str(err.value)
    assert message in text and "label_train.csv" in text and ("line 3" in text or ":3" in text)
    report = import_pamtri_csv(csv_path, tmp_path / "images", tmp_path / "out", skip_bad=True, progress=False)
    assert report.skipped == 1 and read_manifest(tmp_path / "out")["splits"]["train"]["num_samples"] == 3


@pytest.mark.parametrize("edit, message", [
    (lambda r: r[:50] + ["x1"] + r[51:], "field 51 (keypoint 15 y) is not a number"),
    (lambda r: ["0004_cAM_001.jpg"] + r[1:], "camera id cannot be parsed from image name"),
    (lambda r: r[:2] + ["11"] + r[3:], "colour id 11 is outside"),
    (lambda r: r + ["1.0"], "113 fields"),
])
def test_bad_reid_rows(tmp_path, edit, message):
    csv_path = tmp_path / "label_train.csv"
    make_reid_csv(tmp_path / "images", csv_path)
    _corrupt_row(csv_path, 1, edit)
    with pytest.raises(DatasetError, match="line 2") as err:
        import_pamtri_csv(csv_path, tmp_path / "images", tmp_path / "out", progress=False)
    assert message in str(err.value)
    report = import_pamtri_csv(csv_path, tmp_path / "images", tmp_path / "out", skip_bad=True, progress=False)
    assert report.skipped == 1 and len(shard_labels(tmp_path / "out", "train")) == 2


def test_unrecognised_csv(tmp_path):
    (tmp_path / "label_train.csv").write_text("a,b,c\n")
    (tmp_path / "img").mkdir()
    with pytest.raises(DatasetError, match="3 fields; a PAMTRI pose CSV has 111"):
        import_pamtri_csv(tmp_path / "label_train.csv", tmp_path / "img", tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="missing folder"):
        import_pamtri_csv(tmp_path / "label_train.csv", tmp_path / "nope", tmp_path / "out", progress=False)


# --- the real VeRi keypoint labels -------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_KEYPOINTS.exists(), reason="real VeRi keypoint labels not present")
def test_real_veri_keypoint_file_parses():
    count, visible = 0, 0
    for line, name, width, height, keypoints in read_pose_csv(REAL_KEYPOINTS):
        assert keypoints.shape == (36, 3) and width > 0 and height > 0
        visible += int((keypoints[:, 2] == vocab.VIS_VISIBLE).sum())
        count += 1
    assert count == line > 1000  # one row per line, no blank or skipped lines
    assert 0.3 < visible / (36 * count) < 0.9
