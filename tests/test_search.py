"""`search`: blockwise top-K against a full sort; the command end to end on image folders with a tiny K+H run
(pose sidecars made by its pose network), the gallery feature cache re-used and invalidated, bad input."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import main
from eval.distance import pairwise_distances
from eval.search import result_matches, search_top_k
from tests.helpers.toy import make_toy_dataset
from tests.test_import_images import write_crop_folder
from train.reid.config import ReidConfig
from pipelines.reid import train_reid

TINY = dict(backbone="densenet_tiny", pretrained=False, image_size=(64, 64), workers=0, milestones=[100])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_blockwise_top_k_equals_a_full_sort(metric, tmp_path):
    rng = np.random.default_rng(0)
    query, gallery = rng.normal(size=(7, 16)), rng.normal(size=(1000, 16)).astype(np.float32)
    full = pairwise_distances(query, gallery, metric)
    expected = np.argsort(full, axis=1, kind="stable")[:, :5]
    np.save(tmp_path / "g.npy", gallery)
    on_disk = np.load(tmp_path / "g.npy", mmap_mode="r")
    for block_elements in (1, 50, 700, 10**8):  # one gallery row per block ... the whole gallery at once
        distances, indices = search_top_k(query, on_disk, 5, metric, block_elements=block_elements)
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_allclose(distances, np.take_along_axis(full, expected, 1), rtol=1e-5, atol=1e-5)
    distances, indices = search_top_k(query, gallery[:3], 10, metric)  # K larger than the gallery
    assert indices.shape == (7, 3) and (np.diff(distances, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="dimensions differ"):
        search_top_k(query, gallery[:, :8], 5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        search_top_k(query, gallery, 0)
    with pytest.raises(ValueError, match="NaN"):
        search_top_k(np.full((1, 16), np.nan), gallery, 1)


def test_matches_are_unknown_where_an_identity_is():
    matches = result_matches(np.array([1, -1]), np.array([1, 2, -1]), np.array([[0, 1, 2], [0, 1, 2]]))
    assert matches.tolist() == [[True, False, None], [None, None, None]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A K+H ReID run (one step) whose config names a (one-step) pose run: search must make pose sidecars."""
    from train.pose.config import PoseConfig
    from train.pose.train import train_pose

    torch.manual_seed(0)
    base = tmp_path_factory.mktemp("search")
    root = make_toy_dataset(base / "toy", num_models=2, colors_per_model=2, images_per_identity=4, size=64, seed=0)
    train_pose(PoseConfig.tiny(epochs=1, data=[str(root)]), base / "pose", max_steps=1, say=lambda *a: None)
    config = ReidConfig(**TINY, inputs="heatmaps", keypoints=True, epochs=1, max_steps_per_epoch=1, p=2, k=2,
                        val_every=0, pose_model=str(base / "pose"))
    train_reid(config, [root], base / "reid", progress=False)
    return base


