"""Pose inference: heatmaps with flip test, sub-pixel keypoints with confidence, and the `<shard>.pose.h5`
sidecars that the ReID trainer reads (docs/FORMAT.md).

Sidecar heatmaps are registered to the whole image as the ReID network sees it: the network's crop-frame
heatmaps are warped back through the inverse of the crop's affine onto a grid covering the image. The
published code instead stretched the crop-frame heatmaps over the image; `stretched_crop=True` reproduces
that (keypoints stay correct; only the stored heatmaps differ).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from synth import vocabulary as vocab
from train.data import ShardDataset
from synth.datasets.manifest import read_manifest
from synth.datasets.sidecar import HEATMAP_SCALE, MAP_SIZE, is_complete_sidecar, sidecar_path, write_sidecar
from train import transforms as T
from train.device import amp_enabled, autocast, select_device
from train.engine import CheckpointError, find_checkpoint, load_checkpoint, load_model_weights
from train.pose.config import PoseConfig
from train.pose.data import input_matrix
from train.pose.model import ARCH_NAME, PoseHRNet, architecture

SIDECAR_HEATMAP_SIZE = MAP_SIZE  # (N, 36, 64, 64): the sidecar layout, synth/datasets/sidecar.py


# --- heatmaps -> keypoints ---------------------------------------------------------------------------------


def flip_back(heatmaps: torch.Tensor) -> torch.Tensor:
    """Heatmaps predicted on a mirrored input, mirrored back with left/right channels swapped. With pixel
    centres at integers a mirror of the input is exactly a mirror of the stride-4 grid, so no shift is needed."""
    return heatmaps[:, torch.as_tensor(vocab.FLIP_INDEX, device=heatmaps.device)].flip(-1)


@torch.no_grad()
def infer_heatmaps(model: torch.nn.Module, images: torch.Tensor, flip_test: bool = True) -> torch.Tensor:
    heatmaps = model(images).float()
    if flip_test:
        heatmaps = 0.5 * (heatmaps + flip_back(model(images.flip(-1)).float()))
    return heatmaps


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of (B, K, h, w) heatmaps: (B, K, 2) sub-pixel x, y in heatmap pixels and (B, K) peak values.

    Sub-pixel refinement fits a parabola to the log heatmap through the peak and its neighbours on each axis,
    exact for a Gaussian peak; the offset is clipped to half a pixel."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, -1)
    arg = flat.argmax(axis=-1)
    peak = np.take_along_axis(flat, arg[..., None], -1)[..., 0]
    y, x = np.divmod(arg, w)
    log = np.log(np.maximum(heatmaps, 1e-10))
    bi, ki = np.meshgrid(np.arange(b), np.arange(k), indexing="ij")

    def offset(prev, here, nxt):
        denom = prev - 2 * here + nxt
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(denom < 0, 0.5 * (prev - nxt) / denom, 0.0)
        return np.clip(np.nan_to_num(d), -0.5, 0.5)

    inner_x = (x > 0) & (x < w - 1) & (peak > 0)
    inner_y = (y > 0) & (y < h - 1) & (peak > 0)
    xm, xp = np.clip(x - 1, 0, w - 1), np.clip(x + 1, 0, w - 1)
    ym, yp = np.clip(y - 1, 0, h - 1), np.clip(y + 1, 0, h - 1)
    dx = offset(log[bi, ki, y, xm], log[bi, ki, y, x], log[bi, ki, y, xp])
    dy = offset(log[bi, ki, ym, x], log[bi, ki, y, x], log[bi, ki, yp, x])
    coords = np.stack([x + np.where(inner_x, dx, 0.0), y + np.where(inner_y, dy, 0.0)], axis=-1)
    return coords, peak


def keypoints_from_heatmaps(heatmaps: np.ndarray, matrices: np.ndarray, input_size: int) -> np.ndarray:
    """(B, 36, 3) x, y in image pixels and confidence (the peak value) from crop-frame heatmaps and the
    image -> input affines (B, 2, 3) of the crops."""
    coords, peak = decode_heatmaps(heatmaps)
    hm_hw = heatmaps.shape[-2:]
    in_input = vocab.heatmap_to_image_coords(coords, (input_size, input_size), hm_hw)
    out = np.empty((*coords.shape[:2], 3), np.float32)
    for i, matrix in enumerate(np.asarray(matrices, np.float64)):
        out[i, :, :2] = T.apply_affine(T.invert_affine(matrix), in_input[i])
    out[..., 2] = peak
    return out


def heatmaps_to_image(heatmaps: np.ndarray, matrix: np.ndarray, input_size: int, image_hw, out_hw) -> np.ndarray:
    """Crop-frame heatmaps (36, h, w) warped onto an `out_hw` grid registered to the whole image."""
    return T.warp_maps(np.asarray(heatmaps, np.float32), T.invert_affine(matrix), (input_size, input_size),
                       tuple(int(v) for v in image_hw), tuple(out_hw))


# --- sidecars ----------------------------------------------------------------------------------------------


class _Crops(Dataset):
    """The network input for each sample (no augmentation): image tensor, affine, image size."""

    def __init__(self, base: ShardDataset, indices: np.ndarray, input_size: int, padding: float):
        self.base, self.indices, self.input_size, self.padding = base, indices, input_size, padding

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        image = self.base[int(self.indices[i])]["image"]
        matrix = input_matrix(image.shape[:2], self.input_size, self.padding)
        crop = T.warp({"image": image}, matrix, (self.input_size, self.input_size))["image"]
        return {"image": T.to_tensor(crop), "matrix": torch.from_numpy(matrix), "image_hw": torch.tensor(image.shape[:2])}


def load_pose_model(run_or_checkpoint: str | Path, device: torch.device | str = "cpu") -> tuple[PoseHRNet, PoseConfig, Path]:
    """The trained network (eval mode, on `device`), its config, and the checkpoint file used."""
    path = find_checkpoint(run_or_checkpoint)
    state = load_checkpoint(path)
    signature = state.get("signature") or {}
    if signature.get("name") != ARCH_NAME:
        raise CheckpointError(path, f"checkpoint is for a {signature.get('name')!r} model, not a pose network")
    config = PoseConfig.from_dict(state.get("config") or {}, where=f"{path} [config]")
    model = PoseHRNet(config.model.backbone)
    load_model_weights(state, model, ARCH_NAME, architecture(config.model), where=path)
    device = device if isinstance(device, torch.device) else select_device(device)
    return model.to(device).eval(), config, path


def predict_arrays(model, config: PoseConfig, batch: dict, device, flip_test: bool, stretched_crop: bool,
                   amp: bool = False, heatmap_size: int = SIDECAR_HEATMAP_SIZE):
    """Keypoints (B, 36, 3), uint8 heatmaps (B, 36, S, S) and segments (B, 13, S, S) for one batch of crops."""
    with autocast(device, amp):
        crop_maps = infer_heatmaps(model, batch["image"].to(device, non_blocking=True), flip_test)
    crop_maps = crop_maps.float().cpu().numpy()
    matrices = batch["matrix"].numpy()
    size = config.model.input_size
    keypoints = keypoints_from_heatmaps(crop_maps, matrices, size)
    out_hw = (heatmap_size, heatmap_size)
    heatmaps = np.empty((len(crop_maps), vocab.NUM_KEYPOINTS, *out_hw), np.uint8)
    segments = np.empty((len(crop_maps), vocab.NUM_SEGMENTS, *out_hw), np.uint8)
    import cv2

    for i, (maps, matrix, image_hw) in enumerate(zip(crop_maps, matrices, batch["image_hw"].numpy())):
        if stretched_crop:
            registered = np.stack([cv2.resize(m, out_hw[::-1], interpolation=cv2.INTER_LINEAR) for m in maps])
        else:
            registered = heatmaps_to_image(maps, matrix, size, image_hw, out_hw)
        heatmaps[i] = np.round(np.clip(registered, 0.0, 1.0) * 255).astype(np.uint8)
        segments[i] = vocab.rasterise_segments(keypoints[i], out_hw, tuple(int(v) for v in image_hw))
    return keypoints, heatmaps, segments


def predict_pose(
    model_run: str | Path,
    data_dirs,
    batch_size: int = 32,
    device: str = "auto",
    workers: int = 2,
    flip_test: bool | None = None,
    stretched_crop: bool = False,
    overwrite: bool = False,
    say=print,
) -> list[Path]:
    """Write `<shard>.pose.h5` beside every shard of every dataset directory; complete sidecars are skipped
    (so a killed run resumes) unless `overwrite`. Returns the sidecars written."""
    device = select_device(device)
    model, config, checkpoint = load_pose_model(model_run, device)  # fails before anything is written
    flip_test = config.flip_test if flip_test is None else flip_test
    amp = amp_enabled(device, config.amp)
    attrs = {"checkpoint": str(checkpoint), "backbone": config.model.backbone,
             "input_size": config.model.input_size, "flip_test": bool(flip_test), "stretched_crop": bool(stretched_crop),
             "heatmap_scale": HEATMAP_SCALE, "segment_confidence_gate": vocab.SEGMENT_CONFIDENCE_GATE}
    written = []
    for root in [Path(d) for d in ([data_dirs] if isinstance(data_dirs, (str, Path)) else data_dirs)]:
        read_manifest(root)
        base = ShardDataset(root, fields=("image",))
        shard_rows = {str(p): [] for p in base.shards}
        for index in range(len(base)):
            shard_rows[str(base.locate(index)[0])].append(index)
        todo = [(Path(p), rows) for p, rows in shard_rows.items()
                if overwrite or not is_complete_sidecar(sidecar_path(p), len(rows))]
        skipped = len(shard_rows) - len(todo)
        if skipped:
            say(f"{root}: {skipped} shard(s) already have complete pose sidecars, skipped")
        bar = tqdm(total=sum(len(r) for _, r in todo), desc=f"predict-pose {root.name}", unit="img")
        for shard, rows in todo:
            loader = DataLoader(_Crops(base, np.asarray(rows), config.model.input_size, config.padding),
                                batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
            parts = []
            for batch in loader:
                parts.append(predict_arrays(model, config, batch, device, flip_test, stretched_crop, amp))
                bar.update(len(batch["image"]))
            keypoints, heatmaps, segments = (np.concatenate(x) for x in zip(*parts))
            written.append(write_sidecar(sidecar_path(shard), keypoints, heatmaps, segments, **attrs))
        bar.close()
        base.close()
    return written
