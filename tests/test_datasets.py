"""The HDF5 dataset contract: write, crash mid-write, re-open, validate, read through a DataLoader."""
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from synth.datasets import DatasetError, DatasetWriter, Sample, ShardReader, read_manifest, write_samples
from synth.datasets.manifest import is_complete_shard, update_manifest
from synth.datasets.validate import validate_dataset


def make_sample(i: int, rng: np.random.Generator, size=(48, 64), synthetic=True) -> Sample:
    h, w = size
    keypoints = np.zeros((36, 3), np.float32)
    keypoints[:, 0] = rng.uniform(0, w - 1, 36)
    keypoints[:, 1] = rng.uniform(0, h - 1, 36)
    keypoints[:, 2] = rng.integers(0, 3, 36)
    extra = {}
    if synthetic:
        extra = {"model_id": (i // 4) % 3, "viewpoint": np.array([i, 10, 8], np.float32), "K": np.eye(3),
                 "Rt": np.eye(3, 4), "visible_fraction": 0.9, "truncation": 0.0, "seed": 1000 + i}
    return Sample(
        image=rng.integers(0, 255, (h, w, 3), dtype=np.uint8), image_name=f"img_{i:05d}.jpg",
        vehicle_id=i // 4, camera_id=i % 5, color_id=1 + (i // 4) % 10, type_id=1 + (i // 4) % 9,
        keypoints=keypoints, bbox=np.array([1, 2, 30, 40], np.float32), extra=extra,
    )


@pytest.fixture
def small_dataset(tmp_path):
    rng = np.random.default_rng(0)
    write_samples(tmp_path / "ds", "train", "synthetic", (make_sample(i, rng) for i in range(40)), shard_size=16)
    write_samples(tmp_path / "ds", "query", "synthetic", (make_sample(i, rng) for i in range(40, 48)), shard_size=16)
    return tmp_path / "ds"


def test_write_then_read_round_trips_labels_and_pixels(tmp_path):
    rng = np.random.default_rng(3)
    samples = [make_sample(i, rng) for i in range(20)]
    paths = write_samples(tmp_path, "train", "synthetic", samples, shard_size=8, image_format="png")
    assert [p.name for p in paths] == ["train-00000.h5", "train-00001.h5", "train-00002.h5"]
    manifest = read_manifest(tmp_path)
    assert manifest["splits"]["train"]["num_samples"] == 20
    assert [s["num_samples"] for s in manifest["splits"]["train"]["shards"]] == [8, 8, 4]
    dataset = ShardReader(tmp_path)
    assert len(dataset) == 20
    for i in (0, 9, 19):
        item = dataset[i]
        assert np.array_equal(item["image"], samples[i].image)  # PNG is lossless
        assert item["image_name"] == samples[i].image_name
        assert np.allclose(item["keypoints"], samples[i].keypoints)
        assert item["vehicle_id"] == samples[i].vehicle_id and item["seed"] == 1000 + i
        assert tuple(item["image_hw"]) == (48, 64)
    assert np.array_equal(dataset.labels["vehicle_id"], [s.vehicle_id for s in samples])


def test_jpeg_bytes_are_stored_without_reencoding(tmp_path):
    import cv2

    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    write_samples(tmp_path, "train", "veri", [Sample(image=encoded.tobytes(), image_name="a.jpg", vehicle_id=1)])
    with h5py.File(tmp_path / "train-00000.h5") as f:
        assert f["image"][0].tobytes() == encoded.tobytes()
        assert tuple(f["image_hw"][0]) == (30, 40)


def test_reader_filters_splits_and_keeps_sources_apart(small_dataset, tmp_path):
    rng = np.random.default_rng(1)
    other = tmp_path / "other"
    write_samples(other, "train", "veri", (make_sample(i, rng, synthetic=False) for i in range(8)))
    assert len(ShardReader(small_dataset, splits="query")) == 8
    both = ShardReader([small_dataset, other], splits="train")
    assert len(both) == 48
    # vehicle 0 exists in both directories, but they are different identities
    identities = both.identities()
    first = identities[(both.labels["source"] == 0) & (both.labels["vehicle_id"] == 0)]
    second = identities[(both.labels["source"] == 1) & (both.labels["vehicle_id"] == 0)]
    assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]
    assert len(np.unique(identities)) == 10 + 2


def test_dataloader_with_two_workers_reads_every_sample_once(small_dataset):
    dataset = ShardReader(small_dataset, splits="train")
    dataset[0]  # the parent holds open handles; workers must not reuse them
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, num_workers=2,
                                         generator=torch.Generator().manual_seed(0))
    seen = []
    for batch in loader:
        assert batch["image"].shape == (4, 48, 64, 3) and batch["image"].dtype == torch.uint8
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(40))


