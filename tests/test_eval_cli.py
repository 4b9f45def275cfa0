"""`cli.py evaluate-reid` (former name `evaluate`) end to end on a small dataset written through the HDF5 contract."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from eval.evaluate import EvalOptions, evaluate_feature_set, score_feature_set
from eval.features import FeatureSet
from eval.reid_metrics import evaluate_reid
from synth.datasets import ShardReader, Sample, write_samples

NUM_IDS = 6


def _image(vid: int, rng) -> np.ndarray:
    """A small picture whose colour says its identity, so the ranked-gallery picture can be checked by eye."""
    hue = np.array([(vid * 53) % 256, (vid * 97 + 80) % 256, (vid * 151 + 160) % 256], np.uint8)
    image = np.empty((40, 56, 3), np.uint8)
    image[:] = hue
    image[10:30, 14:42] = 255 - hue
    return np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, per_id in (("query", 2), ("gallery", 5)):
        samples = []
        for vid in range(NUM_IDS):
            for k in range(per_id):
                samples.append(Sample(image=_image(vid, rng), image_name=f"{vid:04d}_c{k:03d}_{split}.jpg",
                                      vehicle_id=vid, camera_id=k if split == "gallery" else k + 10,
                                      color_id=1 + vid % 10, type_id=1 + vid % 9))
        write_samples(root, split, "test", samples, shard_size=8)
    return root


def features_for(root, noise=0.6, seed=1, with_attributes=True) -> FeatureSet:
    """A FeatureSet labelled from the dataset itself: clustered features, a few attribute mistakes."""
    data = ShardReader(root, splits=("query", "gallery"), fields=("image_name",), decode=False)
    names = [data[i]["image_name"] for i in range(len(data))]
    splits = [data.shard_split[data._shard_of[i]] for i in range(len(data))]
    vids = data.labels["vehicle_id"]
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(NUM_IDS, 16)) * 2
    feats = centres[vids] + rng.normal(scale=noise * 2, size=(len(vids), 16))
    extra = {}
    if with_attributes:
        color_pred = data.labels["color_id"].copy()
        color_pred[::5] = 7
        extra = dict(color_pred=color_pred, color_id=data.labels["color_id"],
                     type_pred=data.labels["type_id"], type_id=data.labels["type_id"])
    return FeatureSet(features=feats.astype(np.float32), vehicle_id=vids, camera_id=data.labels["camera_id"],
                      split=splits, image_name=names, dataset_dir=str(root), **extra)


def test_evaluate_features_cli_writes_all_outputs(dataset, tmp_path):
    fs = features_for(dataset)
    path = fs.save(tmp_path / "feats.npz")
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", "--features", str(path), "--out", str(out), "--ranked-queries", "4",
                                       "--ranked-top", "6", "--name", "toy"])
    assert result.exit_code == 0, result.output
    assert "| toy |" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    q, g = fs.query, fs.gallery
    expected = evaluate_reid(q.features, g.features, q.vehicle_id, g.vehicle_id, q.camera_id, g.camera_id)
    assert metrics["reid"]["mAP"] == pytest.approx(expected.mAP)
    assert metrics["reid"]["cmc"] == pytest.approx(expected.cmc.tolist())
    truth, pred = fs.color_id, fs.color_pred
    assert metrics["color"]["accuracy"] == pytest.approx(np.mean(truth == pred))
    assert metrics["type"]["accuracy"] == 1.0
    for name in ("cmc.png", "ranked_gallery.png", "color_confusion.png", "type_confusion.png"):
        assert (out / name).stat().st_size > 1000, name
    table = (out / "table.md").read_text()
    assert "| Method | mAP | R1 | R5 | R20 |" in table and f"{100 * expected.mAP:.2f}" in table


def test_ranked_gallery_needs_images_or_says_so(dataset, tmp_path):
    fs = features_for(dataset)
    fs.dataset_dir = None
    metrics = evaluate_feature_set(fs, tmp_path / "e", EvalOptions(ranked_queries=3))
    assert "ranked_gallery" not in metrics["outputs"] and metrics["notes"]
    # --data supplies the images.
    metrics = evaluate_feature_set(fs, tmp_path / "e2", EvalOptions(ranked_queries=3), data_dir=dataset)
    assert (tmp_path / "e2" / "ranked_gallery.png").exists()


def test_compare_runs_in_one_table(dataset, tmp_path):
    runner = CliRunner()
    for noise, name in ((0.3, "sharp"), (1.5, "blurry")):
        path = features_for(dataset, noise=noise).save(tmp_path / f"{name}.npz")
        result = runner.invoke(main, ["evaluate", "--features", str(path), "--ranked-queries", "0"])
        assert result.exit_code == 0, result.output
    out = tmp_path / "cmp"
    result = runner.invoke(main, ["evaluate", "--compare", str(tmp_path / "sharp_eval"), str(tmp_path / "blurry_eval"),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert "| sharp |" in table and "| blurry |" in table
    assert (out / "cmc.png").stat().st_size > 1000
    rows = json.loads((out / "metrics.json").read_text())["compare"]
    assert rows["sharp"]["reid"]["mAP"] > rows["blurry"]["reid"]["mAP"]


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda fs: fs.features.__setitem__((3, 0), np.nan), "NaN"),
        (lambda fs: setattr(fs, "split", np.full(len(fs), "gallery")), "empty query set"),
    ],
)
def test_bad_features_give_clear_cli_error(dataset, tmp_path, spoil, message):
    fs = features_for(dataset)
    spoil(fs)
    arrays = {"features": fs.features, "vehicle_id": fs.vehicle_id, "camera_id": fs.camera_id,
              "split": fs.split, "image_name": fs.image_name}
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # written by "another system", without our checks
    result = CliRunner().invoke(main, ["evaluate", "--features", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output and ("bad.npz" in result.output or message == "empty query set")


def test_model_path_calls_extract_features(dataset, tmp_path, monkeypatch):
    calls = []

    def extract_features(run_dir, data_dirs, splits=("query", "gallery")):
        calls.append((run_dir, data_dirs, splits))
        return features_for(data_dirs[0])

    import train.reid.extract

    monkeypatch.setattr(train.reid.extract, "extract_features", extract_features)
    run = tmp_path / "run"
    run.mkdir()
    result = CliRunner().invoke(main, ["evaluate", "--model", str(run), "--data", str(dataset), "--ranked-queries", "2"])
    assert result.exit_code == 0, result.output
    assert calls == [(run, [dataset], ("query", "gallery"))]
    out = run / "eval" / dataset.name
    assert FeatureSet.load(out / "features.npz").features.shape == (NUM_IDS * 7, 16)
    assert json.loads((out / "metrics.json").read_text())["name"] == "run"


def test_usage_errors():
    runner = CliRunner()
    assert runner.invoke(main, ["evaluate"]).exit_code == 2
    assert runner.invoke(main, ["evaluate", "--compare"]).exit_code == 2


def test_score_feature_set_rejects_missing_gallery(dataset):
    fs = features_for(dataset)
    fs.split = np.full(len(fs), "query")
    with pytest.raises(ValueError, match="empty gallery"):
        score_feature_set(fs)
