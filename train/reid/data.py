"""ReID data: samples of dataset directories as network inputs, with pose channels and keypoints.

One item is the image stretched to the input size (docs/REID.md: no aspect-preserving crop, as the paper), its 36
heatmaps or 13 segment masks on a small grid registered to that input (`channel_size`, 64 x 64 by default:
the network upsamples them to the input size on the device, see `model.stack_channels`, which keeps the
loaders' work and the host-to-device traffic 16 times smaller than shipping 256 x 256 maps), plus the 108
normalised keypoint values.
Training views get the paper's augmentation through `train.transforms`, applied to the image, its channels
and its keypoints together:

- random resize-crop (p = `crop_prob`, 0.5): the image is enlarged `crop_scale` times and a random input-size window is
  kept (torchreid's Random2DTranslation), i.e. a random sub-box of side 1/crop_scale is stretched onto the
  input;
- horizontal flip (p = `flip_prob`) swapping left/right keypoints, heatmap channels and segment channels;
- random erasing (p = `erase_prob`) of the RGB channels only: it stands for an occluder the pose network did
  not see, so the pose channels and keypoints are left as they were.

Normalisation: RGB with ImageNet mean/std; heatmap/segment channels in [0, 1] (the network normalises them
with mean 0.449, std 0.226);
keypoints (x / W - 0.5, y / H - 0.5, confidence - 0.5) in the input's pixels. Keypoint confidences are kept
when a keypoint leaves the crop: its coordinates then fall just outside [-0.5, 0.5], which says so.

Identities are dense indices over (dataset directory, vehicle_id), so datasets with overlapping ids stay
apart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from train.data import ShardDataset
from synth.datasets.manifest import read_manifest
from synth.datasets.schema import DatasetError
from synth.datasets.sidecar import (ALL_FIELDS, HEATMAP_SCALE as SIDECAR_HEATMAP_SCALE, missing_sidecars,
                                   write_label_sidecars)
from train import transforms as T
from train.reid.config import ReidConfig

HEATMAP_SCALE = float(SIDECAR_HEATMAP_SCALE)  # sidecar heatmaps are stored x255 as uint8


def check_pose_sidecars(dataset: ShardDataset, fields: Sequence[str] = ALL_FIELDS) -> None:
    """A clear error when the dataset's shards lack pose sidecars complete for `fields`. Making them with a pose
    network is a pipeline's work (pipelines.pose_sidecars), not the data module's."""
    missing = missing_sidecars(dataset.sidecars(), fields)
    if missing:
        raise DatasetError(
            missing[0],
            f"pose sidecar missing ({len(missing)} of {len(dataset.shards)} shards lack one); this configuration "
            "needs keypoints/heatmaps/segments: run `cli.py predict-pose` on the dataset or pass --pose-model RUN",
        )


def write_label_pose_sidecars(root: str | Path, heatmap_hw: tuple[int, int] = (64, 64), sigma: float = 2.0) -> list[Path]:
    """Oracle pose sidecars from the ground-truth keypoints: synth.datasets.sidecar.write_label_sidecars."""
    return write_label_sidecars(root, heatmap_hw, sigma)


# --- one view ----------------------------------------------------------------------------------------------


def crop_box(image_hw: tuple[int, int], rng: np.random.Generator, crop_scale: float) -> tuple[float, ...]:
    """A random sub-box (pixel edges) of side 1/crop_scale of the image."""
    h, w = image_hw
    cw, ch = w / crop_scale, h / crop_scale
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    return (x0, y0, x0 + cw, y0 + ch)


def make_view(item: dict, config: ReidConfig, rng: np.random.Generator | None) -> dict:
    """The (augmented when `rng` is given) view of one dataset item at the input size, still numpy:
    image (H, W, 3) uint8, keypoints (36, 3) x, y, confidence, optional heatmaps/segments (C, h, w) float
    in [0, 1] on the `channel_size` grid registered to the input image."""
    image = item["image"]
    view: dict = {"image": image}
    if "pose_keypoints" in item:
        view["keypoints"] = np.nan_to_num(np.asarray(item["pose_keypoints"], np.float32))
    if config.inputs == "heatmaps":
        view["heatmaps"] = item["pose_heatmaps"].astype(np.float32) / HEATMAP_SCALE
    elif config.inputs == "segments":
        view["segments"] = item["pose_segments"].astype(np.float32)
    out_hw = tuple(config.image_size)
    box = (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
    if rng is not None and config.crop_scale > 1 and rng.random() < config.crop_prob:
        box = crop_box(image.shape[:2], rng, config.crop_scale)
    view = T.warp(view, T.stretch_matrix(box, out_hw), out_hw, channel_hw=tuple(config.channel_size), outside=None)
    if rng is not None:
        if rng.random() < config.flip_prob:
            view = T.hflip(view)
        if rng.random() < config.erase_prob:
            view = T.random_erase(view, rng)
    return view


def normalise_keypoints(keypoints: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(36, 3) x, y, confidence in input pixels -> 108 values in about [-0.5, 0.5] (docs/REID.md)."""
    h, w = image_hw
    out = np.asarray(keypoints, np.float32).copy()
    out[:, 0] = out[:, 0] / w - 0.5
    out[:, 1] = out[:, 1] / h - 0.5
    out[:, 2] = out[:, 2] - 0.5
    return out.reshape(-1)


