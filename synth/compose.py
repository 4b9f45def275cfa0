"""2D half of the renderer: denoise, upsample, composite over the background, paste 2D occluders, apply
camera effects. numpy/OpenCV only; every random choice comes from the sample's description.
"""
from __future__ import annotations

import cv2
import numpy as np

from synth.vocabulary import VIS_OCCLUDED, VIS_VISIBLE


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


_DECODE_8BIT = srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)


def blackbody_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear-RGB tint of a black body at `kelvin`, normalised to max 1 (a fit to CIE data, 1000-40000 K)."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    srgb = np.clip(np.array([r, g, b]) / 255.0, 0, 1)
    lin = srgb_to_linear(srgb)
    return tuple(float(v) for v in lin / lin.max())


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """uint8 straight-alpha RGBA, sRGB colour -> float32 premultiplied RGBA in [0, 1], linear colour (so that
    resizing and compositing mix light, not sRGB codes)."""
    out = np.empty(rgba.shape, np.float32)
    out[..., 3] = rgba[..., 3] * np.float32(1 / 255)
    out[..., :3] = _DECODE_8BIT[rgba[..., :3]] * out[..., 3:4]
    return out


def resize_to(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interp = cv2.INTER_CUBIC if size > image.shape[0] else cv2.INTER_AREA
    return cv2.resize(image, (size, size), interpolation=interp)


def lens_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """The camera's own point spread (lens, demosaicing): a Gaussian of `sigma` pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigma) if sigma > 0 else image


# The render is made HEADROOM_STOPS under the image's exposure and developed back with a shoulder: a camera's
# tone curve rolls highlights off instead of clipping them, so a sunlit white body keeps its shading where a
# straight sRGB transform had burnt it flat (and kept the exposure low to avoid that).
HEADROOM_STOPS = 1.0
SHOULDER_KNEE = 0.5  # linear value where the shoulder starts; below it the curve is the identity


def _shoulder(x: np.ndarray) -> np.ndarray:
    k = SHOULDER_KNEE
    return np.where(x <= k, x, k + (1 - k) * (1 - np.exp(-(np.maximum(x, k) - k) / (1 - k))))


def develop(light: np.ndarray, stops: float = HEADROOM_STOPS) -> np.ndarray:
    """Linear light made `stops` under exposure -> the camera's picture, sRGB float [0, 1]: brought up by `stops`,
    highlights rolled off by a shoulder (per channel: they pale towards white, as on camera)."""
    return linear_to_srgb(_shoulder(light * 2.0 ** stops)).astype(np.float32)


def undevelop(image: np.ndarray, stops: float = HEADROOM_STOPS) -> np.ndarray:
    """The inverse of develop: a finished sRGB picture (a real frame) as linear light at the render's scale, so
    that develop gives it back as it was wherever nothing is composited over it."""
    k = SHOULDER_KNEE
    y = np.minimum(srgb_to_linear(image), float(_shoulder(np.float64(2.0 ** stops))) - 1e-6)
    x = np.where(y <= k, y, k - (1 - k) * np.log(np.maximum(1 - (y - k) / (1 - k), 1e-12)))
    return (x / 2.0 ** stops).astype(np.float32)


def composite(foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Premultiplied linear float RGBA (premultiply) over a linear float RGB background; returns linear light
    (develop makes it a picture). Mixed in light: where the shadow catcher's alpha says a shadow keeps a fifth of
    the light, the road there gets a fifth of its light, as Cycles computed it (a fifth of its sRGB value drew
    shadows near black)."""
    alpha = np.clip(foreground[..., 3:4], 0.0, 1.0)
    return (foreground[..., :3] + (1.0 - alpha) * background).astype(np.float32)


def patch_mask(patch, box: np.ndarray, size: int) -> np.ndarray:
    """Boolean mask (size, size) of a 2D occluder patch placed relative to the vehicle box."""
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, 4.0), max(y1 - y0, 4.0)
    cx = (x0 + x1) / 2 + patch.centre[0] * bw
    cy = (y0 + y1) / 2 + patch.centre[1] * bh
    w, h = patch.size[0] * bw, patch.size[1] * bh
    mask = np.zeros((size, size), np.uint8)
    shift = 4
    if patch.shape == "ellipse":
        cv2.ellipse(mask, (int(cx * 16), int(cy * 16)), (int(w * 8), int(h * 8)), patch.angle, 0, 360, 1, -1,
                    cv2.LINE_8, shift)
    else:
        if patch.shape == "rect":
            corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
        else:
            rng = np.random.default_rng(patch.seed)
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))
            radii = rng.uniform(0.3, 0.5, len(angles))
            corners = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
        a = np.radians(patch.angle)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        points = (corners * [w, h]) @ rot.T + [cx, cy]
        cv2.fillPoly(mask, [np.round(points * (1 << shift)).astype(np.int32)], 1, cv2.LINE_8, shift)
    if patch.side >= 0:  # it goes on out of the picture, as a real occluder does
        half = 0.35 * (h if patch.side in (0, 2) else w)
        x_lo, x_hi = [(-1, cx), (cx - half, cx + half), (cx, size + 1), (cx - half, cx + half)][patch.side]
        y_lo, y_hi = [(cy - half, cy + half), (-1, cy), (cy - half, cy + half), (cy, size + 1)][patch.side]
        cv2.rectangle(mask, (int(x_lo), int(y_lo)), (int(x_hi), int(y_hi)), 1, -1)
    return mask.astype(bool)


