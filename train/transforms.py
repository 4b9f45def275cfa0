"""Joint augmentation of an image, its 36 keypoints and optional per-keypoint / per-segment channels.

A *view* is a dict with
- `image`: (H, W, 3) uint8 RGB;
- `keypoints`: (36, 3) float32 in image pixels (x, y, then a visibility code or a confidence);
- optionally `heatmaps` (36, h, w) and/or `segments` (13, h, w): maps registered to the whole image at any
  resolution (pixel-centre convention, synth/vocabulary.py); uint8 or float.
Every function takes a view and returns a new one (inputs are not modified). Geometry is one affine matrix
(2x3, image pixels -> output pixels) applied to everything, so keypoints move exactly with the pixels.

Functions:
- `crop_matrix(box, out_hw, scale=1, rotation=0, shift=(0, 0), padding=1.25)`: the affine that maps a box
  (x0, y0, x1, y1), grown to the output's aspect ratio and by `padding`, onto the output, with extra zoom
  (`scale` > 1 shows more context), rotation in degrees (counter-clockwise on screen) and shift (fractions
  of the box size).
- `stretch_matrix(src_box, out_hw)`: maps a box onto the output without keeping the aspect ratio (ReID's
  resize / random-resize-crop).
- `warp(view, matrix, out_hw, channel_hw=None, outside=0.0, border=(0,0,0))`: applies the affine to the image
  (bilinear), keypoints (exact) and channels (bilinear for float, nearest for integer maps), output channels
  at `channel_hw` (default `out_hw`). Keypoints that land outside the output get column 2 set to `outside`
  (visibility code 0 = "not in the image"; pass None to keep the column).
- `warp_maps(maps, matrix, image_hw, out_hw, out_channel_hw)`: the channel part of `warp` on its own.
- `hflip(view)`: mirror, swapping left/right keypoints, heatmap channels and segment channels.
- `color_jitter(view, rng, brightness, contrast, saturation, hue)`: photometric only.
- `random_erase(view, rng, area=(0.02, 0.2), aspect=(0.3, 3.3), mark_occluded=False)`: paints a random-noise
  rectangle (occlusion). Keypoints are left alone unless `mark_occluded`, which turns visible (code 2) keypoints
  under the rectangle into occluded (code 1): only meaningful when column 2 holds visibility codes.
- `to_tensor(image, mean, std)`: (3, H, W) float tensor, ImageNet-normalised by default.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from synth.vocabulary import VIS_OCCLUDED, VIS_VISIBLE, flip_keypoint_channels, flip_keypoints, flip_segment_channels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_KEYS = ("heatmaps", "segments")


def _copy(view: dict) -> dict:
    return dict(view)


# --- geometry ----------------------------------------------------------------------------------------------


def crop_matrix(
    box,
    out_hw: tuple[int, int],
    scale: float = 1.0,
    rotation: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    padding: float = 1.25,
) -> np.ndarray:
    """2x3 affine from image pixels to output pixels for an aspect-preserving crop around `box` (x0, y0, x1,
    y1 in pixel coordinates, e.g. a keypoint box; its centre maps to the output centre)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    out_h, out_w = out_hw
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    aspect = out_w / out_h
    if w / h > aspect:  # grow the short side so the crop has the output's aspect ratio
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * padding * scale, h * padding * scale
    cx = (x0 + x1) / 2 + shift[0] * (x1 - x0)
    cy = (y0 + y1) / 2 + shift[1] * (y1 - y0)
    zoom = out_w / w
    # In pixel-centre coordinates the crop's centre (cx, cy) maps to the output's centre ((W-1)/2, (H-1)/2).
    theta = math.radians(rotation)
    c, s = math.cos(theta) * zoom, math.sin(theta) * zoom
    # y points down, so a positive (counter-clockwise on screen) rotation uses +s for x's y-term.
    linear = np.array([[c, s], [-s, c]])
    offset = np.array([(out_w - 1) / 2, (out_h - 1) / 2]) - linear @ np.array([cx, cy])
    return np.concatenate([linear, offset[:, None]], axis=1)


def stretch_matrix(src_box, out_hw: tuple[int, int]) -> np.ndarray:
    """2x3 affine mapping the box (x0, y0, x1, y1; pixel edges, e.g. (0, 0, W, H) for a whole image) onto
    the output, each axis scaled on its own."""
    x0, y0, x1, y1 = (float(v) for v in src_box)
    out_h, out_w = out_hw
    sx, sy = out_w / (x1 - x0), out_h / (y1 - y0)
    # Pixel edges: output x' + 0.5 = (x + 0.5 - x0) * sx.
    return np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    return xy @ matrix[:, :2].T + matrix[:, 2]


def _resample_matrix(src_hw, dst_hw) -> np.ndarray:
    """3x3 pixel-centre scaling from a (src_hw) grid to a (dst_hw) grid covering the same area."""
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def channel_matrix(matrix: np.ndarray, image_hw, channel_hw, out_hw, out_channel_hw) -> np.ndarray:
    """The image-space affine re-expressed between a channel grid registered to the image and an output
    channel grid registered to the output."""
    to_image = np.linalg.inv(_resample_matrix(image_hw, channel_hw))
    full = _resample_matrix(out_hw, out_channel_hw) @ np.vstack([matrix, [0, 0, 1]]) @ to_image
    return full[:2]


