"""Pose throughput: training and inference images/s, and the share of training time spent waiting on data.

Trains on a toy dataset (tests.helpers.toy, real HDF5 shards with PNG images) through the real trainer
(`train.pose.train.train_pose`, so data loading, augmentation, targets, AMP and the engine are all included),
then runs `predict_pose` (flip test, sidecar writing) and the bare network with flip test.

    .venv/bin/python bench/pose_throughput.py                 # CPU: tiny config
    .venv/bin/python bench/pose_throughput.py --paper         # HRNet-W32 at 256 px (use on a GPU)

Prints the figures and writes bench/results/pose_throughput.json (one entry per device/config, merged).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: bench/, tests/ not installed

import torch  # noqa: E402

from train.data import ShardDataset  # noqa: E402
from tests.helpers.toy import make_toy_dataset  # noqa: E402
from train.device import select_device  # noqa: E402
from train.pose.config import PoseConfig  # noqa: E402
from train.pose.model import PoseHRNet  # noqa: E402
from train.pose.predict import infer_heatmaps, predict_pose  # noqa: E402
from train.pose.train import train_pose  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "pose_throughput.json"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="HRNet-W32, 256 px input, batch 32 (GPU)")
    parser.add_argument("--images", type=int, default=0, help="toy images to generate (default by config)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (the first is warm-up)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device("auto")
    if args.paper:
        config, image_size, images = PoseConfig(), 256, args.images or 1024
    else:
        config, image_size, images = PoseConfig.tiny(), 128, args.images or 256
    config.batch_size = args.batch_size or config.batch_size
    config.workers = args.workers
    config.epochs, config.milestones, config.val_max = args.epochs, (args.epochs + 1,), config.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        per_identity = max(1, images // 12)
        root = make_toy_dataset(Path(tmp) / "toy", num_models=4, colors_per_model=3, images_per_identity=per_identity,
                                size=image_size, seed=0, shard_size=256)
        config.data = [str(root)]
        started = time.perf_counter()
        history = train_pose(config, Path(tmp) / "run", resume=False, say=lambda *_: None)
        train_wall = time.perf_counter() - started
        last = history[-1]  # steady state: the first epoch includes worker start-up and cudnn autotuning
        train_ips = last["steps"] * config.batch_size / (last["data_s"] + last["step_s"])
        started = time.perf_counter()
        predict_pose(Path(tmp) / "run", [root], batch_size=config.batch_size, workers=args.workers, say=lambda *_: None)
        predict_s = time.perf_counter() - started
        n = len(ShardDataset(root, fields=("image_name",)))
    model = PoseHRNet(config.model.backbone).to(device).eval()
    x = torch.randn(config.batch_size, 3, config.model.input_size, config.model.input_size, device=device)
    with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        for _ in range(2):
            infer_heatmaps(model, x, flip_test=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started, reps = time.perf_counter(), 5
        for _ in range(reps):
            infer_heatmaps(model, x, flip_test=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
    net_ips = reps * config.batch_size / (time.perf_counter() - started)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    result = {
        "device": device_name,
        "config": "paper (hrnet_w32, 256 px)" if args.paper else f"tiny ({config.model.backbone}, {config.model.input_size} px)",
        "batch_size": config.batch_size,
        "workers": config.workers,
        "amp": device.type == "cuda",
        "train_images_per_s": round(train_ips, 1),
        "train_data_wait_share": round(last["data_share"], 4),
        "train_wall_s": round(train_wall, 1),
        "predict_pose_images_per_s": round(n / predict_s, 1),
        "network_flip_test_images_per_s": round(net_ips, 1),
        "images": n,
    }
    for k, v in result.items():
        print(f"{k:32s} {v}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing[f"{device.type}:{result['config']}"] = result
    tmp_path = RESULTS.with_name(RESULTS.name + ".tmp")
    tmp_path.write_text(json.dumps(existing, indent=2) + "\n")
    os.replace(tmp_path, RESULTS)
    return result


if __name__ == "__main__":
    main()
