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

import os
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from synth.backgrounds import procedural_background, road_style, value_noise
from synth.camera import intrinsics, look_at, project
from synth.compose import linear_to_srgb, srgb_to_linear

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
def street_panorama(key: int, cache_dir: str | None = None) -> np.ndarray:
    """draw_street(key), kept: a worker meets ~30 styles and keeps each (128 KB). With `cache_dir` (a folder a
    run's workers share, synth/render.py) a style is drawn once per run, not once per worker: a worker
    replaced after `recycle_every` images finds the streets its predecessors drew."""
    path = Path(cache_dir) / f"street_{int(key)}_{PANORAMA_WIDTH}.npy" if cache_dir else None
    if path is not None:
        try:
            panorama = np.load(path)
            panorama.setflags(write=False)
            return panorama
        except (OSError, ValueError):
            pass  # not drawn yet in this run: draw it
    panorama = draw_street(key)
    if path is not None:
        temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        with open(temporary, "wb") as f:
            np.save(f, panorama)
        os.replace(temporary, path)  # whole or absent: another worker may be reading it
    return panorama


def draw_street(key: int, width: int = PANORAMA_WIDTH) -> np.ndarray:
    """RGBA uint8 (width // 2, width, 4) of road style `key` seen from the vehicle's place (the origin, at
    EYE_HEIGHT), the road along +x; straight alpha, 0 where the sky shows."""
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
    rgb, alpha = rgb.reshape(width // 2, width, 3), alpha.reshape(width // 2, width)
    _draw_trees(rgb, alpha, directions, street_trees(key))
    out = np.concatenate([np.clip(rgb, 0, 1), alpha[..., None]], axis=-1)
    out = np.round(out * 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def street_cover(rgba: np.ndarray) -> dict:
    """What the street hides of the sky above level ground, row by row of the panorama's upper half: `z` (the
    rows' sines of elevation), `weight` (their cosine-weighted solid angles, summing to pi), `open` (the share
    of each row where the sky shows) and `albedo` (each row's mean linear luminance albedo of facades, trees
    and trunks, times their cover). synth/shadows.ground_irradiance integrates the world's light with it."""
    height = rgba.shape[0]
    upper = rgba[height // 2:].astype(np.float32) / 255
    lat = ((np.arange(height // 2, height) + 0.5) / height - 0.5) * np.pi
    cover = upper[..., 3]
    luminance = srgb_to_linear(upper[..., :3]) @ np.array([0.2126, 0.7152, 0.0722])
    weight = 2 * np.pi * np.sin(lat) * np.cos(lat) * (np.pi / height)
    return {"z": np.sin(lat), "weight": weight * np.pi / weight.sum(), "open": 1.0 - cover.mean(axis=1),
            "albedo": (cover * luminance).mean(axis=1)}


def street_trees(key: int) -> list[dict]:
    """The trees planted along road style `key`'s pavements, in the road's frame (x along the road, y across,
    the vehicle at the origin): crown centre, crown radius, trunk radius, leaf colour (sRGB) and a seed. Each
    side has a row with probability 0.6, 5-10 m apart, in the pavement beside the kerb and clear of the
    facades. (The background shows no trees; its street's trees are what a window mirrors.)"""
    style = road_style(key)
    rng = np.random.default_rng([int(key), 0x7EE5])
    lw = style["lane_width"]
    trees = []
    for side, lanes, facade_lanes in ((1.0, style["lanes_left"], style["lanes_left"]),
                                       (-1.0, style["lanes_right"], style["lanes_right"])):
        planted = rng.random() < 0.6
        spacing, phase = rng.uniform(5.0, 10.0), rng.uniform(0.0, 1.0)
        size, green = rng.uniform(0.8, 1.25), rng.uniform(0.0, 1.0)
        edge = side * (0.5 + lanes) * lw + style["lane_offset"]
        across = edge + side * (style["kerb"] + min(0.9, style["pavement_width"] / 2))
        facade = side * (style["facade_distance"] + facade_lanes * lw)
        if not planted or abs(across) + 1.0 > abs(facade):
            continue
        for k in range(-8, 9):
            radius = size * rng.uniform(1.8, 2.8)
            height = max(radius + 2.2, size * rng.uniform(4.2, 6.0))
            leaf = np.array([0.2, 0.25, 0.15]) * (0.8 + 0.5 * green) * rng.uniform(0.85, 1.15, 3)
            trees.append({"centre": ((k + phase) * spacing + rng.uniform(-0.6, 0.6), across, height),
                          "radius": float(radius), "trunk": float(size * 0.14), "leaf": leaf,
                          "seed": int(rng.integers(2**31))})
    return trees


def _draw_trees(rgb: np.ndarray, alpha: np.ndarray, directions: np.ndarray, trees: list[dict]) -> None:
    """Draw the trees into the panorama (rgb (H, W, 3), alpha (H, W), directions (H, W, 3)) in place: each crown
    a ragged ball of leaf clumps with sky and facade showing through its gaps, lit from above, on a dark trunk;
    nearer than the facades (they stand in the pavement) and than the ground beyond them. Each tree touches only
    the texels of its own angular box."""
    height, width = alpha.shape
    eye = np.array([0.0, 0.0, EYE_HEIGHT])
    nearest = np.where(directions[..., 2] < -1e-6, EYE_HEIGHT / np.maximum(-directions[..., 2], 1e-6), np.inf)
    texel = 2 * np.pi / width
    for tree in trees:
        centre = np.asarray(tree["centre"]) - eye
        ground_reach = np.hypot(centre[0], centre[1])
        distance = np.linalg.norm(centre)
        radius = tree["radius"] * 1.25
        span = np.arcsin(min(radius / distance, 1.0))
        lon_c, lat_c = np.arctan2(centre[1], centre[0]), np.arcsin(centre[2] / distance)
        lat_lo = np.arctan2(-EYE_HEIGHT, ground_reach)  # the trunk's foot
        lat_hi = min(lat_c + span, np.pi / 2)
        half_lon = span / max(np.cos(min(abs(lat_c) + span, 1.5)), 0.07)
        rows = np.arange(int((lat_lo + np.pi / 2) / texel) - 1, int((lat_hi + np.pi / 2) / texel) + 2)
        rows = rows[(rows >= 0) & (rows < height)]
        cols = np.arange(int((lon_c - half_lon + np.pi) / texel) - 1, int((lon_c + half_lon + np.pi) / texel) + 2)
        cols = np.unique(cols % width)
        box = np.ix_(rows, cols)
        d = directions[box]
        best = nearest[box]
        colour, cover = rgb[box], alpha[box]
        # crown: each ray's nearest approach to the centre, against a radius wobbling with the leaf clumps
        along = d @ centre
        miss = np.sqrt(np.maximum(distance**2 - along**2, 0.0))
        clumps = value_noise(np.random.default_rng(tree["seed"]), 64, 8)
        dlon = (np.arctan2(d[..., 1], d[..., 0]) - lon_c + np.pi) % (2 * np.pi) - np.pi
        dlat = np.arcsin(np.clip(d[..., 2], -1, 1)) - lat_c
        u = np.clip((dlon * np.cos(lat_c) / span * 0.5 + 0.5) * 63, 0, 63).astype(int)
        v = np.clip((dlat / span * 0.5 + 0.5) * 63, 0, 63).astype(int)
        bumps = clumps[v, u]
        crown = (along > 0) & (miss < tree["radius"] * (0.8 + 0.45 * bumps)) & (bumps < 0.78) & (along < best)
        # lit from above: the top of the crown brighter, its underside in its own shade
        up = (d[..., 2] * along - centre[2]) / tree["radius"]
        shade = np.clip(0.75 + 0.5 * up, 0.4, 1.15) * (0.8 + 0.4 * bumps)
        colour[crown] = tree["leaf"] * shade[crown, None]
        cover[crown] = 1.0
        best = np.where(crown, along, best)
        # trunk: a dark upright post from the ground into the crown
        flat = np.maximum(np.hypot(d[..., 0], d[..., 1]), 1e-9)
        reach = (d[..., 0] * centre[0] + d[..., 1] * centre[1]) / flat
        off_axis = np.abs(d[..., 0] * centre[1] - d[..., 1] * centre[0]) / flat
        t = reach / flat
        z = d[..., 2] * t + EYE_HEIGHT  # the ray's height above the ground where it passes the trunk
        trunk = ((reach > 0) & (off_axis < tree["trunk"]) & (z > 0) & (z < centre[2] + EYE_HEIGHT - 0.5 * tree["radius"])
                 & (t < best))
        colour[trunk] = (0.2, 0.17, 0.14)
        cover[trunk] = 1.0
        best = np.where(trunk, t, best)
        rgb[box], alpha[box], nearest[box] = colour, cover, best


DIFFUSE_WIDTH = 64  # texels round the horizon of the street as diffuse light sees it


def diffuse_panorama(rgba: np.ndarray, width: int = DIFFUSE_WIDTH, blur_degrees: tuple = (25.0, 6.0)) -> np.ndarray:
    """The street panorama `rgba` (uint8, straight alpha, rows from the nadir up) blurred round the horizon and a
    little up and down (Gaussian sigmas in degrees), averaged in linear light, at (width // 2, width): what the
    sky group shows to diffuse rays. A surface's diffuse light is a low-pass integral of what surrounds it, so
    it keeps where the facades stand and how bright they are; the rooflines and window grids are what made a
    few diffuse samples per pixel land on sky or on wall by lot, mottle that the denoiser left on grey days."""
    alpha = rgba[..., 3].astype(np.float32) / 255
    light = srgb_to_linear(rgba[..., :3].astype(np.float32) / 255) * alpha[..., None]
    # averaged down to twice the output first (the blur is wider than its texels), then blurred
    work = 2 * width
    small = cv2.resize(np.concatenate([light, alpha[..., None]], -1), (work, work // 2), interpolation=cv2.INTER_AREA)
    texel = 360.0 / work
    wrapped = np.concatenate([small, small, small], axis=1)  # round the horizon without a seam
    smooth = cv2.GaussianBlur(wrapped, (0, 0), sigmaX=blur_degrees[0] / texel, sigmaY=blur_degrees[1] / texel,
                              borderType=cv2.BORDER_REPLICATE)[:, work:2 * work]
    smooth = cv2.resize(smooth, (width, width // 2), interpolation=cv2.INTER_AREA)
    cover = smooth[..., 3]
    colour = smooth[..., :3] / np.maximum(cover, 1e-4)[..., None]
    out = np.concatenate([np.clip(linear_to_srgb(colour), 0, 1), np.clip(cover, 0, 1)[..., None]], axis=-1)
    return np.round(out * 255).astype(np.uint8)
