"""`cli.py inspect`: summary and preview of a good dataset; a clear error naming file and field for bad ones."""
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import cli
from tests.helpers.toy import make_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", num_models=2, colors_per_model=2,
                            images_per_identity=6, size=96, splits={"train": 0.5, "query_gallery": 0.5})


@pytest.fixture
def broken(toy, tmp_path):
    """A fresh copy of the toy dataset to damage."""
    return Path(shutil.copytree(toy, tmp_path / "broken"))



def run_inspect(*args):
    return CliRunner().invoke(cli.main, ["inspect", *map(str, args)])


def test_inspect_summarises_and_draws_preview(toy, tmp_path):
    preview = tmp_path / "preview.png"
    result = run_inspect(toy, "--preview", preview, "--preview-count", "6", "--decode-all")
    assert result.exit_code == 0, result.output
    assert "split train: 12 samples, 2 identities" in result.output
    assert "split query: 6 samples, 2 identities" in result.output
    assert "identities shared by gallery and query: 2" in result.output
    assert "identities shared by query and train: 0" in result.output
    assert "images decoded: 24" in result.output
    import cv2

    image = cv2.imread(str(preview))
    assert image is not None and image.shape[0] > 100 and image.shape[1] >= 6 * 192
    # the drawn keypoints (pure green / orange marks) are on the picture
    rgb = image[:, :, ::-1].astype(int)
    green = (np.abs(rgb - [40, 220, 60]).sum(axis=2) < 30).sum()
    assert green > 50


def _set_dataset(path, name, data):
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, data=data)


def expect_error(dataset, *needles):
    result = run_inspect(dataset)
    assert result.exit_code != 0
    for needle in needles:
        assert needle in result.output, result.output
    return result


def test_missing_shard(broken):
    (broken / "query-00000.h5").unlink()
    expect_error(broken, "query-00000.h5", "missing")


def test_truncated_shard(broken):
    path = broken / "train-00000.h5"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    expect_error(broken, "train-00000.h5", "truncated")


def test_shard_from_newer_schema(broken):
    with h5py.File(broken / "gallery-00000.h5", "r+") as f:
        f.attrs["schema_version"] = 7
    expect_error(broken, "gallery-00000.h5", "[schema_version]", "newer")


def test_wrong_dtype(broken):
    path = broken / "train-00000.h5"
    with h5py.File(path, "r") as f:
        ids = f["vehicle_id"][:]
    _set_dataset(path, "vehicle_id", ids.astype(np.float32))
    expect_error(broken, "train-00000.h5", "[vehicle_id]", "dtype float32")


def test_wrong_keypoint_shape(broken):
    path = broken / "train-00000.h5"
    with h5py.File(path, "r") as f:
        kps = f["keypoints"][:]
    _set_dataset(path, "keypoints", kps[:, :20])
    expect_error(broken, "train-00000.h5", "[keypoints]", "(20, 3)")


def test_invalid_visibility_code(broken):
    path = broken / "query-00000.h5"
    with h5py.File(path, "r+") as f:
        kps = f["keypoints"][:]
        kps[2, 5, 2] = 3
        f["keypoints"][:] = kps
    expect_error(broken, "query-00000.h5", "[keypoints]", "row 2 keypoint 5", "visibility code 3")


def test_visible_keypoint_outside_image(broken):
    path = broken / "query-00000.h5"
    with h5py.File(path, "r+") as f:
        kps = f["keypoints"][:]
        kps[1, 7] = (500.0, 10.0, 2)
        f["keypoints"][:] = kps
    expect_error(broken, "query-00000.h5", "row 1 keypoint 7", "outside")


def test_identity_labels_disagree_across_shards(broken):
    with h5py.File(broken / "query-00000.h5", "r") as f:
        vid = int(f["vehicle_id"][0])
        colors = f["color_id"][:]
    with h5py.File(broken / "gallery-00000.h5", "r+") as f:
        ids = f["vehicle_id"][:]
        colors = f["color_id"][:]
        colors[ids == vid] = (colors[ids == vid] % 10) + 1
        f["color_id"][:] = colors
    expect_error(broken, f"vehicle_id {vid}", "query-00000.h5")


def test_not_a_dataset(tmp_path):
    expect_error(tmp_path, "dataset.yaml", "no manifest")


def test_crop_sheet_shows_each_vehicle_at_a_traffic_camera_size(toy, tmp_path):
    sheet = tmp_path / "crops.png"
    result = run_inspect(toy, "--crops", sheet, "--preview-count", "6")
    assert result.exit_code == 0, result.output
    import cv2

    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[:2] == (260, 6 * 260)
    for i in range(6):  # every tile holds a crop no larger than 260 px on the neutral grey, centred
        tile = image[:, i * 260:(i + 1) * 260].astype(int)
        content = np.any(np.abs(tile - 128) > 0, axis=2)
        rows, cols = np.nonzero(content)
        assert len(rows) > 0
        assert max(rows.ptp(), cols.ptp()) + 1 <= 260
        assert abs((rows.min() + rows.max()) / 2 - 129.5) < 3 and abs((cols.min() + cols.max()) / 2 - 129.5) < 3
