"""Feature extraction (`cli.py extract-reid`): a trained ReID run's features and colour/type predictions for every
query and gallery image of a dataset, as an `eval.features.FeatureSet` (what `cli.py evaluate-reid` reads).

The run's saved config rebuilds the network (backbone, inputs, keypoints, heads); the checkpoint's
architecture signature must match it, so weights from another configuration or another kind of model are
refused with an error naming the file.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from eval.features import FeatureSet
from train.device import amp_enabled, autocast, select_device
from train.engine import (
    CHECKPOINT_DIR,
    INITIAL,
    CheckpointError,
    architecture_signature,
    check_signature,
    find_checkpoint,
    load_checkpoint,
)
from train.reid.config import ReidConfig
from train.reid.data import ReidDataset
from train.reid.model import ReidNet
from train.reid.train import ARCH_NAME, build_validation, eval_loader, predict

log = logging.getLogger(__name__)


def load_reid_model(run_or_checkpoint: str | Path, device: torch.device | str = "cpu", which: str = "best"):
    """(model in eval mode on `device`, its ReidConfig, the checkpoint path) from a run directory or file.
    `which`: "best", "last", or "initial" (the network before training: the untrained baseline)."""
    if which not in ("best", "last", "initial"):
        raise ValueError(f"which must be best, last or initial, got {which!r}")
    if which == "initial" and Path(run_or_checkpoint).is_dir():
        path = Path(run_or_checkpoint) / CHECKPOINT_DIR / INITIAL
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no initial checkpoint in this run")
    else:
        path = find_checkpoint(run_or_checkpoint, which)
    state = load_checkpoint(path)
    signature = state.get("signature") or {}
    if signature.get("name") != ARCH_NAME:
        raise CheckpointError(path, f"not a ReID checkpoint (model {signature.get('name')!r}, expected {ARCH_NAME!r})")
    config = ReidConfig.from_dict(state.get("config") or {}, where=f"{path} [config]")
    model = ReidNet(config.arch(config.num_identities), pretrained=False)
    expected = architecture_signature(model, ARCH_NAME, config.arch(config.num_identities).signature())
    check_signature(signature, expected, path)
    model.load_state_dict(state["model"])
    device = torch.device(device) if not isinstance(device, torch.device) else device
    return model.to(device).eval(), config, path


def extract_features(
    run_dir: str | Path,
    data_dirs: str | Path | Sequence[str | Path],
    splits: Sequence[str] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    workers: int = 0,
    which: str = "best",
    pose_model: str | None = None,
    progress: bool = True,
    prepare: Callable[[ReidConfig, list[Path]], None] | None = None,
):
    """Run the ReID network of `run_dir` over `data_dirs` and return a FeatureSet.

    `splits`: the query and gallery splits (default: `query` + `gallery`, or, for data with only a `val`
    split, that split with each identity's first image as the query and query/gallery as cameras 0/1, as
    in training-time validation). With several dataset directories the vehicle ids are the dense
    (directory, vehicle_id) identities, so ids of different datasets never match. `prepare(config, roots)` runs
    before the data is read (pipelines.reid makes missing pose sidecars with `pose_model` there; here
    `pose_model` is only recorded in the features' config).
    """

    roots = [Path(data_dirs)] if isinstance(data_dirs, (str, Path)) else [Path(d) for d in data_dirs]
    dev = select_device(device)
    model, config, checkpoint = load_reid_model(run_dir, dev, which)
    config = config.replace(eval_batch_size=batch_size or config.eval_batch_size, pose_model=pose_model, val_splits=["val", "query", "gallery"])
    if prepare is not None:
        prepare(config, roots)
    if splits is not None:
        splits = list(splits)
        if len(splits) != 2:
            raise ValueError(f"splits must name a query and a gallery split, got {splits}")
        dataset = ReidDataset(roots, splits, config, train=False)
        shard_split = np.array(dataset.base.shard_split)[dataset.base._shard_of]
        is_query = shard_split == splits[0]
        cameras = dataset.labels["camera_id"].astype(np.int64)
    else:
        validation = build_validation(config, roots)
        if validation is None:
            raise ValueError(f"{', '.join(map(str, roots))}: no query/gallery or val split to extract features from")
        dataset, is_query, cameras = validation.dataset, validation.is_query, validation.camera_ids
    with autocast(dev, amp_enabled(dev, config.amp)):
        out = predict(model, eval_loader(dataset, config, workers, dev), dev, progress=progress)
    idx = out["index"]
    names = _image_names(dataset.base, idx)
    labels = dataset.labels
    vehicle_id = labels["vehicle_id"][idx] if len(roots) == 1 else dataset.pids[idx]
    return FeatureSet(
        features=out["features"], vehicle_id=vehicle_id, camera_id=cameras[idx],
        split=np.where(is_query[idx], "query", "gallery"), image_name=np.asarray(names),
        color_pred=out["color_pred"] if config.multitask else None,
        type_pred=out["type_pred"] if config.multitask else None,
        color_id=labels["color_id"][idx], type_id=labels["type_id"][idx],
        dataset_dir=str(roots[0]) if len(roots) == 1 else None,
        meta={"run": str(run_dir), "checkpoint": str(checkpoint), "name": config.name,
              "data_dirs": [str(r) for r in roots], "config": config.to_dict()},
    ).validate(str(run_dir))


def _image_names(dataset, indices: np.ndarray) -> list[str]:
    """Image names of the given samples, from the reader's name column (no image decoding)."""
    return dataset.column("image_name")[np.asarray(indices, dtype=np.int64)].tolist()