def warp(
    view: dict,
    matrix: np.ndarray,
    out_hw: tuple[int, int],
    channel_hw: tuple[int, int] | None = None,
    outside: float | None = 0.0,
    border=(0, 0, 0),
) -> dict:
    out = _copy(view)
    image = view["image"]
    image_hw = image.shape[:2]
    out_h, out_w = out_hw
    out["image"] = cv2.warpAffine(
        image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border,
    )
    if "keypoints" in view and view["keypoints"] is not None:
        kps = np.array(view["keypoints"], dtype=np.float32, copy=True)
        kps[:, :2] = apply_affine(matrix, kps[:, :2])
        if outside is not None:
            x, y = kps[:, 0], kps[:, 1]
            with np.errstate(invalid="ignore"):
                out_of_frame = ~((x >= -0.5) & (x <= out_w - 0.5) & (y >= -0.5) & (y <= out_h - 0.5))
            kps[out_of_frame & np.isfinite(x), 2] = outside
        out["keypoints"] = kps
    for key in CHANNEL_KEYS:
        if view.get(key) is not None:
            out[key] = warp_maps(view[key], matrix, image_hw, out_hw, channel_hw or out_hw)
    return out


def warp_maps(maps: np.ndarray, matrix: np.ndarray, image_hw, out_hw, out_channel_hw) -> np.ndarray:
    """Warp maps (C, h, w) registered to an image of `image_hw` by the image affine `matrix` onto an
    `out_channel_hw` grid registered to the `out_hw` output (bilinear for float, nearest for integer maps)."""
    m = channel_matrix(matrix, image_hw, maps.shape[-2:], out_hw, out_channel_hw)
    interp = cv2.INTER_NEAREST if np.issubdtype(maps.dtype, np.integer) else cv2.INTER_LINEAR
    stack = np.moveaxis(maps, 0, -1)
    # cv2 warps at most 4 channels per call.
    chunks = [
        cv2.warpAffine(np.ascontiguousarray(stack[..., i:i + 4]), m, (out_channel_hw[1], out_channel_hw[0]),
                       flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        for i in range(0, stack.shape[-1], 4)
    ]
    chunks = [c[..., None] if c.ndim == 2 else c for c in chunks]
    return np.moveaxis(np.concatenate(chunks, axis=-1), -1, 0).astype(maps.dtype, copy=False)


def hflip(view: dict) -> dict:
    out = _copy(view)
    width = view["image"].shape[1]
    out["image"] = np.ascontiguousarray(view["image"][:, ::-1])
    if view.get("keypoints") is not None:
        out["keypoints"] = flip_keypoints(view["keypoints"], width).astype(np.float32)
    if view.get("heatmaps") is not None:
        out["heatmaps"] = flip_keypoint_channels(view["heatmaps"])
    if view.get("segments") is not None:
        out["segments"] = flip_segment_channels(view["segments"])
    return out


# --- photometric -------------------------------------------------------------------------------------------


def color_jitter(
    view: dict,
    rng: np.random.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.3,
    hue: float = 0.0,
) -> dict:
    """Random brightness/contrast/saturation factors in [1 - a, 1 + a] and a hue shift in [-hue, hue]
    (fraction of the colour circle), applied in random order like torchvision's ColorJitter."""
    out = _copy(view)
    img = view["image"].astype(np.float32)
    ops = rng.permutation(4)
    for op in ops:
        if op == 0 and brightness > 0:
            img = img * rng.uniform(1 - brightness, 1 + brightness)
        elif op == 1 and contrast > 0:
            mean = (img @ np.array([0.299, 0.587, 0.114], np.float32)).mean()
            img = (img - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
        elif op == 2 and saturation > 0:
            grey = (img @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
            img = (img - grey) * rng.uniform(1 - saturation, 1 + saturation) + grey
        elif op == 3 and hue > 0:
            hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.int32)
            hsv[..., 0] = (hsv[..., 0] + int(round(rng.uniform(-hue, hue) * 180))) % 180
            img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out["image"] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def random_erase(
    view: dict,
    rng: np.random.Generator,
    area: tuple[float, float] = (0.02, 0.2),
    aspect: tuple[float, float] = (0.3, 3.3),
    mark_occluded: bool = False,
) -> dict:
    """Random erasing (occlusion) with uniform noise. Returns the view unchanged when no rectangle fits."""
    out = _copy(view)
    image = view["image"]
    h, w = image.shape[:2]
    for _ in range(10):
        target = rng.uniform(*area) * h * w
        ratio = math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1])))
        eh, ew = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
        if 0 < eh < h and 0 < ew < w:
            y0, x0 = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            erased = image.copy()
            erased[y0:y0 + eh, x0:x0 + ew] = rng.integers(0, 256, (eh, ew, image.shape[2]), dtype=np.uint8)
            out["image"] = erased
            if mark_occluded and view.get("keypoints") is not None:
                kps = np.array(view["keypoints"], dtype=np.float32, copy=True)
                with np.errstate(invalid="ignore"):
                    inside = ((kps[:, 0] >= x0 - 0.5) & (kps[:, 0] < x0 + ew - 0.5)
                              & (kps[:, 1] >= y0 - 0.5) & (kps[:, 1] < y0 + eh - 0.5))
                kps[inside & (kps[:, 2] == VIS_VISIBLE), 2] = VIS_OCCLUDED
                out["keypoints"] = kps
            return out
    return out


# --- tensors -----------------------------------------------------------------------------------------------


def to_tensor(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=t.dtype)[:, None, None]
    std_t = torch.tensor(std, dtype=t.dtype)[:, None, None]
    return t.sub_(mean_t).div_(std_t)
