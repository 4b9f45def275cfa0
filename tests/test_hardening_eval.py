"""Evaluation inputs that used to be scored silently or crash (issue 21, item 9): features covering part of a
dataset, an image the dataset does not hold, an integer distance matrix, and a keypoint never visible in the
published-compatibility PCK. Real files: a toy dataset and a saved feature file."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from eval.features import FeatureSet
from eval.pose_metrics import pck
from eval.reid_metrics import evaluate_distance_matrix
from synth.datasets import ShardReader
from tests.helpers.toy import make_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("eval") / "toy", num_models=2, colors_per_model=2,
                            images_per_identity=4, size=32, splits={"query_gallery": 1.0})


def _features(root, keep_gallery=None, rename=None) -> FeatureSet:
    data = ShardReader(root, fields=("image_name",))
    split = np.array(data.shard_split)[data._shard_of]
    names = np.array([data[i]["image_name"] for i in range(len(data))], dtype=object)
    keep = np.ones(len(data), bool)
    if keep_gallery is not None:
        gallery = np.flatnonzero(split == "gallery")
        keep[gallery[keep_gallery:]] = False
    if rename is not None:
        names[np.flatnonzero(split == "gallery")[0]] = rename
    rng = np.random.default_rng(0)
    return FeatureSet(features=rng.normal(size=(keep.sum(), 8)).astype(np.float32),
                      vehicle_id=data.labels["vehicle_id"][keep], camera_id=data.labels["camera_id"][keep],
                      split=split[keep], image_name=names[keep], dataset_dir=str(root))


def _evaluate(path, out, *extra):
    from cli import main

    return CliRunner().invoke(main, ["evaluate", "--features", str(path), "--out", str(out), "--ranked-queries", "0",
                                     *extra])


def test_features_covering_part_of_the_gallery_are_refused_unless_asked(toy, tmp_path):
    _features(toy, keep_gallery=3).save(tmp_path / "part.npz")
    result = _evaluate(tmp_path / "part.npz", tmp_path / "a")
    assert result.exit_code == 2
    assert "part.npz" in result.output and "3 of 8 gallery images" in result.output and "--allow-partial" in result.output
    assert not (tmp_path / "a").exists()
    result = _evaluate(tmp_path / "part.npz", tmp_path / "b", "--allow-partial")
    assert result.exit_code == 0, result.output
    assert "3 of 8 gallery images scored, 5 left out" in result.output
    import json

    coverage = json.loads((tmp_path / "b" / "metrics.json").read_text())["coverage"]
    assert coverage["gallery"]["left_out"] == 5 and coverage["query"]["left_out"] == 0


def test_an_unknown_image_name_is_named_with_the_feature_file_before_anything_is_written(toy, tmp_path):
    _features(toy, rename="not_in_the_dataset.jpg").save(tmp_path / "odd.npz")
    result = _evaluate(tmp_path / "odd.npz", tmp_path / "c")
    assert result.exit_code == 2
    assert "odd.npz" in result.output and "not_in_the_dataset.jpg" in result.output
    assert not (tmp_path / "c").exists()


def test_an_integer_distance_matrix_is_scored_like_its_float_copy():
    rng = np.random.default_rng(1)
    dist = rng.integers(0, 100, (5, 12))
    q_ids, g_ids = np.arange(5) % 3, np.arange(12) % 3
    q_cams, g_cams = np.zeros(5, int), np.ones(12, int)
    as_int = evaluate_distance_matrix(dist, q_ids, g_ids, q_cams, g_cams, max_rank=5)
    as_float = evaluate_distance_matrix(dist.astype(float), q_ids, g_ids, q_cams, g_cams, max_rank=5)
    assert as_int.mAP == as_float.mAP and np.array_equal(as_int.cmc, as_float.cmc)


def test_published_pck_with_a_keypoint_never_visible_is_a_number():
    rng = np.random.default_rng(2)
    gt = np.concatenate([rng.uniform(0, 100, (6, 36, 2)), np.full((6, 36, 1), 2.0)], axis=2)
    gt[:, 0, 2] = 0  # keypoint 0 (a wheel) never visible
    pred = gt[:, :, :2] + rng.normal(0, 1, (6, 36, 2))
    result = pck(pred, gt, mode="published")
    assert np.isfinite(result.mean) and all(np.isfinite(v) for v in result.per_part.values())
    assert np.isnan(result.per_keypoint[0]) and result.counts[0] == 0
