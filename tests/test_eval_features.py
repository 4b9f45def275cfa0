"""FeatureSet file format and attribute accuracy."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.attributes import attribute_accuracy
from eval.features import FeatureSet
from eval.reports import plot_confusion, reid_table
from synth.vocabulary import COLOR_NAMES, TYPE_NAMES


def small_set(n=12, dim=5, seed=0, **extra) -> FeatureSet:
    rng = np.random.default_rng(seed)
    return FeatureSet(
        features=rng.normal(size=(n, dim)).astype(np.float32),
        vehicle_id=rng.integers(0, 4, n), camera_id=rng.integers(0, 3, n),
        split=np.where(np.arange(n) < n // 3, "query", "gallery"), image_name=[f"img_{i:03d}.jpg" for i in range(n)],
        **extra,
    )


def test_save_load_round_trip(tmp_path):
    fs = small_set(color_pred=np.arange(12) % 11, color_id=np.arange(12) % 11, dataset_dir=str(tmp_path),
                   meta={"run": "r1", "epochs": 3})
    path = fs.save(tmp_path / "f.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["f.npz"], "no temporary file may remain"
    back = FeatureSet.load(path)
    np.testing.assert_array_equal(back.features, fs.features)
    np.testing.assert_array_equal(back.vehicle_id, fs.vehicle_id)
    assert back.vehicle_id.dtype == np.int64 and back.camera_id.dtype == np.int32 and back.color_pred.dtype == np.int16
    assert back.split.tolist() == fs.split.tolist() and back.image_name.tolist() == fs.image_name.tolist()
    assert back.type_pred is None and back.dataset_dir == str(tmp_path) and back.meta == {"run": "r1", "epochs": 3}
    assert len(back.query) == 4 and len(back.gallery) == 8


def test_file_written_by_another_system_loads(tmp_path):
    # The documented format is plain np.savez with the required keys: no format marker needed.
    np.savez(tmp_path / "other.npz", features=np.ones((3, 2)), vehicle_id=[1, 2, 1], camera_id=[0, 0, 1],
             split=["query", "gallery", "gallery"], image_name=["a", "b", "c"])
    fs = FeatureSet.load(tmp_path / "other.npz")
    assert fs.features.dtype == np.float32 and fs.meta == {}


def test_relative_dataset_dir_is_resolved_beside_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    small_set(dataset_dir="data").save(tmp_path / "f.npz")
    assert FeatureSet.load(tmp_path / "f.npz").dataset_dir == str(tmp_path / "data")


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(vehicle_id=[1, 2]), "vehicle_id has shape (2,) but there are 3 feature rows"),
        (dict(features=np.array([[1.0, np.nan], [0, 0], [1, 1]])), "NaN"),
        (dict(split=["query", "probe", "gallery"]), "split values"),
        (dict(features=np.zeros((0, 2)), vehicle_id=[], camera_id=[], split=[], image_name=[]), "non-empty"),
        (dict(vehicle_id=[1.5, 2, 3]), "vehicle_id must be integers"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, arrays, message):
    base = dict(features=np.ones((3, 2)), vehicle_id=[1, 2, 1], camera_id=[0, 0, 1],
                split=["query", "gallery", "gallery"], image_name=["a", "b", "c"])
    base.update(arrays)
    np.savez(tmp_path / "bad.npz", **base)
    with pytest.raises(ValueError, match="bad.npz") as err:
        FeatureSet.load(tmp_path / "bad.npz")
    assert message in str(err.value)


def test_missing_keys_and_non_npz(tmp_path):
    np.savez(tmp_path / "m.npz", features=np.ones((3, 2)))
    with pytest.raises(ValueError, match="missing arrays"):
        FeatureSet.load(tmp_path / "m.npz")
    (tmp_path / "t.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        FeatureSet.load(tmp_path / "t.npz")
    with pytest.raises(FileNotFoundError):
        FeatureSet.load(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match=".npz name"):
        small_set().save(tmp_path / "f.h5")


def reference_accuracy(pred, truth):
    scored = [(p, t) for p, t in zip(pred, truth) if t != 0]
    overall = sum(p == t for p, t in scored) / len(scored)
    per_class = {}
    for c in sorted({t for _, t in scored}):
        items = [p for p, t in scored if t == c]
        per_class[c] = (sum(p == c for p in items) / len(items), len(items))
    return overall, per_class


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("attribute, names", [("color", COLOR_NAMES), ("type", TYPE_NAMES)])
def test_attribute_accuracy_matches_reference(seed, attribute, names):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(names), 200)
    pred = np.where(rng.random(200) < 0.7, truth, rng.integers(0, len(names), 200))
    result = attribute_accuracy(pred, truth, attribute)
    overall, per_class = reference_accuracy(pred.tolist(), truth.tolist())
    assert result.accuracy == pytest.approx(overall)
    assert result.num_unknown == int((truth == 0).sum()) and result.num_scored == int((truth > 0).sum())
    assert list(result.per_class) == [names[c] for c in per_class]
    for c, (accuracy, count) in per_class.items():
        assert result.per_class[names[c]]["accuracy"] == pytest.approx(accuracy)
        assert result.per_class[names[c]]["count"] == count
    for t, p in zip(truth[:20], pred[:20]):
        assert result.confusion[t, p] == np.sum((truth == t) & (pred == p))


def test_attribute_bad_input(tmp_path):
    with pytest.raises(ValueError, match="equal-length"):
        attribute_accuracy([1, 2], [1], "color")
    with pytest.raises(ValueError, match="0..10"):
        attribute_accuracy([1, 11], [1, 2], "color")
    assert np.isnan(attribute_accuracy([1, 2], [0, 0], "type").accuracy)


def test_confusion_picture_and_tables(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 11, 300)
    result = attribute_accuracy(np.where(rng.random(300) < 0.8, truth, 4), truth, "color")
    path = plot_confusion(result.confusion, result.names, tmp_path / "c.png", title="colour")
    assert path.stat().st_size > 5000
    summary = result.summary()
    json.dumps(summary)  # JSON-ready
    reid = {"mAP": 0.5, "rank1": 0.75, "rank5": 0.9, "rank20": 0.95, "mAP@100": 0.45, "mINP": 0.2, "rank_k": 100}
    table = reid_table({"a": {"reid": reid, "color": summary, "type": None}})
    assert table.splitlines()[0] == "| Method | mAP | R1 | R5 | R20 | mAP@100 | mINP | Colour acc. |"
    assert table.splitlines()[2] == f"| a | 50.00 | 75.00 | 90.00 | 95.00 | 45.00 | 20.00 | {100 * result.accuracy:.2f} |"


def test_metric_modules_import_without_torch():
    # The metrics score features from any system: importing them must not pull in torch (or a plotting stack).
    code = ("import sys; import eval.reid_metrics, eval.reranking, eval.attributes, eval.pose_metrics, "
            "eval.features, eval.evaluate; print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "[]"