def _grain(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] over size x size from a cells x cells grid."""
    return cv2.resize(rng.random((cells, cells)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)


def occluder_fill(colour, size: int, seed: int, softness: float) -> np.ndarray:
    """A lit surface of `colour` (sRGB): light falling off across it from a random side and grain at two
    scales, so a pasted occluder reads as a thing in the scene rather than a sheet of flat paint."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    light = 0.7 + 0.4 * np.clip(0.5 + np.cos(a) * xx + np.sin(a) * yy, 0, 1)
    grain = 0.82 + 0.36 * (0.6 * _grain(rng, size, 6) + 0.4 * _grain(rng, size, 28))
    fill = np.asarray(colour, np.float32) * (light * np.clip(grain, 0, 2))[..., None]
    fill = fill + rng.normal(0, 0.015, (size, size, 1)).astype(np.float32)
    return cv2.GaussianBlur(np.clip(fill, 0, 1), (0, 0), softness)


def paste_patches(image: np.ndarray, patches, box: np.ndarray, fill_source, softness: float = 0.7
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Paste 2D occluders onto a float RGB image; returns the image and the union mask. `fill_source(seed)`
    returns a float RGB image of the same size to cut textured patches from; `softness` (px) blurs their
    edges as much as the image's own."""
    size = image.shape[0]
    union = np.zeros((size, size), bool)
    for patch in patches:
        mask = patch_mask(patch, box, size)
        if not mask.any():
            continue
        if patch.fill == "background":
            fill = fill_source(patch.seed)
        else:
            fill = occluder_fill(patch.color, size, patch.seed, softness)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), softness)[..., None]
        image = image * (1 - soft) + fill.astype(np.float32) * soft
        union |= mask
    return image, union


def occlude_keypoints(keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Visible keypoints that fall under a pasted 2D occluder become occluded (code 1)."""
    keypoints = keypoints.copy()
    size = mask.shape[0]
    for k in np.nonzero(keypoints[:, 2] == VIS_VISIBLE)[0]:
        x, y = int(round(keypoints[k, 0])), int(round(keypoints[k, 1]))
        if 0 <= x < size and 0 <= y < size and mask[y, x]:
            keypoints[k, 2] = VIS_OCCLUDED
    return keypoints


def camera_effects(image: np.ndarray, effects: dict) -> np.ndarray:
    """Float RGB [0, 1] -> uint8 RGB after white-balance cast, tone, a veil of haze, saturation, blur, motion blur,
    the camera's sharpening, sensor noise and JPEG."""
    rng = np.random.default_rng(effects["seed"])
    out = image * np.asarray(effects["gains"], np.float32)
    out = np.clip(out, 0, 1) ** effects["gamma"]
    out = np.clip((out - 0.5) * effects["contrast"] + 0.5, 0, 1)
    veil = effects.get("veil", 0.0)
    if veil > 0:
        out = out * (1.0 - veil) + veil * np.array([0.78, 0.8, 0.82], np.float32)
    if effects.get("saturation", 1.0) != 1.0:
        grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
        out = np.clip(grey[..., None] + effects["saturation"] * (out - grey[..., None]), 0, 1)
    if effects["blur_sigma"] > 0:
        out = cv2.GaussianBlur(out, (0, 0), effects["blur_sigma"])
    if effects["motion_length"] > 0:
        length = effects["motion_length"]
        k = int(np.ceil(length)) | 1
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), effects["motion_angle"], length / k)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        out = cv2.filter2D(out, -1, kernel / max(kernel.sum(), 1e-6))
    if effects.get("sharpen", 0.0) > 0:  # unsharp mask: halos along edges, as a camera's image pipeline draws
        soft = cv2.GaussianBlur(out, (0, 0), effects["sharpen_sigma"])
        out = np.clip(out + effects["sharpen"] * (out - soft), 0, 1)
    out = out * 255.0
    if effects["noise_sigma"] > 0:
        out = out + rng.normal(0, effects["noise_sigma"], out.shape).astype(np.float32)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if effects["jpeg_quality"] > 0:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(effects["jpeg_quality"])])
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
