"""ReID training end to end on toy data: learning, run records, resume, extraction, CLI, bad input."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from train.data import ShardDataset
from synth.datasets.schema import DatasetError
from tests.helpers.toy import make_toy_dataset
from train.engine import CheckpointError, load_checkpoint, save_checkpoint
from train.reid.config import ReidConfig
from train.reid.data import write_label_pose_sidecars
from train.reid.extract import extract_features, load_reid_model
from train.reid.train import train_reid

TINY = dict(backbone="densenet_tiny", pretrained=False, image_size=(64, 64), workers=0, milestones=[100])


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    """32 identities (8 models x 4 colours), 12 images each; half the identities train, half query/gallery."""
    root = tmp_path_factory.mktemp("reid") / "toy"
    make_toy_dataset(root, num_models=8, colors_per_model=4, images_per_identity=12, size=64, seed=0,
                     splits={"train": 0.5, "query_gallery": 0.5})
    write_label_pose_sidecars(root)
    return root


@pytest.fixture(scope="module")
def trained(toy_root, tmp_path_factory):
    # 20 epochs (~100 steps): held-out mAP 0.12 -> 0.44, colour 0.11 -> 0.74 (24 epochs: 0.44, 0.72)
    config = ReidConfig(**TINY, multitask=True, keypoints=True, epochs=20, lr=1e-3, val_every=10)
    run = tmp_path_factory.mktemp("runs") / "mt_k"
    summary = train_reid(config, [toy_root], run, progress=False)
    return config, run, summary


def _retrieval_and_colour(run, toy_root, which):
    """mAP on the held-out query/gallery identities and colour accuracy, of a run's checkpoint."""
    from eval.reid_metrics import evaluate_reid

    fs = extract_features(run, toy_root, which=which, progress=False)
    q, g = fs.query, fs.gallery
    result = evaluate_reid(q.features, g.features, q.vehicle_id, g.vehicle_id, q.camera_id, g.camera_id)
    return result.mAP, float(np.mean(fs.color_pred == fs.color_id)), fs


def test_training_raises_map_on_held_out_identities(trained, toy_root):
    config, run, summary = trained
    before, _, _ = _retrieval_and_colour(run, toy_root, "initial")  # the same network before its first step
    after = summary["history"][-1]
    assert [h["epoch"] for h in summary["history"]] == list(range(1, 21))
    assert "mAP" in summary["history"][9] and "mAP" not in summary["history"][8]  # every val_every epochs
    assert after["mAP"] > before + 0.15, (before, after)
    assert after["mAP"] > 2 * before
    assert summary["best_mAP"] == max(h["mAP"] for h in summary["history"] if "mAP" in h)


def test_colour_head_learns_colour(trained, toy_root):
    config, run, _ = trained
    _, accuracy, features = _retrieval_and_colour(run, toy_root, "best")
    train_ids = set(ShardDataset(toy_root, "train").labels["vehicle_id"].tolist())
    assert set(features.vehicle_id.tolist()).isdisjoint(train_ids)  # colour is judged on vehicles never seen in training
    _, before, _ = _retrieval_and_colour(run, toy_root, "initial")
    assert accuracy > 0.45 and accuracy > before + 0.3, (before, accuracy)  # chance: 0.1


def test_run_records_its_configuration_and_extraction_matches_validation(trained, toy_root):
    config, run, summary = trained
    saved = ReidConfig.from_yaml(run / "config.yaml")
    assert summary["name"] == saved.name == "S+MT+K_xent+htri"  # toy data counts as synthetic
    assert saved.num_identities == 16 and saved.keypoints and saved.multitask
    for name in ("initial.pt", "best.pt", "last.pt"):
        assert (run / "checkpoints" / name).is_file()
    assert len((run / "history.jsonl").read_text().splitlines()) == 20
    # `extract` + the evaluator's metric reproduce the validation score of the best checkpoint.
    mAP, _, fs = _retrieval_and_colour(run, toy_root, "best")
    assert len(fs) == 16 * 12 and fs.features.shape[1] == 1024
    assert mAP == pytest.approx(summary["best_mAP"], abs=1e-4)


