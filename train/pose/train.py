"""`cli.py train-pose`: train the pose network on one or more datasets (synthetic and real) on train.engine."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from eval.pose_metrics import pck
from synth.datasets import DatasetError
from train.data import ShardDataset
from train.device import init_distributed, seed_everything, select_device
from train.engine import CHECKPOINT_DIR, LAST, Engine, check_run_dir, write_weights_record
from train.pose.config import PoseConfig
from train.pose.data import (MixedSampler, PoseDataset, check_keypoints, check_visibility_source, has_split,
                             read_keypoints, visibility_fields)
from train.pose.losses import heatmap_loss
from train.pose.model import ARCH_NAME, architecture, build_pose_model
from train.pose.predict import infer_heatmaps, keypoints_from_heatmaps

METRIC = "pck_mean"


def pose_accuracy(predictions: np.ndarray, ground_truth: np.ndarray) -> dict[str, float]:
    """PCK per body part and mean (eval.pose_metrics, docs/EVALUATION.md) as a flat dict of floats for the history."""
    result = pck(predictions, ground_truth)
    return {"pck_mean": result.mean, **{f"pck_{part}": v for part, v in result.per_part.items()}}


def _step(model, batch, device):
    non_blocking = device.type == "cuda"
    pred = model(batch["image"].to(device, non_blocking=non_blocking))
    return heatmap_loss(pred, batch["target"].to(device, non_blocking=non_blocking),
                        batch["weight"].to(device, non_blocking=non_blocking)), {}


def predict_loader(model, loader, device, input_size: int, flip_test: bool) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (N, 36, 3) and ground-truth (N, 36, 3) keypoints in image pixels over a PoseDataset loader."""
    preds, gts = [], []
    for batch in loader:
        heatmaps = infer_heatmaps(model, batch["image"].to(device), flip_test).float().cpu().numpy()
        preds.append(keypoints_from_heatmaps(heatmaps, batch["matrix"].numpy(), input_size))
        gts.append(batch["keypoints"].numpy())
    return np.concatenate(preds), np.concatenate(gts)


def build_datasets(config: PoseConfig, say=print) -> tuple[PoseDataset, PoseDataset, np.ndarray]:
    """Training and validation PoseDatasets, and the dataset index (source) of each training sample."""
    if not config.data:
        raise ValueError("no training datasets given (--data DIR [DIR ...])")
    if config.weights and len(config.weights) != len(config.data):
        raise ValueError(f"{len(config.weights)} sampling weights for {len(config.data)} datasets")
    for root in config.data:
        if not has_split(root, config.train_split):
            raise DatasetError(root, f"no {config.train_split!r} split to train on")
    fields, optional = ("image", "keypoints"), visibility_fields(config.visibility)
    base = ShardDataset(config.data, splits=config.train_split, fields=fields, optional_fields=optional)
    check_keypoints(base, read_keypoints(base))
    check_visibility_source(base, config.visibility)
    train_idx = np.arange(len(base))
    rng = np.random.default_rng(config.seed)
    with_val = [r for r in config.data if has_split(r, config.val_split)]
    if with_val:
        val_base = ShardDataset(with_val, splits=config.val_split, fields=fields, optional_fields=optional)
        check_keypoints(val_base, read_keypoints(val_base))
        check_visibility_source(val_base, config.visibility)
        val_idx = np.arange(len(val_base))
        say(f"validation: the {config.val_split!r} split of {len(with_val)} dataset(s)")
    else:
        val_base = base
        held = rng.permutation(len(base))[: max(1, int(round(config.val_fraction * len(base))))]
        train_idx = np.setdiff1d(train_idx, held)
        val_idx = np.sort(held)
        say(f"validation: {len(held)} samples held out of the training split (no {config.val_split!r} split)")
    if len(val_idx) > config.val_max:
        val_idx = np.sort(rng.choice(val_idx, config.val_max, replace=False))
    sources = base.labels["source"][train_idx].astype(np.int64)
    return PoseDataset(base, train_idx, config, train=True), PoseDataset(val_base, val_idx, config, train=False), sources


# What a continued run may change: how long and where it runs, and where the initial weights came from.
RESUME_MAY_CHANGE = ("epochs", "workers", "device", "model.pretrained")


def train_pose(config: PoseConfig, out_dir: str | Path, resume: bool = True, say=print, max_steps: int | None = None) -> list[dict]:
    """Train (or continue training) a pose network into `out_dir`. Returns the per-epoch history."""
    check_run_dir(out_dir, config, resume, RESUME_MAY_CHANGE)
    device = select_device(config.device)
    dist = init_distributed(device)
    seed_everything(config.seed, dist.rank)
    say = say if dist.is_main else (lambda *_: None)
    train_set, val_set, sources = build_datasets(config, say)
    sampler = MixedSampler(sources, config.weights or None, config.samples_per_epoch, config.seed, dist.rank,
                           dist.world_size)
    # workers started each epoch, seeded from torch's state then: what a checkpoint restores (persistent
    # workers would carry their own streams across epochs, and a resumed run would differ)
    loader_kw = dict(num_workers=config.workers, pin_memory=device.type == "cuda", persistent_workers=False)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, drop_last=True, **loader_kw)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, **loader_kw)
    if len(train_loader) == 0:
        raise ValueError(f"{len(sampler)} training samples per process: fewer than one batch of {config.batch_size}")

    fresh = not (Path(out_dir) / CHECKPOINT_DIR / LAST).exists()
    model = build_pose_model(config.model, load_pretrained=fresh, say=say)
    if fresh and dist.is_main:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_weights_record(Path(out_dir), config.model.backbone, model.weights_source)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), config.lr_factor)

    def validate(net, epoch):
        pred, gt = predict_loader(net, val_loader, device, config.model.input_size, config.flip_test)
        return pose_accuracy(pred, gt)

    engine = Engine(model, optimizer, out_dir, step_fn=_step, scheduler=scheduler, config=config,
                    arch_name=ARCH_NAME, arch=architecture(config.model), validate_fn=validate, metric=METRIC,
                    metric_mode="max", device=device, amp=config.amp, dist=dist,
                    # timm's features_only HRNet keeps the lower-resolution heads we do not read out
                    find_unused_parameters=True)
    if resume and engine.resume():
        say(f"resuming from epoch {engine.epoch + 1} ({out_dir}, after epoch {engine.epoch}; random states restored)")
    say(f"training {config.model.backbone} on {device}: {len(train_set)} training / {len(val_set)} validation "
        f"samples, {len(sampler)} per epoch per process, {config.epochs} epochs")
    return engine.fit(train_loader, config.epochs, max_steps=max_steps)
