"""The worker's OIDN filter on the render's alpha (synth/blender/denoise.py): a shadow catcher's shade comes out
smooth in the light it lets through, and an opaque body stays opaque. Synthetic passes with the noise of 3
samples per pixel; the real filter (the OpenImageDenoise library of the bpy wheel)."""
from __future__ import annotations

import numpy as np
import pytest

from synth.blender.denoise import Denoiser, denoise_alpha, find_library
from synth.compose import linear_to_srgb

pytestmark = pytest.mark.skipif(find_library() is None, reason="the bpy wheel's OpenImageDenoise is not installed")

SIZE = 96


def _passes(seed: int = 0):
    """A body (opaque, textured albedo, varied normals) on a catcher whose shade deepens towards the body, as
    Cycles writes them at 3 samples: per sample the sun is seen or not, and the catcher keeps `sun` of the
    light where it is hidden. Returns (noisy alpha, true alpha, albedo, normal, body mask, shade mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    body = (xx > 0.25) & (xx < 0.75) & (yy > 0.15) & (yy < 0.55)
    hidden = np.clip(1.0 - (yy - 0.55) / 0.35, 0.0, 1.0) * ((xx > 0.2) & (xx < 0.8))  # sun hidden, 0..1
    sun = 0.9  # share of the light the sun gives: a deep shade keeps a tenth
    true_alpha = np.where(body, 1.0, sun * hidden)
    seen = rng.random((3, SIZE, SIZE)) >= hidden  # three samples per pixel
    noisy_alpha = np.where(body, 1.0, sun * (1.0 - seen.mean(axis=0)))
    albedo = np.where(body[..., None], 0.4 + 0.3 * (rng.random((SIZE, SIZE, 1)) > 0.5), 0.2) * np.ones(3)
    normal = np.zeros((SIZE, SIZE, 3))
    normal[..., 2] = 1.0
    normal[body] = np.where(xx[body, None] > 0.5, [0.6, 0.0, 0.8], [-0.6, 0.0, 0.8])
    shade = ~body & (yy > 0.58) & (hidden > 0.05)
    f32 = np.float32
    return noisy_alpha.astype(f32), true_alpha, albedo.astype(f32), normal.astype(f32), body, shade


def _speckle(light: np.ndarray, mask: np.ndarray) -> float:
    import cv2

    image = linear_to_srgb(light).astype(np.float32)
    return float(np.abs(image - cv2.medianBlur(image, 3))[mask].mean())


def test_denoised_shade_is_smooth_close_to_the_truth_and_the_body_stays_opaque():
    noisy, truth, albedo, normal, body, shade = _passes()
    denoiser = Denoiser("fast", threads=1)
    out = denoise_alpha(noisy, albedo, normal, denoiser)
    assert out.shape == noisy.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert out[body].min() > 0.97, out[body].min()  # nothing of the background shows through the body
    error = np.abs(linear_to_srgb(1 - out) - linear_to_srgb(1 - truth))[shade].mean()
    raw_error = np.abs(linear_to_srgb(1 - noisy) - linear_to_srgb(1 - truth))[shade].mean()
    assert error < 0.5 * raw_error, (error, raw_error)
    assert _speckle(1 - out, shade) < 0.3 * _speckle(1 - noisy, shade)


def test_denoising_the_light_beats_denoising_the_alpha():
    """Why denoise_alpha feeds the filter 1 - alpha: fed alpha, the filter leaves the deep shade's few percent
    of light speckled (far apart once shown in sRGB), and lets the body's edges go partly see-through."""
    noisy, truth, albedo, normal, body, shade = _passes(1)
    denoiser = Denoiser("fast", threads=1)
    as_light = denoise_alpha(noisy, albedo, normal, denoiser)
    as_alpha = np.clip(denoiser(np.repeat(noisy[..., None], 3, -1), albedo, normal).mean(-1), 0, 1)
    deep = shade & (truth > 0.6)
    assert _speckle(1 - as_light, deep) < _speckle(1 - as_alpha, deep)
    assert as_light[body].min() > as_alpha[body].min() + 0.05, (as_light[body].min(), as_alpha[body].min())
