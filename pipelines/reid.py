"""ReID pipelines: training, feature extraction and evaluate-a-model, each with the pose sidecars its inputs
need made first (pipelines.pose_sidecars), then the trainer's (train.reid) and the evaluator's (eval) work.

The trainer and the extractor are called through their modules (`reid_training.train_reid`), so a test may
replace them there."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from eval.evaluate import METRICS_FILE, EvalOptions, evaluate_feature_set, to_json, write_text
from eval.features import FeatureSet
from pipelines.pose_sidecars import make_missing_sidecars
from train.device import barrier, init_distributed, select_device
from train.reid import extract as reid_extract
from train.reid import train as reid_training
from train.reid.config import ReidConfig


def train_reid(config: ReidConfig, data_dirs: Sequence[str | Path], out_dir: str | Path,
               val_dirs: Sequence[str | Path] | None = None, resume: bool = True, progress: bool = True) -> dict:
    """`train.reid.train.train_reid`, after the main process has written the missing pose sidecars of the
    training and validation data with `config.pose_model` (the other processes wait for them)."""
    if config.needs_pose() and config.pose_model and data_dirs:
        dist = init_distributed(select_device(config.device))
        if dist.is_main:
            make_missing_sidecars(data_dirs, config.pose_model, config.train_splits, config.pose_fields())
            make_missing_sidecars(val_dirs or data_dirs, config.pose_model, fields=config.pose_fields())
        barrier(dist)
    return reid_training.train_reid(config, data_dirs, out_dir, val_dirs=val_dirs, resume=resume, progress=progress)


def extract_features(run_dir: str | Path, data_dirs, splits: Sequence[str] | None = None, *,
                     pose_model: str | Path | None = None, **options) -> FeatureSet:
    """`train.reid.extract.extract_features`, with the missing pose sidecars of the splits read written first by
    `pose_model` when the run's inputs use pose."""
    def prepare(config: ReidConfig, roots: list[Path]) -> None:
        if config.needs_pose():
            make_missing_sidecars(roots, pose_model, splits or config.val_splits, config.pose_fields())

    return reid_extract.extract_features(run_dir, data_dirs, splits, pose_model=pose_model,
                                         prepare=prepare if pose_model else None, **options)


def evaluate_model(run_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
                   options: EvalOptions | None = None) -> dict:
    """Extract features of a dataset's query and gallery splits with a trained ReID run, then evaluate them
    (eval.evaluate.evaluate_feature_set); the features are kept as `features.npz` in `out_dir`."""
    run_dir, data_dir, out_dir = Path(run_dir), Path(data_dir), Path(out_dir)
    if not run_dir.exists():
        raise FileNotFoundError(f"{run_dir}: run directory not found")
    fs = reid_extract.extract_features(run_dir, [data_dir], splits=("query", "gallery"))
    if not isinstance(fs, FeatureSet):
        raise TypeError(f"extract_features returned {type(fs).__name__}, expected eval.features.FeatureSet")
    fs.dataset_dir = fs.dataset_dir or str(data_dir)
    fs.meta.setdefault("run_dir", str(run_dir))
    fs.save(out_dir / "features.npz")
    options = options or EvalOptions()
    options.name = options.name or run_dir.name
    metrics = evaluate_feature_set(fs, out_dir, options)
    metrics["outputs"]["features"] = "features.npz"
    write_text(out_dir / METRICS_FILE, to_json(metrics) + "\n")
    return metrics
