"""Datasets that must not pass as sound (issue 21, items 3 and 4): a flipped bit in a label array or inside an
image's bytes is found by inspect and by the reader, naming shard and sample; shards written without checksums
still read; a folder missing planned samples is named incomplete; two writers of one shard are refused by name;
concurrent manifest updates never drop a shard. Real files, tiny toy datasets."""
from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from synth.datasets import ShardReader, read_manifest
from synth.datasets.manifest import update_manifest
from synth.datasets.schema import DatasetError
from synth.datasets.validate import validate_dataset
from synth.datasets.writer import Sample, ShardWriter
from tests.helpers.toy import make_toy_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy(tmp_path):
    return make_toy_dataset(tmp_path / "toy", num_models=2, colors_per_model=2, images_per_identity=3, size=32,
                            shard_size=64)


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_the_keypoints_is_found_naming_shard_and_samples(toy):
    shard = toy / "train-00000.h5"
    assert validate_dataset(toy, decode="all").ok
    with h5py.File(shard) as f:
        info = f["keypoints"].id.get_chunk_info(0)
    _flip_byte(shard, info.byte_offset + 40)  # inside sample 0's keypoints
    report = validate_dataset(toy, decode="all")
    assert not report.ok
    message = str(report.errors[0])
    assert "train-00000.h5" in message and "[keypoints]" in message and "sample" in message and "checksum" in message
    data = ShardReader(toy)  # labels load (other fields), the corrupt sample is refused when read
    with pytest.raises(DatasetError, match=r"train-00000\.h5 \[keypoints\]: sample 0.*checksum"):
        data[0]


def test_a_flipped_bit_inside_an_image_is_found_naming_shard_and_sample(toy):
    shard = toy / "train-00000.h5"
    with h5py.File(shard) as f:
        image = f["image"][3].tobytes()
    raw = shard.read_bytes()
    assert raw.count(image) == 1
    _flip_byte(shard, raw.index(image) + len(image) // 2)
    report = validate_dataset(toy, decode=0)  # found without decoding any image
    assert not report.ok
    assert "train-00000.h5 [image]: sample 3: image bytes fail their CRC-32" in str(report.errors[0])
    data = ShardReader(toy)
    assert data[2]["image"].shape == (32, 32, 3)
    with pytest.raises(DatasetError, match=r"train-00000\.h5 \[image\]: sample 3"):
        data[3]


def test_shards_written_before_checksums_still_read(toy):
    """An old shard: the same data with no Fletcher-32 filters and no image_crc32 field."""
    shard = toy / "train-00000.h5"
    old = toy / "old.h5"
    with h5py.File(shard) as src, h5py.File(old, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name, dset in src.items():
            if name == "image_crc32":
                continue
            assert dset.fletcher32 or dset.dtype.kind == "O"  # HDF5 cannot filter variable-length data
            dst.create_dataset(name, data=dset[:], dtype=dset.dtype, chunks=dset.chunks, maxshape=dset.maxshape)
    old.replace(shard)
    report = validate_dataset(toy, decode="all")
    assert report.ok and not report.warnings, (report.errors, report.warnings)
    data = ShardReader(toy)
    assert data[5]["image"].shape == (32, 32, 3) and "image_crc32" not in data[5]


def test_a_folder_short_of_its_planned_samples_is_named_incomplete(toy):
    update_manifest(toy, {"num_samples_planned": 40})
    report = validate_dataset(toy)
    assert not report.ok
    assert "12 of the 40 planned samples" in str(report.errors[0]) and "dataset.yaml" in str(report.errors[0])
    update_manifest(toy, {"num_samples_planned": 12})
    assert validate_dataset(toy).ok


def _hold_writer(path: str, ready, release) -> None:
    writer = ShardWriter(path, "train")
    ready.set()
    release.wait(30)
    writer.abort()


def test_two_writers_of_one_shard_the_second_is_refused_by_name(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_writer, args=(str(tmp_path / "train-00000.h5"), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(DatasetError, match=r"train-00000\.h5: another process is writing this shard"):
            ShardWriter(tmp_path / "train-00000.h5", "train")
    finally:
        release.set()
        holder.join(30)
    with ShardWriter(tmp_path / "train-00000.h5", "train") as writer:  # free once the other one is gone
        writer.append(Sample(np.zeros((8, 8, 3), np.uint8), "a.jpg", 1))
    assert (tmp_path / "train-00000.h5").exists()


_WRITER_SCRIPT = """
import sys, numpy as np
from synth.datasets.manifest import read_manifest, update_manifest
from synth.datasets.writer import Sample, ShardWriter
root, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for k in range(first, first + count):
    with ShardWriter(f"{root}/train-{k:05d}.h5", "train") as w:
        w.append(Sample(np.zeros((8, 8, 3), np.uint8), f"{k}.jpg", k))
    update_manifest(root, {"source": "test"})
    listed = {s["file"] for s in read_manifest(root)["splits"]["train"]["shards"]}
    lost = [j for j in range(first, k + 1) if f"train-{j:05d}.h5" not in listed]
    if lost:  # another writer's update, begun before our shard was done, overwrote ours
        sys.exit(f"shards {lost} dropped from the manifest")
"""


def test_concurrent_manifest_updates_never_drop_a_shard(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER_SCRIPT, str(tmp_path), str(15 * j), "15"], cwd=ROOT)
               for j in range(4)]
    for writer in writers:
        assert writer.wait(120) == 0
    listed = [s["file"] for s in read_manifest(tmp_path)["splits"]["train"]["shards"]]
    assert len(listed) == 60, f"the manifest lost {60 - len(listed)} shards to a concurrent update"
    assert not list(tmp_path.glob(".*.lock")) and not list(tmp_path.glob("*.tmp*"))
