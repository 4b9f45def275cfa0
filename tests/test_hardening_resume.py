"""A killed and resumed training run is the uninterrupted run, bit for bit on the CPU (issue 21, item 8):
every random state is in the checkpoint, and the resume is announced. Tiny ReID runs on toy data with the
default augmentations (crop, flip, erase) on."""
from __future__ import annotations

import logging

import pytest
import torch

from tests.helpers.toy import make_toy_dataset
from train.engine import load_checkpoint
from train.reid.config import ReidConfig
from train.reid.train import train_reid


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("resume") / "toy", num_models=2, colors_per_model=2,
                            images_per_identity=4, size=32)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_resumed_run_is_the_uninterrupted_run(toy, tmp_path, caplog, workers):
    config = ReidConfig(backbone="densenet_tiny", pretrained=False, image_size=(32, 32), workers=workers, epochs=2,
                        p=2, k=2, max_steps_per_epoch=2, val_every=0, milestones=[100], device="cpu")
    whole = train_reid(config, [toy], tmp_path / "whole", progress=False)
    train_reid(config.replace(epochs=1), [toy], tmp_path / "cut", progress=False)  # killed after epoch 1
    torch.manual_seed(12345)  # the resumed process starts from other random states
    with caplog.at_level(logging.INFO, logger="train.reid.train"):
        resumed = train_reid(config, [toy], tmp_path / "cut", progress=False)
    assert "resuming from epoch 2" in caplog.text
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
