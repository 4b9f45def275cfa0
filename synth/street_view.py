"""The street a vehicle stands in, as its paint and windows mirror it: an equirectangular panorama of a virtual
camera's procedural road scene (synth/backgrounds.py) seen from the vehicle, with the sky left transparent.

A glossy body by a road mirrors the road, the kerb and pavement, the facades with their windows and the sky
over their roof lines; a window mirrors trees and buildings across the street. The sky group
(synth/blender/sky.py) lays this picture over its own sky and clouds, so every reflection in the scene shows the
street the background draws, instead of a band of uniform columns.

The panorama is built once per road style (a virtual camera's `background["key"]`) and kept: six 90-degree
views of the procedural scene, resampled onto longitude and latitude. Each view is drawn twice, under a black
and under a white sky, and their difference is the sky's share of each pixel: transparent where the ray meets
no building or road, part-transparent in hazy distance and in facade windows that mirror the sky.

Plain numpy/OpenCV. Colours are the background's sRGB values, in which a surface of albedo a shows as a under
the image's metered light (synth.scene.metered_exposure).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from synth.backgrounds import procedural_background
from synth.camera import intrinsics, look_at, project

PANORAMA_WIDTH = 512  # texels round the horizon (0.7 degrees each); the height is half
EYE_HEIGHT = 1.0  # metres: the middle of a body's sides, where most reflections start
FACE_SIZE = 128  # pixels a side of each of the six views (0.7 degrees, as the panorama)
_FACES = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


def panorama_directions(width: int = PANORAMA_WIDTH) -> np.ndarray:
    """Unit directions (width // 2, width, 3) of the panorama's texel centres, in the road's frame (x along the
    road). Row 0 is the nadir (Blender images start at the bottom), column 0 longitude -180 degrees: the texel
    of direction d is at u = atan2(d.y, d.x) / 2 pi + 1/2, v = asin(d.z) / pi + 1/2."""
    height = width // 2
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    lat = ((np.arange(height) + 0.5) / height - 0.5) * np.pi
    lon, lat = np.meshgrid(lon, lat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


@lru_cache(maxsize=32)
def street_panorama(key: int, width: int = PANORAMA_WIDTH) -> np.ndarray:
    """RGBA uint8 (width // 2, width, 4) of road style `key` seen from the vehicle's place (the origin, at
    EYE_HEIGHT), the road along +x; straight alpha, 0 where the sky shows. A worker meets ~30 styles and keeps
    each (128 KB)."""
    eye = np.array([0.0, 0.0, EYE_HEIGHT])
    K = intrinsics(FACE_SIZE / 2, FACE_SIZE / 2 - 0.5, FACE_SIZE / 2 - 0.5)  # 90 degrees across
    directions = panorama_directions(width)
    flat = directions.reshape(-1, 3)
    rgb = np.zeros((len(flat), 3), np.float32)
    alpha = np.zeros(len(flat), np.float32)
    done = np.zeros(len(flat), bool)
    for face in _FACES:
        axis = np.asarray(face, np.float64)
        # each texel from the view whose axis is nearest its direction (ties go to the first)
        mine = ~done & (flat @ axis >= np.max(np.abs(flat), axis=1) - 1e-9)
        if not mine.any():
            continue
        Rt = look_at(eye, eye + axis)
        under_black = procedural_background(K, Rt, FACE_SIZE, 0.0, key, key, sky_color=(0.0, 0.0, 0.0))
        under_white = procedural_background(K, Rt, FACE_SIZE, 0.0, key, key, sky_color=(1.0, 1.0, 1.0))
        uv, _ = project(K, Rt, eye + flat[mine])
        count = len(uv)
        rows = -(-count // 1024)  # cv2.remap takes maps under 32768 a side
        map_x, map_y = (np.resize(c.astype(np.float32), rows * 1024).reshape(rows, 1024) for c in uv.T)

        def sample(image):
            out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            return out.reshape(-1, 3)[:count]

        black, white = sample(under_black), sample(under_white)
        # the background's sky is 1.15 - 0.4 sin(elevation) times its colour (clipped): its share of a pixel
        sky = np.minimum(1.15 - 0.4 * np.clip(flat[mine, 2], 0.0, 1.0), 1.0)
        sky_share = np.clip((white - black).mean(axis=1) / sky, 0.0, 1.0)
        a = 1.0 - sky_share
        alpha[mine] = a
        rgb[mine] = black / np.maximum(a, 1e-3)[:, None]  # the road's and facades' own colour, unmixed
        done |= mine
    out = np.concatenate([np.clip(rgb, 0, 1), alpha[:, None]], axis=1).reshape(width // 2, width, 4)
    out = np.round(out * 255).astype(np.uint8)
    out.setflags(write=False)
    return out