def test_resume_continues_and_another_configuration_is_refused(toy_root, tmp_path):
    config = ReidConfig(**TINY, epochs=1, max_steps_per_epoch=1, val_every=0)
    run = tmp_path / "run"
    train_reid(config, [toy_root], run, progress=False)
    first = load_checkpoint(run / "checkpoints" / "last.pt")
    summary = train_reid(config.replace(epochs=2), [toy_root], run, progress=False)
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert summary["history"][0]["loss"] == first["history"][0]["loss"]
    with pytest.raises(CheckpointError, match="inputs"):
        train_reid(config.replace(epochs=3, inputs="heatmaps"), [toy_root], run, progress=False)
    assert ReidConfig.from_yaml(run / "config.yaml").inputs == "rgb"  # the run's record was not overwritten
    with pytest.raises(ValueError, match="already holds a run"):
        train_reid(config, [toy_root], run, resume=False, progress=False)
    # A checkpoint whose weights do not fit its configuration, or of another kind of model.
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    state["config"]["keypoints"] = True
    save_checkpoint(tmp_path / "mismatch.pt", state)
    with pytest.raises(CheckpointError, match="mismatch.pt"):
        load_reid_model(tmp_path / "mismatch.pt")
    state["signature"]["name"] = "pose_hrnet"
    save_checkpoint(tmp_path / "pose.pt", state)
    with pytest.raises(CheckpointError, match="not a ReID checkpoint"):
        extract_features(tmp_path / "pose.pt", toy_root, progress=False)


def test_bad_training_data_gives_clear_errors(toy_root, tmp_path):
    config = ReidConfig(**TINY, epochs=1, p=2, k=2)
    single = make_toy_dataset(tmp_path / "single", num_models=3, colors_per_model=2, images_per_identity=1, size=32)
    with pytest.raises(DatasetError, match="one image"):
        train_reid(config, [single], tmp_path / "a", progress=False)
    with pytest.raises(DatasetError, match="no shards for splits"):
        train_reid(config.replace(train_splits=["val"]), [toy_root], tmp_path / "b", progress=False)
    bare = make_toy_dataset(tmp_path / "bare", num_models=2, colors_per_model=2, images_per_identity=4, size=32)
    with pytest.raises(DatasetError, match=r"pose\.h5.*predict-pose"):
        train_reid(config.replace(inputs="segments"), [bare], tmp_path / "c", progress=False)
    with pytest.raises(DatasetError, match="fewer than the P=8"):
        train_reid(config.replace(p=8), [bare], tmp_path / "d", progress=False)


def test_mixed_sources_keep_identities_apart_and_name_the_run(tmp_path):
    from synth.datasets import update_manifest
    from train.reid.config import data_tag, run_name
    from train.reid.data import ReidDataset, data_sources
    from train.reid.samplers import PKBatchSampler

    synthetic = make_toy_dataset(tmp_path / "synthetic", num_models=2, colors_per_model=2, images_per_identity=4, size=32)
    real = make_toy_dataset(tmp_path / "real", num_models=2, colors_per_model=2, images_per_identity=4, size=32, seed=1)
    update_manifest(real, {"source": "veri"})  # stands in for an imported real dataset
    config = ReidConfig(**TINY, multitask=True, keypoints=False)
    both = ReidDataset([real, synthetic], ["train"], config, train=True)
    # Both sets use vehicle ids 0-3; as identities they stay 8 distinct ones.
    assert set(both.labels["vehicle_id"].tolist()) == {0, 1, 2, 3} and both.num_identities == 8
    sources = both.labels["source"]
    for pid in range(8):
        assert len(set(sources[both.pids == pid].tolist())) == 1
    batches = list(PKBatchSampler(both.pids, p=4, k=4, seed=0))
    assert any(len(set(sources[b].tolist())) == 2 for b in batches)  # real and synthetic share batches
    assert run_name(config, data_tag(data_sources([real, synthetic]))) == "RS+MT_xent+htri"
    assert run_name(config.replace(loss="htri"), data_tag(data_sources([real]))) == "R+MT_htri"


