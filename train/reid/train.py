"""ReID training (`cli.py train-reid`): P x K batches over one or more dataset directories, the configured
losses, Adam with step decay, AMP on CUDA, checkpoints with the config, resume, DDP under torchrun and periodic
query/gallery validation that keeps the best checkpoint (by mAP).

The loop itself is `train.engine.Engine`; this module assembles data, model, losses and validation for it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from synth.datasets.manifest import read_manifest
from eval.reid_metrics import evaluate_reid
from synth.datasets.schema import DatasetError
from train.device import cleanup_distributed, init_distributed, seed_everything, select_device
from train.engine import Engine, check_run_dir, write_weights_record
from train.reid.config import ReidConfig, data_tag, run_name
from train.reid.data import ReidDataset, check_training_identities, data_sources
from train.reid.losses import ReidLoss
from train.reid.model import ReidNet
from train.reid.samplers import PKBatchSampler

log = logging.getLogger(__name__)

ARCH_NAME = "reid_multitask"


# --- running the network over a dataset --------------------------------------------------------------------


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


@torch.no_grad()
def predict(model: ReidNet, loader: DataLoader, device: torch.device, progress: bool = False) -> dict[str, np.ndarray]:
    """ReID features, colour/type predictions (VeRi ids, 1-based; 0 where the net has no such head) and the
    dataset indices, for every item of `loader`, in loader order."""
    from tqdm import tqdm

    model.eval()
    chunks: dict[str, list[np.ndarray]] = {"features": [], "color_pred": [], "type_pred": [], "index": []}
    for batch in tqdm(loader, desc="features", disable=not progress, leave=False):
        batch = to_device(batch, device)
        out = model(batch["image"], batch.get("keypoints"), batch.get("channels"))
        n = len(batch["image"])
        chunks["features"].append(out["feature"].float().cpu().numpy())
        for key, logits in (("color_pred", "color_logits"), ("type_pred", "type_logits")):
            pred = out[logits].argmax(1) + 1 if logits in out else torch.zeros(n, dtype=torch.long)
            chunks[key].append(pred.cpu().numpy().astype(np.int16))
        chunks["index"].append(batch["index"].cpu().numpy())
    return {k: np.concatenate(v) for k, v in chunks.items()}


def eval_loader(dataset: ReidDataset, config: ReidConfig, workers: int | None = None, device=None) -> DataLoader:
    return DataLoader(
        dataset, batch_size=config.eval_batch_size, shuffle=False,
        num_workers=config.workers if workers is None else workers,
        pin_memory=device is not None and torch.device(device).type == "cuda",
    )


# --- validation --------------------------------------------------------------------------------------------


@dataclass
class Validation:
    """Query/gallery retrieval on held-out identities: a dataset and which of its items are queries."""

    dataset: ReidDataset
    is_query: np.ndarray
    camera_ids: np.ndarray


def _available_splits(roots: Sequence[str | Path]) -> set[str]:
    return {split for root in roots for split in read_manifest(root)["splits"]}


def build_validation(config: ReidConfig, roots: Sequence[str | Path]) -> Validation | None:
    """Query and gallery splits when the data has them; else a `val` split, whose first image of each
    identity is the query and the rest the gallery (with query and gallery counted as different cameras,
    since the split carries no camera protocol of its own). None when neither exists."""
    available = _available_splits(roots) & set(config.val_splits)
    if {"query", "gallery"} <= available:
        dataset = ReidDataset(roots, ["query", "gallery"], config, train=False)
        split_of_shard = np.array(dataset.base.shard_split)[dataset.base._shard_of]
        return Validation(dataset, split_of_shard == "query", dataset.labels["camera_id"].astype(np.int64))
    if "val" in available:
        dataset = ReidDataset(roots, ["val"], config, train=False)
        _, first = np.unique(dataset.pids, return_index=True)
        is_query = np.zeros(len(dataset), bool)
        is_query[first] = True
        return Validation(dataset, is_query, np.where(is_query, 0, 1).astype(np.int64))
    return None


def retrieval_metrics(features: np.ndarray, pids: np.ndarray, cams: np.ndarray, is_query: np.ndarray) -> dict[str, float]:
    """mAP and CMC rank-1/5 of query -> gallery retrieval (Market-1501 protocol; eval/'s implementation),
    Euclidean distance on the ReID feature as in the paper."""
    q, g = is_query, ~is_query
    result = evaluate_reid(features[q], features[g], pids[q], pids[g], cams[q], cams[g], max_rank=5)
    return {"mAP": float(result.mAP), "rank1": result.rank(1), "rank5": result.rank(min(5, len(result.cmc))),
            "skipped_queries": result.num_skipped}


def make_validate_fn(validation: Validation, config: ReidConfig, device: torch.device, workers: int = 0):
    loader = eval_loader(validation.dataset, config, workers, device)

    def validate(model: ReidNet, epoch: int) -> dict[str, float]:
        done = epoch + 1
        if not (config.val_every and (done % config.val_every == 0 or done == config.epochs)):
            return {}
        out = predict(model, loader, device)
        idx = out["index"]
        metrics = retrieval_metrics(out["features"], validation.dataset.pids[idx], validation.camera_ids[idx], validation.is_query[idx])
        labels = validation.dataset.labels
        for key, field in (("color", "color_id"), ("type", "type_id")):
            truth = labels[field][idx]
            known = truth > 0
            if config.multitask and known.any():
                metrics[f"{key}_acc"] = float(np.mean(out[f"{key}_pred"][known] == truth[known]))
        return metrics

    return validate


# --- training ----------------------------------------------------------------------------------------------


# What a continued run may change: how long and where it runs, and where the initial weights came from.
RESUME_MAY_CHANGE = ("epochs", "workers", "device", "val_every", "eval_batch_size", "max_steps_per_epoch", "pose_model",
                     "pretrained", "weights_path")


def train_reid(
    config: ReidConfig,
    data_dirs: Sequence[str | Path],
    out_dir: str | Path,
    val_dirs: Sequence[str | Path] | None = None,
    resume: bool = True,
    progress: bool = True,
) -> dict:
    """Train a ReID network on the `train_splits` of `data_dirs` into `out_dir`; returns a summary with the
    run name, best validation mAP and the per-epoch history."""
    data_dirs = [Path(d) for d in data_dirs]
    if not data_dirs:
        raise ValueError("no dataset directories given (--data)")
    out_dir = Path(out_dir)
    device = select_device(config.device)
    dist = init_distributed(device)
    seed_everything(config.seed, dist.rank)

    train_set = ReidDataset(data_dirs, config.train_splits, config, train=True)
    check_training_identities(train_set, config)
    config = config.replace(
        name=run_name(config, data_tag(data_sources(data_dirs))),
        data_dirs=[str(d.resolve()) for d in data_dirs],
        num_identities=train_set.num_identities,
    )
    check_run_dir(out_dir, config, resume, RESUME_MAY_CHANGE)

    arch = config.arch(train_set.num_identities)
    model = ReidNet(arch, pretrained=config.pretrained, weights_path=config.weights_path)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.milestones), gamma=config.gamma)
    criterion = ReidLoss(config.loss, config.id_weight, config.triplet_weight, config.color_weight,
                         config.type_weight, config.margin, config.label_smoothing)

    def step(net, batch, dev):
        batch = to_device(batch, dev)
        outputs = net(batch["image"], batch.get("keypoints"), batch.get("channels"))
        return criterion(outputs, batch)

    validation = build_validation(config, val_dirs or data_dirs) if config.val_every else None
    if validation is None and config.val_every and dist.is_main:
        log.warning("no validation split (%s) in the data: best.pt follows the last epoch", config.val_splits)
    engine = Engine(
        model, optimizer, out_dir, step_fn=step, scheduler=scheduler, config=config, arch_name=ARCH_NAME,
        arch=arch.signature(), validate_fn=make_validate_fn(validation, config, device) if validation else None,
        metric="mAP" if validation else None, device=device, amp=config.amp, dist=dist, progress=progress,
    )
    if dist.is_main and not (out_dir / "checkpoints" / "last.pt").exists():
        write_weights_record(out_dir, arch.backbone, getattr(model.backbone, "weights_source", None))
    if resume and engine.resume() and dist.is_main:
        log.info("resuming from epoch %d (%s): %d epoch(s) done, random states restored", engine.epoch + 1,
                 out_dir, engine.epoch)

    sampler = PKBatchSampler(train_set.pids, config.p, config.k, config.seed, dist.rank, dist.world_size)
    if len(sampler) == 0:
        raise DatasetError(data_dirs[0], f"too few images for one P x K = {config.p} x {config.k} batch")
    loader = DataLoader(
        train_set, batch_sampler=sampler, num_workers=config.workers, pin_memory=device.type == "cuda",
        # workers started each epoch, seeded from torch's state then: what a checkpoint restores (persistent
        # workers would carry their own streams across epochs, and a resumed run would differ)
        persistent_workers=False,
    )
    history = engine.fit(loader, config.epochs, config.max_steps_per_epoch or None)
    cleanup_distributed(dist)
    return {"name": config.name, "run_dir": str(out_dir), "best_mAP": engine.best, "history": history,
            "main_process": dist.is_main}