def _write_forever(root: str, ready) -> None:
    rng = np.random.default_rng(0)
    with DatasetWriter(root, "train", "synthetic", shard_size=10) as writer:
        for i in range(10_000):
            writer.append(make_sample(i, rng))
            if i == 25:
                ready.set()
            if i > 25:
                time.sleep(0.05)


def test_killed_writer_leaves_only_whole_shards(tmp_path):
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_write_forever, args=(str(tmp_path), ready))
    proc.start()
    assert ready.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    shards = sorted(p.name for p in tmp_path.glob("train-*.h5"))
    assert shards == ["train-00000.h5", "train-00001.h5"]  # the third was in progress
    assert all(is_complete_shard(tmp_path / name) for name in shards)
    assert list(tmp_path.glob("*.h5.tmp")), "the interrupted shard stays under its temporary name"
    report = validate_dataset(tmp_path)
    assert report.ok, report.errors
    assert report.splits["train"].num_samples == 20
    assert any("temporary" in w for w in report.warnings)
    assert len(ShardReader(tmp_path)) == 20


def test_writer_refuses_to_overwrite_a_shard(small_dataset):
    rng = np.random.default_rng(0)
    writer = DatasetWriter(small_dataset, "train", "synthetic", shard_size=16)
    with pytest.raises(DatasetError, match="train-00000.h5.*refusing to overwrite"):
        writer.append(make_sample(0, rng))


def test_parallel_writers_own_disjoint_shards(tmp_path):
    rng = np.random.default_rng(0)
    for first in (2, 0):  # e.g. two machines of a --shard K/N render, finishing in any order
        with DatasetWriter(tmp_path, "train", "synthetic", shard_size=5, first_shard=first) as writer:
            for i in range(5):
                writer.append(make_sample(first * 5 + i, rng))
    manifest = update_manifest(tmp_path)
    assert [s["file"] for s in manifest["splits"]["train"]["shards"]] == ["train-00000.h5", "train-00002.h5"]
    assert validate_dataset(tmp_path).ok


def test_validate_collects_statistics(small_dataset):
    report = validate_dataset(small_dataset, decode="all")
    assert report.ok, report.errors
    assert report.images_decoded == 48
    train = report.splits["train"]
    assert train.num_samples == 40 and len(train.identities) == 10 and len(train.cameras) == 5
    assert sum(train.color_hist.values()) == 40
    assert train.visibility_counts.sum() == 40 * 36


@pytest.mark.parametrize("fault", ["code 3", "in the image"])
def test_validate_checks_annotator_codes_against_the_keypoints(tmp_path, fault):
    """annotator_visibility holds codes 0/1/2 and agrees with `keypoints` on which keypoints are in the image."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        sample = make_sample(i, rng)
        codes = sample.keypoints[:, 2].astype(np.int8)
        sample.extra["annotator_visibility"] = np.where(codes == 1, 2, codes).astype(np.int8)
        samples.append(sample)
    write_samples(tmp_path / "good", "train", "synthetic", samples)
    assert validate_dataset(tmp_path / "good").ok
    outside = int(np.flatnonzero(samples[2].keypoints[:, 2] == 0)[0])
    samples[2].extra["annotator_visibility"][outside] = 3 if fault == "code 3" else 1
    write_samples(tmp_path / "bad", "train", "synthetic", samples)
    report = validate_dataset(tmp_path / "bad")
    assert not report.ok
    message = str(report.errors[0])
    assert "train-00000.h5 [annotator_visibility]" in message and f"row 2 keypoint {outside}" in message
    assert ("not in 0, 1, 2" if fault == "code 3" else "in the image") in message


def test_sample_with_wrong_keypoint_shape_is_rejected(tmp_path):
    rng = np.random.default_rng(0)
    sample = make_sample(0, rng)
    sample.keypoints = np.zeros((17, 3))
    with pytest.raises(ValueError, match="keypoints has shape"):
        write_samples(tmp_path, "train", "synthetic", [sample])
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob("*.tmp"))


def test_manifest_from_newer_schema_is_refused(small_dataset):
    path = small_dataset / "dataset.yaml"
    manifest = yaml.safe_load(path.read_text())
    manifest["schema_version"] = 99
    path.write_text(yaml.safe_dump(manifest))
    with pytest.raises(DatasetError, match="dataset.yaml.*newer"):
        ShardReader(small_dataset)
