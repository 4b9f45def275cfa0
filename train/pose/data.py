"""Pose training data: labelled keypoints from dataset directories, crops with augmentation, Gaussian targets,
and the sampler that mixes datasets with per-dataset weights.

The network input is the whole image grown to a square by `padding` (docs/POSE.md; ReID images are vehicle crops,
and `predict-pose` sees exactly that), so training crops are that same box jittered in scale, rotation and
position. Targets (docs/POSE.md): Gaussian heatmaps with sigma 2 (heatmap pixels), MSE weighted by visibility.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from synth import vocabulary as vocab
from synth.datasets import DatasetError, read_manifest
from synth.datasets.manifest import open_shard
from train.data import ShardDataset
from train import transforms as T
from train.pose.config import VISIBILITY_SOURCES, PoseConfig
from train.pose.model import STRIDE


def image_box(image_hw) -> tuple[float, float, float, float]:
    """The whole image as a box in pixel coordinates (pixel edges around the pixel centres)."""
    h, w = image_hw
    return (-0.5, -0.5, w - 0.5, h - 0.5)


def input_matrix(image_hw, input_size: int, padding: float, scale=1.0, rotation=0.0, shift=(0.0, 0.0)) -> np.ndarray:
    """Affine from image pixels to network-input pixels."""
    return T.crop_matrix(image_box(image_hw), (input_size, input_size), scale, rotation, shift, padding)


def keypoint_weights(keypoints: np.ndarray, train_occluded: bool) -> np.ndarray:
    """Per-keypoint loss weight (36,) float32: visible keypoints, plus occluded ones when asked."""
    codes = np.nan_to_num(keypoints[:, 2], nan=0.0)
    keep = codes >= vocab.VIS_OCCLUDED if train_occluded else codes == vocab.VIS_VISIBLE
    keep &= np.all(np.isfinite(keypoints[:, :2]), axis=1)
    return keep.astype(np.float32)


def labelled_keypoints(item: dict, visibility: str) -> np.ndarray:
    """A sample's (36, 3) keypoints with the visibility codes `visibility` (PoseConfig) asks for: the stored
    geometric codes, or the annotator-model codes where the sample has them (real labels have only theirs)."""
    keypoints = np.array(item["keypoints"], np.float32)
    if visibility == "annotator" and "annotator_visibility" in item:
        keypoints[:, 2] = item["annotator_visibility"]
    return keypoints


def visibility_fields(visibility: str) -> tuple[str, ...]:
    """The optional shard fields a ShardDataset must read for `visibility` (PoseConfig)."""
    if visibility not in VISIBILITY_SOURCES:
        raise ValueError(f"visibility must be one of {VISIBILITY_SOURCES}, got {visibility!r}")
    return ("annotator_visibility",) if visibility == "annotator" else ()


def heatmap_targets(keypoints: np.ndarray, input_size: int, sigma: float, train_occluded: bool):
    """(36, h, w) float32 Gaussian targets and (36,) weights for keypoints in network-input pixels."""
    weights = keypoint_weights(keypoints, train_occluded)
    size = input_size // STRIDE
    maps = vocab.render_heatmaps(keypoints, (size, size), (input_size, input_size), sigma, mask=weights > 0)
    return maps, weights


# --- labels ------------------------------------------------------------------------------------------------


def read_keypoints(base: ShardDataset) -> np.ndarray:
    """All keypoint labels (N, 36, 3) of a ShardDataset, read column-wise without decoding images."""
    return base.column("keypoints").astype(np.float32)


def check_keypoints(base: ShardDataset, keypoints: np.ndarray) -> None:
    """A dataset directory whose keypoints are all unknown cannot train or evaluate pose: say which."""
    labelled = np.any(np.all(np.isfinite(keypoints[..., :2]), axis=-1) & (np.nan_to_num(keypoints[..., 2]) > 0), axis=1)
    for source, root in enumerate(base.roots):
        mine = base.labels["source"] == source
        if mine.any() and not labelled[mine].any():
            raise DatasetError(root, "no keypoint labels (all NaN or unlabelled): pose needs annotated keypoints",
                               "keypoints")


def check_visibility_source(base: ShardDataset, visibility: str) -> None:
    """With annotator codes asked for, a rendered shard must have them (a real one has only its own codes, the
    annotators'): a render from before schema 2, or with the annotator model off, is named, not silently read
    with its geometric codes."""
    if visibility != "annotator":
        return
    for root, manifest in zip(base.roots, base.manifests):
        if manifest.get("source") != "synthetic":
            continue
        for path in base.shards:
            if path.parent != root:
                continue
            with open_shard(path) as f:  # the data layer names an unreadable shard
                if "annotator_visibility" not in f:
                    raise DatasetError(path, "a rendered shard without annotator codes (rendered before schema 2 "
                                       "or with annotator.enabled off): re-render it or use visibility "
                                       "'geometric'", "annotator_visibility")


def has_split(root: str | Path, split: str) -> bool:
    entry = read_manifest(root)["splits"].get(split)
    return bool(entry and entry.get("num_samples", 0) > 0)


# --- dataset -----------------------------------------------------------------------------------------------


class PoseDataset(Dataset):
    """Crops of `base[indices]` for the pose network. Items: `image` (3, S, S) float, `target` (36, S/4, S/4),
    `weight` (36,), `keypoints` (36, 3) ground truth in image pixels, `matrix` (2, 3) image -> input, `index`.
    With `train=True` the crop is randomly scaled, rotated, shifted, flipped, colour-jittered and occluded."""

    def __init__(self, base: ShardDataset, indices: np.ndarray, config: PoseConfig, train: bool):
        self.base, self.indices, self.config, self.train = base, np.asarray(indices), config, train

    def __len__(self) -> int:
        return len(self.indices)

    def _augment(self, view: dict, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
        aug, size, cfg = self.config.augment, self.config.model.input_size, self.config
        if rng.random() < aug.flip:
            view = T.hflip(view)
        scale = float(np.clip(rng.normal(1.0, aug.scale), 1 - aug.scale, 1 + aug.scale)) if aug.scale else 1.0
        rotation = 0.0
        if aug.rotation and rng.random() < aug.rotation_prob:
            rotation = float(np.clip(rng.normal(0.0, aug.rotation), -2 * aug.rotation, 2 * aug.rotation))
        shift = tuple(rng.uniform(-aug.shift, aug.shift, 2)) if aug.shift else (0.0, 0.0)
        matrix = input_matrix(view["image"].shape[:2], size, cfg.padding, scale, rotation, shift)
        view = T.warp(view, matrix, (size, size))
        if aug.color or aug.hue:
            view = T.color_jitter(view, rng, aug.color, aug.color, aug.color, aug.hue)
        if rng.random() < aug.occlusion:
            # An erased keypoint is occluded like any other: it follows the train_occluded rule.
            view = T.random_erase(view, rng, area=aug.occlusion_area, mark_occluded=True)
        return view, matrix

    def __getitem__(self, i: int) -> dict:
        index = int(self.indices[i])
        item = self.base[index]
        keypoints = labelled_keypoints(item, self.config.visibility)
        view = {"image": item["image"], "keypoints": keypoints}
        size = self.config.model.input_size
        if self.train:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
            view, matrix = self._augment(view, rng)
        else:
            matrix = input_matrix(view["image"].shape[:2], size, self.config.padding)
            view = T.warp(view, matrix, (size, size))
        target, weight = heatmap_targets(view["keypoints"], size, self.config.sigma, self.config.train_occluded)
        return {
            "image": T.to_tensor(view["image"]),
            "target": torch.from_numpy(target),
            "weight": torch.from_numpy(weight),
            "keypoints": torch.from_numpy(keypoints),
            "matrix": torch.from_numpy(matrix.astype(np.float64)),
            "index": index,
        }


# --- dataset mixing ----------------------------------------------------------------------------------------


class MixedSampler(Sampler[int]):
    """Indices into a concatenation of datasets (positions 0..len(sources)-1) drawn so that dataset d makes up
    a share weights[d] / sum(weights) of each epoch, with replacement inside each dataset. Without weights:
    a plain shuffle. Under DDP each rank takes every world_size-th draw of the same seeded sequence, so the
    ranks see disjoint parts of one epoch; call `set_epoch` every epoch (the engine does)."""

    def __init__(self, sources: np.ndarray, weights: list[float] | None, num_samples: int = 0, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.sources = np.asarray(sources)
        num_sources = int(self.sources.max()) + 1 if len(self.sources) else 0
        if weights:
            if len(weights) != num_sources:
                raise ValueError(f"{len(weights)} sampling weights for {num_sources} datasets")
            if any(w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError(f"sampling weights must be >= 0 with a positive sum, got {weights}")
        self.weights = list(weights) if weights else None
        self.num_samples = int(num_samples) or len(self.sources)
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def probabilities(self) -> np.ndarray:
        counts = np.bincount(self.sources, minlength=len(self.weights))
        per_sample = np.asarray(self.weights, np.float64)[self.sources] / np.maximum(counts[self.sources], 1)
        return per_sample / per_sample.sum()

    def _draws(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is None:
            reps = math.ceil(self.num_samples / max(len(self.sources), 1))
            return np.concatenate([rng.permutation(len(self.sources)) for _ in range(reps)])[: self.num_samples]
        return rng.choice(len(self.sources), size=self.num_samples, replace=True, p=self.probabilities())

    def __iter__(self):
        draws = self._draws()
        per_rank = len(draws) // self.world_size
        return iter(draws[self.rank::self.world_size][:per_rank].tolist())

    def __len__(self) -> int:
        return self.num_samples // self.world_size
