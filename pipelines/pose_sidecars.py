"""Missing pose sidecars written with a pose network before a ReID run reads them. The data layer only checks
sidecars (synth.datasets.sidecar); running the pose network over a dataset is this pipeline's work."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from synth.datasets import ShardReader
from synth.datasets.sidecar import ALL_FIELDS, missing_sidecars
from train.pose.predict import predict_pose
from train.reid.config import ReidConfig

log = logging.getLogger(__name__)


def make_missing_sidecars(data_dirs: Sequence[str | Path], pose_model: str | Path | None,
                          splits: Sequence[str] | None = None, fields: Sequence[str] = ALL_FIELDS) -> list[Path]:
    """Sidecars for every dataset directory in which a shard of `splits` (default: all) lacks one, predicted
    with the pose run `pose_model` (predict-pose skips the shards that have a complete one). Nothing without a
    pose run: the ReID data then names the missing sidecar. A sidecar that exists but lacks one of `fields` (the
    ones the ReID configuration reads) is an error naming it: an imported keypoints-only sidecar is not
    overwritten with predictions. Returns the sidecars written."""
    if pose_model is None:
        return []
    missing = missing_sidecars(ShardReader(list(data_dirs), splits, fields=("vehicle_id",)).sidecars(), fields)
    written = []
    for root in sorted({path.parent for path in missing}):
        log.info("writing pose sidecars for %s with %s", root, pose_model)
        written += predict_pose(pose_model, [root])
    return written


def sidecars_for(config: ReidConfig, data_dirs: Sequence[str | Path], splits: Sequence[str] | None = None) -> None:
    """What a ReID configuration needs before its data is read: sidecars made with its `pose_model` when its
    inputs use pose (heatmaps, segments or keypoints)."""
    if config.needs_pose():
        make_missing_sidecars(data_dirs, config.pose_model, splits, config.pose_fields())