def view_to_tensors(view: dict, config: ReidConfig) -> dict[str, torch.Tensor]:
    """`image` (3, H, W) ImageNet-normalised, `channels` (E, h, w) float16 in [0, 1] when the configuration
    has extra inputs, `keypoints` (108,) when it uses keypoints."""
    out = {"image": T.to_tensor(view["image"])}
    channels = view.get("heatmaps", view.get("segments"))
    if channels is not None:
        out["channels"] = torch.from_numpy(np.ascontiguousarray(channels, np.float16))
    if config.keypoints:
        out["keypoints"] = torch.from_numpy(normalise_keypoints(view["keypoints"], view["image"].shape[:2]))
    return out


# --- the dataset -------------------------------------------------------------------------------------------


class ReidDataset(Dataset):
    """Network-ready items of the given splits: `image` (3, H, W), optional `channels` (E, h, w) and
    `keypoints` (108), `pid` (dense
    identity), `color_id`, `type_id`, `camera_id` (as stored), `index` (into the underlying ShardDataset)."""

    def __init__(self, roots: Sequence[str | Path], splits, config: ReidConfig, train: bool = False):
        self.config, self.train = config, train
        self.base = ShardDataset(roots, splits, fields=("image",), with_pose=config.pose_fields())
        if config.needs_pose():
            check_pose_sidecars(self.base, config.pose_fields())
        self.pids = self.base.identities()
        self.labels = self.base.labels

    @property
    def num_identities(self) -> int:
        return int(self.pids.max()) + 1 if len(self.pids) else 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        item = self.base[index]
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item())) if self.train else None
        out = view_to_tensors(make_view(item, self.config, rng), self.config)
        out.update(
            pid=int(self.pids[index]), color_id=int(self.labels["color_id"][index]),
            type_id=int(self.labels["type_id"][index]), camera_id=int(self.labels["camera_id"][index]), index=index,
        )
        return out


def check_training_identities(dataset: ReidDataset, config: ReidConfig) -> None:
    """Clear errors for data that cannot train a ReID network."""
    where = ", ".join(str(r) for r in dataset.base.roots)
    if len(dataset) == 0 or dataset.num_identities == 0:
        raise DatasetError(where, f"no identities in splits {config.train_splits}")
    if dataset.num_identities < 2:
        raise DatasetError(where, f"one identity in splits {config.train_splits}: a ReID network learns to tell "
                                  "identities apart and needs at least two (a 1-class classifier learns nothing)")
    counts = np.bincount(dataset.pids)
    if counts.max() < 2:
        raise DatasetError(where, f"every identity has one image ({len(counts)} identities): ReID needs several images per identity")
    if dataset.num_identities < config.p:
        raise DatasetError(where, f"{dataset.num_identities} identities, fewer than the P={config.p} a batch needs")


def data_sources(roots: Sequence[str | Path]) -> list[str]:
    return [str(read_manifest(r).get("source", "unknown")) for r in roots]