def test_cli_train_reid_and_extract(toy_root, tmp_path):
    from cli import main
    from eval.features import FeatureSet

    run, out = tmp_path / "run", tmp_path / "features.npz"
    args = ["train-reid", "--data", str(toy_root), "--out", str(run), "--backbone", "densenet_tiny", "--no-pretrained",
            "--image-size", "64", "--inputs", "segments", "--multitask", "--bnneck", "--epochs", "1", "--max-steps", "2",
            "--workers", "2", "--val-every", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "S+MT+S_xent+htri" in result.output
    assert ReidConfig.from_yaml(run / "config.yaml").bnneck
    assert hasattr(load_reid_model(run)[0], "neck")  # the checkpoint's network has the neck it was trained with
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert history[0]["steps"] == 2 and "mAP" in history[0]
    result = CliRunner().invoke(main, ["extract", "--model", str(run), "--data", str(toy_root), "--out", str(out), "--workers", "0"])
    assert result.exit_code == 0, result.output
    fs = FeatureSet.load(out)
    assert len(fs) == 16 * 12 and fs.color_pred is not None and set(np.unique(fs.split)) == {"query", "gallery"}
    bad = CliRunner().invoke(main, ["extract", "--model", str(tmp_path / "nope"), "--data", str(toy_root), "--out", str(out)])
    assert bad.exit_code == 2 and "nope" in bad.output


@pytest.mark.slow  # two processes each importing torch: 17 s of the 5-minute default run (make test-all runs it)
def test_torchrun_two_processes(tmp_path):
    """DDP on CPU (gloo): two ranks train disjoint P x K batches; only rank 0 writes the run."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    root = make_toy_dataset(tmp_path / "toy", num_models=4, colors_per_model=3, images_per_identity=8, size=32,
                            seed=0, splits={"train": 0.5, "query_gallery": 0.5})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           str(repo / "cli.py"), "train-reid", "--data", str(root), "--out", str(tmp_path / "run"),
           "--backbone", "densenet_tiny", "--no-pretrained", "--image-size", "32", "--epochs", "2", "--max-steps", "2",
           "--workers", "0", "--val-every", "1", "--pk", "2", "2"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=repo)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: S_xent+htri") == 1
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2] and all("mAP" in h and h["steps"] == 2 for h in history)


def test_missing_sidecars_written_by_the_pose_network(tmp_path):
    """--pose-model: a (barely trained) tiny pose run writes the missing sidecars (pipelines.reid), then H+K
    training runs; the trainer alone names the missing sidecar instead."""
    from pipelines.reid import train_reid as train_reid_pipeline
    from train.pose.config import PoseConfig
    from train.pose.train import train_pose

    root = make_toy_dataset(tmp_path / "toy", num_models=3, colors_per_model=2, images_per_identity=6, size=64,
                            seed=0, splits={"train": 0.5, "query_gallery": 0.5})
    train_pose(PoseConfig.tiny(epochs=1, data=[str(root)]), tmp_path / "pose", max_steps=1, say=lambda *a: None)
    config = ReidConfig(**TINY, inputs="heatmaps", keypoints=True, epochs=1, max_steps_per_epoch=1, p=2, k=2,
                        pose_model=str(tmp_path / "pose"))
    with pytest.raises(DatasetError, match="pose sidecar missing"):
        train_reid(config, [root], tmp_path / "bare", progress=False)
    summary = train_reid_pipeline(config, [root], tmp_path / "reid", progress=False)
    assert summary["name"] == "S+K+H_xent+htri" and "mAP" in summary["history"][-1]
    assert len(list(root.glob("*.pose.h5"))) == 3  # train, query and gallery shards


def test_keypoints_only_sidecars_serve_rgb_plus_keypoints(tmp_path):
    """Imported real data carries keypoints-only sidecars (PAMTRI CSVs): RGB+K reads just those, as the paper
    trained on VeRi's labels; H names the sidecar that lacks heatmaps, and is not overwritten by predictions."""
    from pipelines.pose_sidecars import make_missing_sidecars
    from synth.datasets.manifest import manifest_shards, open_shard, read_field
    from synth.datasets.sidecar import sidecar_path, write_sidecar
    from train.reid.data import ReidDataset

    root = make_toy_dataset(tmp_path / "real", num_models=2, colors_per_model=2, images_per_identity=4, size=32)
    for _, shard, _ in manifest_shards(root):
        with open_shard(shard) as f:
            keypoints = read_field(f, shard, "keypoints")
        write_sidecar(sidecar_path(shard), keypoints * np.array([1.0, 1.0, 0.5], np.float32), source="pamtri_csv")
    config = ReidConfig(**TINY, inputs="rgb", keypoints=True, epochs=1, max_steps_per_epoch=1, p=2, k=2)
    data = ReidDataset([root], ["train"], config)
    item, base = data[0], data.base[0]
    assert set(base) >= {"pose_keypoints"} and "pose_heatmaps" not in base
    assert item["keypoints"].shape == (108,) and "channels" not in item
    summary = train_reid(config, [root], tmp_path / "k", progress=False)
    assert summary["name"] == "S+K_xent+htri"
    heatmaps = config.replace(inputs="heatmaps")
    with pytest.raises(DatasetError, match="incomplete pose sidecar.*no heatmaps"):
        ReidDataset([root], ["train"], heatmaps)
    before = {p: p.stat().st_mtime_ns for p in root.glob("*.pose.h5")}
    assert make_missing_sidecars([root], tmp_path / "no_such_pose_run", fields=config.pose_fields()) == []
    with pytest.raises(DatasetError, match="no heatmaps"):
        make_missing_sidecars([root], tmp_path / "no_such_pose_run", fields=heatmaps.pose_fields())
    assert {p: p.stat().st_mtime_ns for p in root.glob("*.pose.h5")} == before
