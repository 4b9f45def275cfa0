"""ImageNet weights for timm backbones (issue 21, item 11): the local caches first, no hub retries when it
cannot be reached, a record in the run directory of what was loaded and from where, and log messages shown by
the CLI. A fabricated torch-hub cache file stands for downloaded weights (no network here)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.helpers.toy import make_toy_dataset

ROOT = Path(__file__).resolve().parents[1]
BACKBONE = "resnet10t"


def _cache_file(torch_home: Path) -> Path:
    from timm.models import get_pretrained_cfg

    return torch_home / "hub" / "checkpoints" / os.path.basename(get_pretrained_cfg(BACKBONE).url)


def test_cached_weights_are_loaded_and_named(tmp_path, monkeypatch):
    import timm

    from train.reid.model import build_backbone

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(3)
    saved = timm.create_model(BACKBONE, pretrained=False).state_dict()
    path = _cache_file(tmp_path / "torch")
    path.parent.mkdir(parents=True)
    torch.save(saved, path)
    net = build_backbone(f"timm:{BACKBONE}", pretrained=True)
    assert net.weights_source == {"imagenet": True, "from": str(path)}
    assert torch.equal(net.state_dict()["conv1.0.weight"], saved["conv1.0.weight"])


def test_no_cache_and_no_hub_is_quick_and_recorded_and_the_cli_shows_it(tmp_path):
    data = make_toy_dataset(tmp_path / "toy", num_models=2, colors_per_model=2, images_per_identity=4, size=32)
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)  # found offline by trying, not told
    start = time.time()
    result = subprocess.run(
        [sys.executable, "cli.py", "train-reid", "--data", str(data), "--out", str(tmp_path / "run"), "--backbone",
         f"timm:{BACKBONE}", "--image-size", "32", "--epochs", "1", "--pk", "2", "2", "--max-steps", "1",
         "--val-every", "0", "--workers", "0", "--device", "cpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert time.time() - start < 40  # no minute of hub retries
    assert "no ImageNet weights in the local caches and the hub is offline" in result.stderr
    record = json.loads((tmp_path / "run" / "weights.json").read_text())
    assert record["backbone"] == f"timm:{BACKBONE}" and record["imagenet"] is False and record["from"] is None
