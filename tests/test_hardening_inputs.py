"""Inputs that must be refused by name (issue 21, items 5 and 10): a pose CSV marking a keypoint visible off its
image, and ReID training data with a single identity. Real files, tiny sizes."""
from __future__ import annotations

import pytest

from synth.datasets.importers.pamtri_csv import import_pamtri_csv
from synth.datasets.schema import DatasetError
from synth.datasets.validate import validate_dataset
from tests.helpers.toy import make_toy_dataset
from tests.test_import_pamtri_csv import _corrupt_row, make_pose_csv


def test_a_visible_keypoint_outside_the_image_is_refused_with_file_and_line(tmp_path):
    csv_path = tmp_path / "label_train.csv"
    make_pose_csv(tmp_path / "images", csv_path)
    # keypoint 4 visible at x = width + 7 on the third row
    _corrupt_row(csv_path, 2, lambda r: r[:15] + [str(int(r[1]) + 7), "5", "1"] + r[18:])
    with pytest.raises(DatasetError) as err:
        import_pamtri_csv(csv_path, tmp_path / "images", tmp_path / "out", progress=False)
    text = str(err.value)
    assert "label_train.csv" in text and "line 3" in text and "keypoint 4 is marked visible" in text
    report = import_pamtri_csv(csv_path, tmp_path / "images", tmp_path / "out", skip_bad=True, progress=False)
    assert report.skipped == 1
    checked = validate_dataset(tmp_path / "out", decode="all")  # what was written passes inspect
    assert checked.ok, checked.errors


def test_reid_training_on_one_identity_is_refused(tmp_path):
    from train.reid.config import ReidConfig
    from train.reid.train import train_reid

    one = make_toy_dataset(tmp_path / "one", num_models=1, colors_per_model=1, images_per_identity=6, size=32)
    config = ReidConfig(backbone="densenet_tiny", pretrained=False, image_size=(32, 32), workers=0, epochs=1,
                        p=1, k=4, loss="xent", val_every=0)
    with pytest.raises(DatasetError, match="one identity"):
        train_reid(config, [one], tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
