"""`cli.py evaluate-pose`: PCK of a trained pose network on labelled datasets (docs/EVALUATION.md), printed in
the paper's Table 5 layout, saved as JSON, and drawn over the best and worst images. A pipeline: the network and its
predictions come from train.pose, the numbers from eval.pose_metrics, the picture from
eval.reports.draw_pose_predictions."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from eval.pose_metrics import format_pck_table, pck, pose_examples
from eval.reports import draw_pose_predictions
from train.data import ShardDataset
from train.device import select_device
from train.pose.data import (PoseDataset, check_keypoints, check_visibility_source, read_keypoints,
                             visibility_fields)
from train.pose.predict import load_pose_model
from train.pose.train import predict_loader


def evaluate_pose(
    model_run: str | Path,
    data_dirs,
    split: str | None = None,
    out_dir: str | Path | None = None,
    batch_size: int = 32,
    device: str = "auto",
    workers: int = 2,
    flip_test: bool | None = None,
    mode: str = "correct",
    box_size: str = "sqrt_area",
    examples: int = 4,
    visibility: str | None = None,
    say=print,
):
    """Predict on every labelled image of `data_dirs` (the `split` or all splits), print the PCK table and,
    with `out_dir`, write `pose_accuracy.json` and `pose_examples.png`. `visibility` ("geometric" or
    "annotator", default: the run's) picks the codes that say which keypoints are scored (PoseConfig).
    Returns eval.pose_metrics.PoseResult."""
    device = select_device(device)
    model, config, checkpoint = load_pose_model(model_run, device)
    if visibility is not None:
        config = config.replace(visibility=visibility)
    base = ShardDataset(data_dirs, splits=split, fields=("image", "keypoints"),
                        optional_fields=visibility_fields(config.visibility))
    check_keypoints(base, read_keypoints(base))
    check_visibility_source(base, config.visibility)
    loader = DataLoader(PoseDataset(base, np.arange(len(base)), config, train=False), batch_size=batch_size,
                        num_workers=workers)
    flip_test = config.flip_test if flip_test is None else flip_test
    pred, gt = predict_loader(model, loader, device, config.model.input_size, flip_test)
    result = pck(pred, gt, box_size=box_size, mode=mode)
    name = Path(model_run).name + (" (flip test)" if flip_test else "")
    say(format_pck_table({name: result}))
    say(f"PCK definition: {result.definition}; {int(result.counts.sum())} visible keypoints ({config.visibility} "
        f"codes) in {len(gt)} images")
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = {"checkpoint": str(checkpoint), "data": [str(d) for d in np.atleast_1d(data_dirs)],
                   "split": split, "flip_test": bool(flip_test), "visibility": config.visibility,
                   **result.summary()}
        tmp = out_dir / f"pose_accuracy.json.tmp.{os.getpid()}"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, out_dir / "pose_accuracy.json")
        good, bad = pose_examples(result, examples)
        picks = list(good) + list(bad)
        if picks:
            images = [base[int(i)]["image"] for i in picks]
            titles = [f"{'good' if j < len(good) else 'bad'}: {base[int(i)]['index']} PCK "
                      f"{100 * result.per_image[i]:.0f}%" for j, i in enumerate(picks)]
            path = draw_pose_predictions(out_dir / "pose_examples.png", images, pred[picks], gt[picks],
                                         correct=result.correct[picks], titles=titles, columns=max(len(good), 1))
            say(f"pictures: {path}")
        say(f"results: {out_dir / 'pose_accuracy.json'}")
    return result