def test_search_command_end_to_end_with_cache(runs, tmp_path):
    gallery = tmp_path / "my_gallery"
    truth = write_crop_folder(gallery, identities=3, per_identity=3)
    query_file = gallery / "0002_c001_0001.jpg"
    extra = tmp_path / "queries"
    write_crop_folder(extra, identities=1, per_identity=1, seed=7)
    args = ["search", "--model", str(runs / "reid"), "--query", str(query_file), "--query", str(extra),
            "--gallery", str(gallery), "--top", "4", "--out", str(tmp_path / "out"), "--veri-names"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 queries x 9 gallery images, top 4" in result.output and "extracted and cached" in result.output
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    first, second = document["queries"]
    assert first["query"] == "0002_c001_0001.jpg" and second["query"] == "queries/0001_c000_0000.jpg"
    # the query is in the gallery: it finds itself first, far nearer than anything else (not at exactly 0: its
    # sidecar is predicted in another batch, and the barely trained pose network's flat heatmaps are quantised
    # to uint8, so a rounding can move a keypoint)
    assert first["results"][0]["image_name"] == "0002_c001_0001.jpg"
    assert first["results"][0]["distance"] < 0.05 * first["results"][1]["distance"]
    for entry in document["queries"]:
        distances = [r["distance"] for r in entry["results"]]
        assert distances == sorted(distances) and len(distances) == 4
        for r in entry["results"]:  # identities from the names: borders say whether they agree
            assert r["vehicle_id"] == truth[r["image_name"]][0]
            assert r["match"] == (r["vehicle_id"] == entry["query_vehicle_id"])
    csv_rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 2 * 4
    pictures = sorted((tmp_path / "out" / "pictures").glob("*.png"))
    assert len(pictures) == 2 and cv2.imread(str(pictures[0])).shape[1] > 5 * 64
    # pose sidecars were made by the run's pose network, for the gallery import and for the queries
    cached = list((gallery / ".pamtri_cache").glob("gallery-*"))
    assert len(cached) == 1 and len(list(cached[0].glob("*.pose.h5"))) == 1
    assert list((tmp_path / "out" / "query_data").glob("*.pose.h5"))
    feature_files = list(cached[0].glob("search_cache/*.npy"))
    assert len(feature_files) == 1
    stamp = feature_files[0].stat().st_mtime_ns

    # unchanged model and gallery: the cache is re-used, the results are the same
    result = CliRunner().invoke(main, args[:-2] + [str(tmp_path / "out2"), "--veri-names", "--no-pictures"])
    assert result.exit_code == 0 and "re-used from the cache" in result.output, result.output
    again = json.loads((tmp_path / "out2" / "results.json").read_text())
    assert [r["image_name"] for r in again["queries"][0]["results"]] == [r["image_name"] for r in first["results"]]
    assert feature_files[0].stat().st_mtime_ns == stamp

    # another checkpoint: new features, in a new cache entry
    state = torch.load(runs / "reid" / "checkpoints" / "best.pt", map_location="cpu", weights_only=False)
    state["model"] = {k: (v + 0.01 if v.is_floating_point() else v) for k, v in state["model"].items()}
    torch.save(state, tmp_path / "changed.pt")
    result = CliRunner().invoke(main, ["search", "--model", str(tmp_path / "changed.pt"), "--query", str(query_file),
                                       "--gallery", str(gallery), "--out", str(tmp_path / "out3"), "--no-pictures",
                                       "--pose-model", str(runs / "pose"), "--veri-names"])
    assert result.exit_code == 0 and "extracted and cached" in result.output, result.output
    assert len(list(cached[0].glob("search_cache/*.npy"))) == 2
    changed = json.loads((tmp_path / "out3" / "results.json").read_text())["queries"][0]["results"]
    assert [r["distance"] for r in changed[:4]] != [r["distance"] for r in first["results"]]
    # unlabelled (no --veri-names): another import of the folder, and borders that say "unknown"
    result = CliRunner().invoke(main, args[:-2] + [str(tmp_path / "out4"), "--no-pictures"])
    assert result.exit_code == 0, result.output
    assert all(r["match"] is None for r in json.loads((tmp_path / "out4" / "results.json").read_text())["queries"][0]["results"])
    assert len(list((gallery / ".pamtri_cache").glob("gallery-*"))) == 2


def test_search_refuses_bad_input_by_name(runs, tmp_path):
    gallery = tmp_path / "g"
    write_crop_folder(gallery, identities=1, per_identity=2)
    runner = CliRunner()
    base = ["search", "--model", str(runs / "reid"), "--out", str(tmp_path / "out")]
    result = runner.invoke(main, base + ["--query", str(tmp_path / "missing.jpg"), "--gallery", str(gallery)])
    assert result.exit_code == 2 and "missing.jpg: query is not an image" in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(main, base + ["--query", str(gallery), "--gallery", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "empty: no image files" in result.output
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    result = runner.invoke(main, base + ["--query", str(tmp_path / "bad.jpg"), "--gallery", str(gallery)])
    assert result.exit_code == 2 and "bad.jpg" in result.output
    result = runner.invoke(main, base + ["--query", str(gallery), "--gallery", str(gallery), "--top", "0"])
    assert result.exit_code == 2 and "--top must be >= 1" in result.output
    result = runner.invoke(main, ["search", "--model", str(runs / "pose"), "--query", str(gallery), "--gallery",
                                  str(gallery), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a ReID checkpoint" in result.output
