"""ReID training throughput: images/s of the real training path (`train.reid.train.train_reid`: loaders with
workers, P x K sampler, augmentation, the network, the losses, the optimizer step, AMP on CUDA) for the
paper's DenseNet121 configurations, and the share of wall time spent waiting on the data loader.

Data: a toy dataset drawn at --source-size px (default 256, so decoding and warping cost what they cost on
real crops of that size) with ground-truth pose sidecars. Each configuration trains two capped epochs of
--steps batches; the figures come from the second (the first pays for start-up: workers, cuDNN autotuning).

    python bench/reid_throughput.py [--steps 4] [--workers 2] [--device auto] [--image-size 256]
        [--configs rgb mt mt_k mt_k_h mt_k_s] [--out bench/results/reid_throughput.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: bench/, tests/ not installed

from tests.helpers.toy import make_toy_dataset  # noqa: E402
from train.device import select_device  # noqa: E402
from train.reid.config import ReidConfig  # noqa: E402
from train.reid.data import write_label_pose_sidecars  # noqa: E402
from train.reid.train import train_reid  # noqa: E402

CONFIGS = {
    "rgb": dict(),
    "mt": dict(multitask=True),
    "mt_k": dict(multitask=True, keypoints=True),
    "mt_k_h": dict(multitask=True, keypoints=True, inputs="heatmaps"),
    "mt_k_s": dict(multitask=True, keypoints=True, inputs="segments"),
}


def measure(name: str, data: Path, runs: Path, args) -> dict:
    config = ReidConfig(
        backbone=args.backbone, pretrained=False, image_size=(args.image_size, args.image_size), epochs=2,
        max_steps_per_epoch=args.steps, val_every=0, workers=args.workers, device=args.device, p=args.p, k=args.k,
        **CONFIGS[name],
    )
    summary = train_reid(config, [data], runs / name, resume=False, progress=False)
    epoch = summary["history"][-1]
    images = epoch["steps"] * config.batch_size
    wall = epoch["data_s"] + epoch["step_s"]
    return {
        "config": name, "run_name": summary["name"], "images_per_s": images / wall, "steps": epoch["steps"],
        "batch": config.batch_size, "data_wait_share": epoch["data_share"], "step_s": epoch["step_s"] / epoch["steps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backbone", default="densenet121")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--source-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--p", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reid_throughput.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    device = select_device(args.device)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "toy"
        # Enough identities for --steps P x K batches per epoch: 3 colours x 2 chunks of K per model.
        per_identity = 2 * args.k
        models = max(2, -(-args.steps * args.p // 6) + 1)
        make_toy_dataset(data, num_models=models, colors_per_model=3, images_per_identity=per_identity,
                         size=args.source_size, seed=0)
        write_label_pose_sidecars(data)
        for name in args.configs:
            row = measure(name, data, Path(tmp) / "runs", args)
            results.append(row)
            print(f"{row['run_name']:<22} {row['images_per_s']:8.1f} img/s   data wait {100 * row['data_wait_share']:5.1f}%"
                  f"   {row['step_s']:.3f} s/step (batch {row['batch']})", flush=True)
    record = {
        "benchmark": "reid_throughput", "backbone": args.backbone, "image_size": args.image_size,
        "source_image_size": args.source_size, "workers": args.workers, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_threads": torch.get_num_threads(), "amp": device.type == "cuda", "torch": torch.__version__,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
