"""Backgrounds behind the rendered vehicle.

- `procedural_background`: a road scene seen through the sample's own camera (K, Rt): asphalt, lane markings,
  kerb, pavement, verge, building facades and sky, ray-cast per pixel against a few planes, so the road runs
  under the vehicle in the right perspective. Needs nothing on disk: the default works out of the box.
- `FrameSource`: real frames (CityFlow camera frames, any images) from `--backgrounds DIR`; a sample takes a
  random square crop.
- `extract_backgrounds`: vehicle-free backgrounds from traffic videos (temporal median per camera) plus
  sampled frames, for `cli.py backgrounds`.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from synth.camera import camera_centre, pixel_rays
from synth.compose import linear_to_srgb, srgb_to_linear
from synth.facades import box_stripes, facade_colour, street_side

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v")


class BackgroundError(ValueError):
    def __init__(self, path, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


# --- procedural --------------------------------------------------------------------------------------------


def value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth tileable noise in [0, 1] (size x size) from a cells x cells random grid."""
    grid = rng.random((cells, cells)).astype(np.float32)
    tiled = np.tile(grid, (3, 3))
    big = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
    return big[size: 2 * size, size: 2 * size]


def _texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Multi-octave noise texture in roughly [-1, 1], tileable."""
    out = np.zeros((size, size), np.float32)
    amp = 1.0
    for cells in (4, 16, 64, 256):
        out += amp * (value_noise(rng, size, cells) - 0.5)
        amp *= 0.6
    return out


def sample_texture(texture: np.ndarray, u: np.ndarray, v: np.ndarray, wrap: bool = True) -> np.ndarray:
    """Bilinear lookup of a texture at texel coordinates, for any array shape: wrapping (a tileable texture),
    or (`wrap=False`) 0 outside it."""
    n = texture.shape[0]
    shape = np.shape(u)
    count = int(np.prod(shape))
    if count == 0:
        return np.zeros(shape, texture.dtype)
    # cv2.remap wants a 2D map under 32767 a side: lay the points out in rows of 1024
    width = 1024
    rows = -(-count // width)
    maps = []
    for coordinate in (u, v):
        flat = np.zeros(rows * width, np.float32)
        # mod first: float32 keeps sub-texel precision near 0
        flat[:count] = (np.mod(coordinate, n) if wrap else np.asarray(coordinate)).ravel()
        maps.append(flat.reshape(rows, width))
    border = cv2.BORDER_WRAP if wrap else cv2.BORDER_CONSTANT
    out = cv2.remap(texture, maps[0], maps[1], interpolation=cv2.INTER_LINEAR, borderMode=border, borderValue=0.0)
    return out.ravel()[:count].reshape(shape)


def road_style(key: int) -> dict:
    """What a virtual camera's road looks like (fixed per camera, so its images share a place)."""
    rng = np.random.default_rng(key)
    lanes_left, lanes_right = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    return {
        # sRGB tone of the asphalt: aged, dusty city roads (albedo ~0.03-0.2); VeRi's roads show near middle grey
        # on camera, and 0.16-0.42 left ours ~20 levels darker under the same camera
        "asphalt": float(rng.uniform(0.2, 0.48)),
        "asphalt_tint": rng.uniform(0.95, 1.05, 3),
        "lane_width": float(rng.uniform(3.2, 3.8)),
        "lanes_left": lanes_left,
        "lanes_right": lanes_right,
        "lane_offset": float(rng.uniform(-0.5, 0.5)),
        "centre_yellow": bool(rng.random() < 0.35),
        "dash": (float(rng.uniform(2.0, 4.0)), float(rng.uniform(4.0, 9.0))),
        "kerb": float(rng.uniform(0.15, 0.35)),
        "pavement_width": float(rng.uniform(1.5, 5.0)),
        "pavement": float(rng.uniform(0.35, 0.65)),
        "verge": rng.choice([[0.12, 0.22, 0.07], [0.2, 0.25, 0.1], [0.25, 0.22, 0.15]]) * rng.uniform(0.7, 1.3),
        "verge_width": float(rng.uniform(1.0, 8.0)),
        # (five draws of the former single facade colour, so the keys after it keep their values)
        "street_draws": rng.random(5),
        "facade_distance": float(rng.uniform(4.0, 25.0)),
        "crosswalk": bool(rng.random() < 0.15),
        "crosswalk_x": float(rng.uniform(-12, 12)),
        "texture_seed": int(rng.integers(2**31)),
        # traffic's marks on each lane: a dark oil strip down its middle, wheel paths darker (rubber) or
        # lighter (polished) than the rest
        "oil": float(rng.uniform(0.0, 0.14)),
        "wheel_paths": float(rng.uniform(-0.06, 0.08)),
        # painted lane arrows, as at the junctions traffic cameras watch: where along the road, which way
        "arrows": bool(rng.random() < 0.45),
        "arrow_u": float(rng.uniform(-14.0, 14.0)),
        "arrow_length": float(rng.uniform(4.5, 7.5)),
        "street_seed": int(rng.integers(2**31)),  # the buildings along both sides (synth/facades.py)
        # (appended since, so the keys above keep their values) the pavement: square slabs in a grid, or
        # slabs or bricks in running bond (each row offset by half a paver), each slab its own tone and a few
        # replaced ones off it, faint joints, its own tint, dirt along the kerb, often a yellow tactile strip
        **_pavement_style(rng),
        # the road's wear and repairs: how many patches, covers and sealed cracks (where: _road_layout), drain
        # gullies along the kerb, paint worn off the markings, a stop line before a crosswalk or the arrows,
        # with the waiting traffic's oil stains behind it
        "patches": _pick(rng, (0.35, 0.25, 0.2, 0.12, 0.08)),
        "covers": _pick(rng, (0.3, 0.35, 0.2, 0.15)),
        "cracks": _pick(rng, (0.4, 0.2, 0.15, 0.1, 0.1, 0.05)),
        "gullies": bool(rng.random() < 0.5),
        "gully_spacing": float(rng.uniform(15.0, 35.0)),
        "wear": float(rng.uniform(0.0, 0.5)),
        "stop_line": bool(rng.random() < 0.7),
        "stop_gap": float(rng.uniform(1.0, 3.0)),
        "stop_stain": float(rng.uniform(0.05, 0.3)),
        "layout_seed": int(rng.integers(2**31)),
    }


# paver tints (times the style's pavement grey): grey concrete, buff, red-brown brick, cool grey
PAVEMENT_TINTS = np.array([[1.0, 1.0, 1.0], [1.05, 1.0, 0.88], [1.04, 0.8, 0.72], [0.98, 1.0, 1.02]], np.float32)


def _pick(rng: np.random.Generator, p) -> int:
    """An index drawn with probabilities p (one uniform draw; rng.choice(p=) costs 20 times as much)."""
    return min(int(np.searchsorted(np.cumsum(p), rng.random() * sum(p), side="right")), len(p) - 1)


def _pavement_style(rng: np.random.Generator) -> dict:
    kind = _pick(rng, (0.55, 0.25, 0.2))  # square slabs; 60 x 30 cm slabs; 20 x 10 cm bricks
    side = (0.3, 0.4, 0.5, 0.6)[_pick(rng, (0.25,) * 4)]
    return {
        "slab": [(side, side), (0.6, 0.3), (0.2, 0.1)][kind],  # length along the kerb, depth across it (m)
        "bond": 0.0 if kind == 0 else 0.5,
        "slab_spread": float(rng.uniform(0.015, 0.045)),  # tone, slab to slab (relative)
        "slab_replaced": float(rng.uniform(0.0, 0.05)),  # the share of slabs well off the others
        "joint": float(rng.uniform(0.15, 0.45)),  # how much darker a joint is than its slabs
        "joint_width": float(rng.uniform(0.004, 0.012)),
        "pavement_tint": PAVEMENT_TINTS[_pick(rng, (0.55, 0.15, 0.2, 0.1))] * rng.uniform(0.98, 1.02, 3),
        "pavement_stain": float(rng.uniform(0.0, 0.25)),  # dirt along the kerb
        "tactile": bool(rng.random() < 0.4),
        "tactile_offset": float(rng.uniform(0.4, 1.2)),  # from the kerb (m)
        "tactile_width": float(rng.uniform(0.3, 0.5)),
        "kerb_stone": float(rng.uniform(0.5, 1.0)),  # the length of a kerb stone
    }


@lru_cache(maxsize=32)
def _road_textures(texture_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grain, blotch and grass textures of a road style: a function of its seed alone, and a virtual camera
    (~30 styles in all) comes back to its own, so a worker makes each once (3 x 256 KB) instead of per image."""
    rng = np.random.default_rng(texture_seed)
    textures = _texture(rng), _texture(rng), _texture(rng)
    for texture in textures:
        texture.setflags(write=False)
    return textures


def procedural_background(K: np.ndarray, Rt: np.ndarray, size: int, road_yaw: float, key: int, seed: int,
                          sky_color=(0.5, 0.6, 0.8), light=None) -> np.ndarray:
    """Float sRGB image (size, size, 3) in [0, 1] of a road scene seen by camera (K, Rt). The vehicle stands
    at the origin heading along +x; the road runs along direction `road_yaw` (degrees) through it.

    Markings, joints and windows are box-filtered over each pixel's footprint (the ground or facade area it
    spans, from the plane coordinates' gradients), not point-sampled: one sample per pixel draws distant lines
    as dotted, stepped stripes that no camera shows, and four samples per pixel would cost three times as much.

    `light`, if given, maps world points (N, 3) on the ground and facades to a light factor (N,) that scales
    their light as the shadow catcher's alpha scales the background's under it (compose.composite), so the two
    agree: an off-screen caster's shadow (synth/shadows.ground_light)."""
    style = road_style(key)
    grain, blotch, grass = _road_textures(style["texture_seed"])
    local = np.random.default_rng(seed)

    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    origin = camera_centre(Rt)
    yaw = np.radians(road_yaw)
    # road frame: u along the road, w across it (left positive)
    frame = np.array([[np.cos(yaw), np.sin(yaw), 0.0], [-np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    o_u, o_w, o_z = frame @ origin
    fd = style["facade_distance"] + style["lanes_left"] * style["lane_width"]
    fr = style["facade_distance"] + style["lanes_right"] * style["lane_width"]

    # which plane each pixel's ray meets first (ground, facade), and where: (u, w) on the ground, (u, z) on a facade
    rays = pixel_rays(K, Rt, np.stack([xs, ys], -1)) @ frame.T
    d_u, d_w, d_z = rays[..., 0], rays[..., 1], rays[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = np.where(d_z < -1e-6, -o_z / d_z, np.inf)
        t_left = np.where(d_w > 1e-6, (fd - o_w) / d_w, np.inf)
        t_right = np.where(d_w < -1e-6, (-fr - o_w) / d_w, np.inf)
    t_facade = np.minimum(t_left, t_right)
    hit_ground = t_ground < t_facade
    t_hit = np.where(hit_ground, t_ground, t_facade)
    finite = np.isfinite(t_hit)
    t_hit = np.where(finite, t_hit, 0.0)
    # float32 from here: a few thousand metres out it still resolves a 2 cm joint, at half the memory traffic
    gu, gw, gz = ((o + t_hit * d).astype(np.float32) for o, d in ((o_u, d_u), (o_w, d_w), (o_z, d_z)))
    t_hit = t_hit.astype(np.float32)
    hit_facade = ~hit_ground & finite
    u_grad, w_grad, (zx, zy) = (_pixel_gradients(c) for c in (gu, gw, gz))
    half_u, half_w, dash_u, cross_w = _footprints(u_grad, w_grad)
    half_z = 0.5 * (np.abs(zx) + np.abs(zy))

    image = np.empty((size, size, 3), np.float32)
    ray_length = np.linalg.norm(rays, axis=-1).astype(np.float32)
    sky_rgb = np.asarray(sky_color, np.float32)
    # sky: brighter towards the horizon
    elev = np.clip(rays[..., 2].astype(np.float32) / ray_length, 0, 1)
    image[:] = np.clip(sky_rgb * (1.15 - 0.4 * elev[..., None]), 0, 1)

    g = hit_ground
    image[g] = _ground_colour(style, gu[g], gw[g], (half_u[g], half_w[g], dash_u[g], cross_w[g]),
                              grain, blotch, grass)

    if hit_facade.any():
        f = np.flatnonzero(hit_facade)
        fu, fz, hu, hz = gu.ravel()[f], gz.ravel()[f], half_u.ravel()[f], half_z.ravel()[f]
        shade = 1.0 + 0.15 * sample_texture(blotch, fu * 20, fz * 20)
        shade *= 0.75 + 0.25 * np.clip(fz / 2.5, 0, 1)  # darker where the street's light is blocked
        colour, above = np.empty((len(f), 3), np.float32), np.zeros(len(f), bool)
        on_left = (t_left <= t_right).ravel()[f]
        for on_side, side_key in ((on_left, 0), (~on_left, 1)):
            if on_side.any():
                colour[on_side], above[on_side] = facade_colour(
                    street_side(style["street_seed"] + side_key), fu[on_side], fz[on_side], hu[on_side],
                    hz[on_side], shade[on_side], sky_rgb)
        colour[fz < 0.3] *= 0.6
        image.reshape(-1, 3)[f[~above]] = colour[~above]
        # over a roof line the ray goes on into the sky
        hit_facade.ravel()[f[above]] = False
        finite.ravel()[f[above]] = False
    if light is not None:
        lit = hit_ground | hit_facade
        points = np.stack([gu[lit], gw[lit], gz[lit]], axis=-1).astype(np.float64) @ frame
        image[lit] = linear_to_srgb(srgb_to_linear(image[lit]) * light(points).astype(np.float32)[:, None])
    # distance haze and a little per-image grain
    dist = np.where(finite, t_hit * ray_length, np.float32(1e3))
    haze = np.clip((dist - 40) / 250, 0, 0.6)[..., None]
    image = image * (1 - haze) + haze * (sky_rgb * 1.1)
    image += np.float32(0.008) * local.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image, 0, 1, out=image)


def _pixel_gradients(values: np.ndarray, cap: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """d/dx and d/dy of a plane coordinate per pixel (central differences between the neighbouring pixels'
    hits; exact for a plane up to second order), capped where the neighbours lie on another plane or beyond
    the horizon: there a pixel's footprint is large and its markings greyed out, as the haze does anyway."""
    dy, dx = np.gradient(values)
    return np.clip(dx, -cap, cap), np.clip(dy, -cap, cap)


def _footprints(a_grad, b_grad):
    """Half footprints of each pixel in plane coordinates a and b (from their _pixel_gradients): the half range
    of a (and b) over the pixel, and the half range of a along a line of constant b through it (what a dash
    along such a line sees: the pixel's whole range of a would grey out dashes at grazing angles)."""
    (ax, ay), (bx, by) = a_grad, b_grad
    half_a, half_b = 0.5 * (np.abs(ax) + np.abs(ay)), 0.5 * (np.abs(bx) + np.abs(by))
    det = np.abs(ax * by - ay * bx)
    half_a_on_b = np.minimum(0.5 * det / np.maximum(np.hypot(bx, by), 1e-9), half_a)
    half_b_on_a = np.minimum(0.5 * det / np.maximum(np.hypot(ax, ay), 1e-9), half_b)
    return half_a, half_b, half_a_on_b, half_b_on_a


def _band(x: np.ndarray, centre: float, half_width: float, half: np.ndarray) -> np.ndarray:
    """Fraction of the interval x +- half inside |x - centre| < half_width."""
    half = np.maximum(half, 1e-4)
    lo, hi = np.maximum(x - half, centre - half_width), np.minimum(x + half, centre + half_width)
    return np.clip((hi - lo) / (2 * half), 0.0, 1.0)


def _paint_band(colour: np.ndarray, x: np.ndarray, centre: float, half_width: float, half: np.ndarray, paint,
                along=None) -> None:
    """Paint a line |x - centre| < half_width over `colour` in place, weighted by the pixels' coverage (times
    `along(rows)`, a coverage along the line, for dashes); only the rows near the line are touched."""
    rows = np.nonzero(np.abs(x - centre) < half_width + half)[0]
    if not len(rows):
        return
    cov = _band(x[rows], centre, half_width, half[rows])
    if along is not None:
        cov = cov * along(rows)
    _blend(colour, rows, cov, paint)


def _blend(colour: np.ndarray, rows: np.ndarray, cov: np.ndarray, paint) -> None:
    """Paint over `colour[rows]` in place by coverage `cov` (per row); `paint` is one colour or one per point."""
    cov = cov[:, None].astype(np.float32)
    paint = np.asarray(paint, np.float32)
    colour[rows] = colour[rows] * (1 - cov) + cov * (paint[rows] if paint.ndim == 2 else paint)


def _paint_arrow(colour, u, w, halves, tail_u: float, centre_w: float, length: float, direction: float, paint,
                 along=None):
    """Paint a straight-ahead lane arrow in place: a shaft from `tail_u` along the lane centred at `centre_w`,
    a head at its end pointing `direction` (+1: +u), weighted by each pixel's coverage (from its signed distance
    to the shape over its footprint, so a distant arrow fades instead of breaking up), times `along(rows)` if
    given (paint worn off)."""
    half_u, half_w = halves
    head, head_half, shaft_half = 0.3 * length, 0.3, 0.09
    rows = np.nonzero((np.abs(w - centre_w) < head_half + half_w + 0.05)
                      & (np.abs((u - tail_u) * direction - length / 2) < length / 2 + half_u + 0.05))[0]
    if not len(rows):
        return
    a = (u[rows] - tail_u) * direction  # metres from the tail towards the tip
    b = np.abs(w[rows] - centre_w)
    shaft = np.maximum(np.maximum(-a, a - (length - head)), b - shaft_half)
    slope = head_half / head
    tip = (b - (length - a) * slope) / np.sqrt(1 + slope**2)
    arrow_head = np.maximum(np.maximum((length - head) - a, a - length), tip)
    sdf = np.minimum(shaft, arrow_head)
    footprint = np.maximum(np.hypot(half_u[rows], half_w[rows]), 1e-3)
    cov = np.clip(0.5 - sdf / (2 * footprint), 0.0, 1.0)
    _blend(colour, rows, cov if along is None else cov * along(rows), paint)


@lru_cache(maxsize=32)
def _slab_tones(layout_seed: int, spread: float, replaced: float) -> tuple[np.ndarray, np.ndarray]:
    """A pavement's slab tones (relative offsets; 256 slabs along the road by 128 rows, the left side's from row
    64) and its kerb's stone tones (256 along each side): most slabs near the mean, a few replaced ones well off
    it, lighter or darker. A function of the style alone, cached like the textures."""
    rng = np.random.default_rng([layout_seed, 1])
    slabs = rng.normal(0.0, spread, (256, 128))
    odd = rng.random(slabs.shape) < replaced
    slabs[odd] = rng.choice([-1.0, 1.0], int(odd.sum())) * rng.uniform(0.08, 0.16, int(odd.sum()))
    stones = rng.normal(0.0, 0.05, 512)
    tables = slabs.astype(np.float32), stones.astype(np.float32)
    for table in tables:
        table.setflags(write=False)
    return tables


def _cell_mean(table: np.ndarray, i: np.ndarray, j, x: np.ndarray, half: np.ndarray, length: float) -> np.ndarray:
    """Box filter of the per-cell values table[i, j] of cells `length` long along x over x +- half: the two cells
    the interval starts and ends in, by their shares of it (exact while half < length / 2); i = floor((x - half)
    / length) and j integer arrays."""
    fx = np.clip(((i + 1) * length - (x - half)) / (2 * half), 0.0, 1.0)
    n = table.shape[0]
    a, b = np.mod(i, n).astype(np.intp), np.mod(i + 1, n).astype(np.intp)
    return fx * table[a, j] + (1 - fx) * table[b, j]


def _pavers(style, tones, x, y, half_x, half_y) -> tuple[np.ndarray, np.ndarray]:
    """Tone offset and joint coverage of a pavement's pavers over each pixel's footprint (x along the kerb, y
    away from it, in metres; rows of pavers along the kerb, every other row shifted by `bond` of a paver). Past a
    paver per pixel the tones fade towards their mean, as the average of many slabs would: a pixel spanning
    several slabs has no one slab's tone (point sampling would sparkle)."""
    length, depth = style["slab"]
    half_x, half_y = np.maximum(half_x, 1e-4), np.maximum(half_y, 1e-4)
    j0 = np.floor((y - half_y) / depth)
    fy = np.clip(((j0 + 1) * depth - (y - half_y)) / (2 * half_y), 0.0, 1.0)  # the footprint's share in row j0

    def row(j, x, half_x):
        if style["bond"]:
            x = x + np.float32(style["bond"] * length) * np.mod(j, 2)
        i = np.floor((x - half_x) / length)
        tone = _cell_mean(tones, i, np.mod(j, tones.shape[1]).astype(np.intp), x, half_x, length)
        return tone, box_stripes(x, length, style["joint_width"], half_x)

    tone, joint_x = row(j0, x, half_x)
    straddle = np.flatnonzero(fy < 1)  # (the footprints reaching into the next row)
    if len(straddle):
        share = fy[straddle]
        next_tone, next_joint = row(j0[straddle] + 1, x[straddle], half_x[straddle])
        tone[straddle] = share * tone[straddle] + (1 - share) * next_tone
        joint_x[straddle] = share * joint_x[straddle] + (1 - share) * next_joint
    # small pavers differ less (they would only add noise): the spread is that of 60 x 60 cm slabs
    tone *= np.sqrt(np.clip(length / (2 * half_x), 0, 1) * np.clip(depth / (2 * half_y), 0, 1)
                    * np.sqrt(length * depth / 0.36))
    joints = 1.0 - (1.0 - joint_x) * (1.0 - box_stripes(y, depth, style["joint_width"], half_y))
    return tone, joints


def _road_layout(style) -> dict:
    """Where a road style's repairs lie (u along the road, w across it from the lanes' centre line, metres):
    patches (u, half length, w, half width, tone), utility covers (u, w, disc radius or 0, half sides, iron tone,
    rim width, rim tone), sealed cracks (along u or across, centre, half length, offset, two meanders, half
    width) and the drain gullies' phase, from the style's layout seed (its own generator: the style's other
    draws keep their values). Cached: a virtual camera comes back to its road."""
    return _layout(style["layout_seed"], style["lanes_left"], style["lanes_right"], style["lane_width"],
                   style["patches"], style["covers"], style["cracks"])


@lru_cache(maxsize=64)
def _layout(seed: int, lanes_left: int, lanes_right: int, lw: float, n_patches: int, n_covers: int,
            n_cracks: int) -> dict:
    rng = np.random.default_rng([seed, 2])  # (each kind its own stream: one's count leaves the others in place)
    right, left = -(0.5 + lanes_right) * lw, (0.5 + lanes_left) * lw
    lanes = lanes_left + lanes_right + 1
    patches = []
    for _ in range(n_patches):
        kind, u = rng.random(), rng.uniform(-30.0, 30.0)
        if kind < 0.4:  # a utility trench across one or more lanes from a kerb
            half_length, n = rng.uniform(0.3, 0.75), int(rng.integers(1, lanes + 1))
            lo, hi = (right, right + n * lw) if rng.random() < 0.5 else (left - n * lw, left)
        elif kind < 0.85:  # a patch within a lane
            half_length, half_width = rng.uniform(0.6, 2.5), rng.uniform(0.4, 0.5 * lw)
            centre = (int(rng.integers(-lanes_right, lanes_left + 1)) + rng.uniform(-0.3, 0.3)) * lw
            lo, hi = centre - half_width, centre + half_width
        else:  # a lane resurfaced for a stretch
            half_length, k = rng.uniform(4.0, 12.0), int(rng.integers(-lanes_right, lanes_left + 1))
            lo, hi = (k - 0.5) * lw, (k + 0.5) * lw
        tone = rng.uniform(0.75, 0.9) if rng.random() < 0.6 else rng.uniform(1.08, 1.2)  # fresh black, or old grey
        lo, hi = max(lo, right), min(hi, left)
        patches.append((u, half_length, 0.5 * (lo + hi), 0.5 * (hi - lo), tone))
    gully_phase = rng.uniform(0.0, 1.0)
    covers, rng = [], np.random.default_rng([seed, 3])
    for _ in range(n_covers):
        u, w = rng.uniform(-25.0, 25.0), rng.uniform(right + 0.6, left - 0.6)
        disc = rng.random() < 0.65
        radius = rng.uniform(0.3, 0.4) if disc else 0.0
        sides = (rng.uniform(0.25, 0.4), rng.uniform(0.25, 0.4))
        covers.append((u, w, radius, sides, rng.uniform(0.5, 0.85), rng.uniform(0.04, 0.12),
                       rng.uniform(1.15, 1.35) if rng.random() < 0.5 else rng.uniform(0.55, 0.7)))
    cracks, rng = [], np.random.default_rng([seed, 4])
    for _ in range(n_cracks):
        along = rng.random() < 0.5
        if along:  # down the road, often on a lane line (a paving joint)
            centre, half_length = rng.uniform(-30.0, 30.0), rng.uniform(2.0, 10.0)
            offset = rng.uniform(right + 0.5, left - 0.5)
            if lanes > 1 and rng.random() < 0.5:
                offset = (int(rng.integers(-lanes_right, lanes_left)) + 0.5) * lw + rng.normal(0, 0.3)
        else:  # across part of the road, or all of it
            lo, hi = np.sort(rng.uniform(right, left, 2))
            if rng.random() < 0.4:
                lo, hi = right, left
            centre, half_length, offset = 0.5 * (lo + hi), 0.5 * (hi - lo), rng.uniform(-30.0, 30.0)
        waves = ((rng.uniform(0.05, 0.2), rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)),
                 (rng.uniform(0.01, 0.03), rng.uniform(2.0, 5.0), rng.uniform(0, 2 * np.pi)))
        cracks.append((along, centre, half_length, offset, waves, rng.uniform(0.008, 0.02)))
    return {"patches": tuple(patches), "covers": tuple(covers), "cracks": tuple(cracks),
            "gully_phase": gully_phase}


def _patch(colour, u, w, halves, tone, box, tex) -> None:
    """Scale the colour of the asphalt in rectangle `box` (u, half length, w, half width) by `tone`, by each
    pixel's coverage (exact for a box footprint: the product of the two bands), with a tar seal along its cut
    edges, darker in some places than others (`tex`, the asphalt's blotches)."""
    half_u, half_w = halves
    cu, hl, cw, hw = box
    seal = 0.04
    rows = np.nonzero((np.abs(u - cu) < hl + seal + half_u) & (np.abs(w - cw) < hw + seal + half_w))[0]
    if not len(rows):
        return
    ur, wr, hu, hw_ = u[rows], w[rows], half_u[rows], half_w[rows]
    inner = _band(ur, cu, hl, hu) * _band(wr, cw, hw, hw_)
    outer = _band(ur, cu, hl + seal, hu) * _band(wr, cw, hw + seal, hw_)
    seal_tone = 0.3 * np.clip(0.5 + 2.0 * tex[rows], 0.0, 1.0)
    colour[rows] *= (1.0 + inner * (tone - 1.0) - seal_tone * (outer - inner))[:, None]


def _crack(colour, u, w, halves, crack) -> None:
    """Darken a sealed crack in place: a meandering band of tar along u (or across the road, along w), covered
    by each pixel's footprint across it (its footprint along the band shears it by the band's slope). Meanders
    shorter than a footprint flatten out, so a distant crack is a faint straight line, not a dotted one."""
    along, centre, half_length, offset, waves, half_width = crack
    t, x = (u, w) if along else (w, u)
    half_t, half_x = halves if along else halves[::-1]
    reach = sum(a for a, _, _ in waves) + half_width
    rows = np.nonzero((np.abs(x - offset) < reach + half_x) & (np.abs(t - centre) < half_length + half_t))[0]
    if not len(rows):
        return
    tr, ht = t[rows], half_t[rows]
    line, slope = np.full_like(tr, offset), np.zeros_like(tr)
    for a, k, phase in waves:
        a = a / (1.0 + (k * ht) ** 2)
        line += a * np.sin(k * tr + phase)
        slope += a * k * np.cos(k * tr + phase)
    cov = _band(x[rows] - line, 0.0, half_width, half_x[rows] + np.abs(slope) * ht)
    cov *= _band(tr, centre, half_length, ht)
    colour[rows] *= (1.0 - 0.4 * cov)[:, None]


def _cover(colour, u, w, halves, cover) -> None:
    """Draw a utility cover in place: an iron disc or rectangle (`iron` times the asphalt's tone) in a rim of
    concrete or tar, each by its signed distance over the pixel's footprint (as the arrows)."""
    half_u, half_w = halves
    cu, cw, radius, (su, sw), iron, rim, rim_tone = cover
    reach = max(radius, su, sw) + rim + 0.05
    rows = np.nonzero((np.abs(u - cu) < reach + half_u) & (np.abs(w - cw) < reach + half_w))[0]
    if not len(rows):
        return
    du, dw = u[rows] - cu, w[rows] - cw
    sdf = np.hypot(du, dw) - radius if radius else np.maximum(np.abs(du) - su, np.abs(dw) - sw)
    footprint = np.maximum(np.hypot(half_u[rows], half_w[rows]), 1e-3)
    inside = np.clip(0.5 - sdf / (2 * footprint), 0.0, 1.0)
    ring = np.clip(0.5 - (sdf - rim) / (2 * footprint), 0.0, 1.0) - inside
    colour[rows] *= (1.0 + ring * (rim_tone - 1.0) + inside * (iron - 1.0))[:, None]


def _ground_colour(style, u, w, footprints, grain, blotch, grass) -> np.ndarray:
    """Colour of ground points (u along the road, w across it) with their pixels' half footprints (in u, in
    w, in u along a line of constant w, in w along one of constant u: see _footprints)."""
    half_u, half_w, dash_u, cross_w = footprints
    lw = style["lane_width"]
    w = w - style["lane_offset"]
    right_edge = -(0.5 + style["lanes_right"]) * lw
    left_edge = (0.5 + style["lanes_left"]) * lw
    kerb, pave = style["kerb"], style["pavement_width"]
    layout = _road_layout(style)
    # fine grain fades where a pixel spans many of its texels (it would sparkle)
    fine = np.clip(1.0 / (80.0 * np.maximum(half_u, half_w)), 0.0, 1.0)
    tex = sample_texture(grain, u * 40, w * 40) * 0.5 * fine + sample_texture(blotch, u * 4, w * 4)
    asphalt = style["asphalt"] * (1.0 + 0.18 * tex)[:, None] * style["asphalt_tint"]
    colour = asphalt.astype(np.float32)
    on_road = (w > right_edge) & (w < left_edge)
    from_centre = (np.mod(w / lw + 0.5, 1.0) - 0.5) * lw  # metres from the lane's centre line
    # smooth marks averaged over a footprint wider than themselves fade (a Gaussian blurred by the pixel)
    oil = style["oil"] * np.exp(-(from_centre / 0.35) ** 2) * 0.35 / (0.35 + half_w)
    paths = style["wheel_paths"] * np.exp(-((np.abs(from_centre) - 0.85) / 0.25) ** 2) * 0.25 / (0.25 + half_w)
    colour *= (1.0 - on_road * (oil * (0.6 + 0.4 * np.clip(tex + 0.5, 0, 1)) + paths))[:, None]
    worn = (0.85 + 0.15 * tex)[:, None]

    # repairs: patches of newer or older asphalt, sealed cracks, utility covers
    halves = (half_u, half_w)
    for box in layout["patches"]:
        _patch(colour, u, w, halves, box[4], box[:4], tex)
    for crack in layout["cracks"]:
        _crack(colour, u, w, halves, crack)
    stops = _stop_lines(style)
    if stops and style["stop_stain"] > 0:
        _stop_stains(colour, u, w, halves, from_centre, stops, style["stop_stain"], blotch)
    for cover in layout["covers"]:
        _cover(colour, u, w, halves, cover)

    # paint worn off in places (a third of it left there), where the asphalt's blotches and grain are lowest:
    # ragged gaps of centimetres to metres, which average out far away
    wear = style["wear"]
    threshold = _texture_quantiles(style["texture_seed"])[int(round(100 * wear))]

    def kept(rows):
        if wear <= 0:
            return 1.0
        keep = 1 / 3 + 2 / 3 * np.clip((tex[rows] - threshold) / 0.1 + 0.5, 0.0, 1.0)
        fade = np.clip(0.1 / np.maximum(half_u[rows], half_w[rows]), 0.0, 1.0)
        mean = 1.0 - 2 / 3 * wear
        return mean + (keep - mean) * fade

    # lane lines: the road's edges are solid, lanes between are dashed
    dash_on, dash_off = style["dash"]

    def dashed(rows):
        return box_stripes(u[rows], dash_on + dash_off, dash_on, dash_u[rows]) * kept(rows)

    line_half = 0.07
    for k in range(-style["lanes_right"], style["lanes_left"]):
        yellow = style["centre_yellow"] and k == 0
        paint = np.asarray([0.7, 0.55, 0.1] if yellow else [0.8, 0.8, 0.78], np.float32) * worn
        _paint_band(colour, w, (k + 0.5) * lw, line_half, half_w, paint, kept if yellow else dashed)
    for edge in (right_edge + 0.25, left_edge - 0.25):
        _paint_band(colour, w, edge, line_half, half_w, np.array([0.78, 0.78, 0.76], np.float32) * worn, kept)
    if style["arrows"]:
        for k in range(-style["lanes_right"], style["lanes_left"] + 1):
            _paint_arrow(colour, u, w, (half_u, half_w), style["arrow_u"], k * lw, style["arrow_length"],
                         1.0 if k <= 0 else -1.0, np.array([0.8, 0.8, 0.78], np.float32) * worn, kept)
    if style["crosswalk"]:

        def across(rows):
            inside = (w[rows] > right_edge) & (w[rows] < left_edge)
            return box_stripes(w[rows], 1.0, 0.5, cross_w[rows]) * inside * kept(rows)

        _paint_band(colour, u, style["crosswalk_x"], 2.0, half_u, [0.75, 0.75, 0.73], across)
    for stop_u, lo, hi in stops:

        def lanes(rows, lo=lo, hi=hi):
            return _band(w[rows], 0.5 * (lo + hi), 0.5 * (hi - lo), half_w[rows]) * kept(rows)

        _paint_band(colour, u, stop_u, 0.2, half_u, np.array([0.8, 0.8, 0.78], np.float32) * worn, lanes)
    if style["gullies"]:
        _gullies(colour, u, w, halves, (right_edge, left_edge), style["gully_spacing"], layout["gully_phase"])

    # beyond the road: kerb, pavement, verge and what lies past it, each pixel by its footprint's shares of them
    # (their edges were stair steps); the road is drawn everywhere above and keeps the share left
    off = np.maximum(right_edge - w, w - left_edge)  # metres beyond the nearer road edge (inside: < 0)
    near = np.flatnonzero(off + half_w > 0)
    if not len(near):
        return colour
    o, hw = off[near], np.maximum(half_w[near], 1e-4)
    edges = np.cumsum([0.0, kerb, pave, style["verge_width"]])
    covered = np.clip((o + hw - edges[:, None]) / (2 * hw), 0.0, 1.0)  # the share of each footprint past each edge
    shares = np.append(covered[:-1] - covered[1:], covered[-1:], axis=0)  # kerb, pavement, verge, far
    out = colour[near] * (1.0 - covered[0])[:, None]
    for region, share in enumerate(shares):
        rows = np.flatnonzero(share > 0)
        if not len(rows):
            continue
        at = near[rows]
        if region == 0:
            paint = _kerb_colour(style, u[at], w[at], half_u[at], tex[at])
        elif region == 1:
            paint = _pavement_colour(style, u[at], w[at], off[at] - kerb, half_u[at], half_w[at], tex[at])
        elif region == 2:
            g = sample_texture(grass, u[at] * 30, w[at] * 30)
            g *= np.clip(1.0 / (60.0 * np.maximum(half_u[at], half_w[at])), 0.3, 1.0)
            verge = np.asarray(style["verge"], np.float32)
            verge = 0.7 * verge + 0.3 * verge.mean()  # roadside grass is duller than a lawn
            paint = verge * (1 + 0.5 * g[:, None])
        else:
            paint = np.repeat((style["pavement"] * 0.8 * (1 + 0.1 * tex[at]))[:, None], 3, axis=1)
        out[rows] += share[rows, None] * paint
    colour[near] = out
    return colour


def _kerb_colour(style, u, w, half_u, tex) -> np.ndarray:
    """A kerb of stones along the road, each its own tone, with joints between them."""
    _, stones = _slab_tones(style["layout_seed"], style["slab_spread"], style["slab_replaced"])
    half_u = np.maximum(half_u, 1e-4)
    length = style["kerb_stone"]
    i = np.floor((u - half_u) / length) + 256 * (w > 0)  # the other side's stones from another row
    tone = _cell_mean(stones[:, None], i, 0, u, half_u, length) * np.sqrt(np.clip(length / (2 * half_u), 0, 1))
    joint = box_stripes(u, length, 0.012, half_u)
    shade = np.float32(style["pavement"] * 1.2) * (1 + 0.1 * tex + tone) * (1 - 0.35 * joint)
    return np.repeat(shade[:, None], 3, axis=1)


def _pavement_colour(style, u, w, y, half_u, half_w, tex) -> np.ndarray:
    """The pavement at points y metres from the kerb: pavers that differ slab to slab, faint joints that are
    darker in some places than others (dirt), dirt along the kerb, and on some streets a yellow tactile strip."""
    slabs, _ = _slab_tones(style["layout_seed"], style["slab_spread"], style["slab_replaced"])
    depth = style["slab"][1]
    row0 = np.where(w > 0, np.float32(64 * depth), np.float32(0))  # the other side's slabs from another row
    tone, joints = _pavers(style, slabs, u, y + row0, half_u, half_w)
    joints *= np.clip(0.7 + tex, 0.2, 1.4)
    shade = 1.0 + 0.12 * tex + tone
    shade *= 1.0 - style["joint"] * joints
    shade *= 1.0 - style["pavement_stain"] * np.exp(-np.maximum(y, 0) / 0.5) * np.clip(0.6 + 1.5 * tex, 0.0, 1.5)
    colour = (style["pavement"] * shade)[:, None] * np.asarray(style["pavement_tint"], np.float32)
    if style["tactile"] and style["tactile_offset"] + style["tactile_width"] + 0.3 < style["pavement_width"]:
        half = 0.5 * style["tactile_width"]
        rows = np.nonzero(np.abs(y - style["tactile_offset"] - half) < half + half_w)[0]
        if len(rows):
            cov = _band(y[rows], style["tactile_offset"] + half, half, half_w[rows])
            yellow = np.array([0.64, 0.55, 0.3], np.float32) * (0.8 + 0.4 * style["pavement"])
            _blend(colour, rows, cov, yellow * shade[:, None])
    return colour.astype(np.float32)


def _stop_lines(style) -> list[tuple[float, float, float]]:
    """Stop lines (u, and the w range of the lanes they stop) before a crosswalk, or past the lane arrows' tips:
    the lanes on the right (k <= 0) run towards +u, those on the left towards -u."""
    if not style["stop_line"] or not (style["crosswalk"] or style["arrows"]):
        return []
    lw, gap = style["lane_width"], style["stop_gap"]
    right, left, middle = -(0.5 + style["lanes_right"]) * lw, (0.5 + style["lanes_left"]) * lw, 0.5 * lw
    if style["crosswalk"]:
        ahead, behind = style["crosswalk_x"] - 2.0 - gap, style["crosswalk_x"] + 2.0 + gap
    else:
        ahead = style["arrow_u"] + style["arrow_length"] + gap
        behind = style["arrow_u"] - style["arrow_length"] - gap
    stops = [(ahead, right, middle)]
    if style["lanes_left"]:
        stops.append((behind, middle, left))
    return stops


def _stop_stains(colour, u, w, halves, from_centre, stops, amount, blotch) -> None:
    """Darken the lanes behind each stop line where traffic waits: oil drips down the middle of each lane,
    heaviest at the line and fading over ~10 m behind it, in blotches that average out far away."""
    half_u, half_w = halves
    for stop_u, lo, hi in stops:
        direction = 1.0 if lo < 0 else -1.0  # the way this side's traffic runs
        rows = np.nonzero((w > lo) & (w < hi) & (np.abs(u - stop_u + direction * 12.0) < 12.5))[0]
        if not len(rows):
            continue
        behind = (stop_u - u[rows]) * direction  # metres before the line
        fade = np.clip(0.1 / np.maximum(half_u[rows], half_w[rows]), 0.0, 1.0)
        spots = 0.5 + (sample_texture(blotch, u[rows] * 8 + 5, w[rows] * 8) + 0.2) * 1.6 * fade
        dark = amount * np.exp(-(from_centre[rows] / 0.6) ** 2) * 0.6 / (0.6 + half_w[rows])
        dark *= np.exp(-np.maximum(behind, 0) / 10.0) * np.clip(behind / 0.3 + 0.5, 0, 1) * np.clip(spots, 0, 1.5)
        colour[rows] *= (1.0 - dark)[:, None]


def _gullies(colour, u, w, halves, edges, spacing, phase) -> None:
    """Drain gullies in the gutter along each kerb, every `spacing` metres: iron grates with slots (the slots
    box-filtered: far away a grate is a dark rectangle)."""
    half_u, half_w = halves
    for edge, inward in ((edges[0], 1.0), (edges[1], -1.0)):
        centre = edge + inward * 0.2
        rows = np.nonzero(np.abs(w - centre) < 0.18 + half_w)[0]
        if not len(rows):
            continue
        du = u[rows] - phase * spacing
        du = du - spacing * np.round(du / spacing)
        cov = _band(du, 0.0, 0.42, half_u[rows]) * _band(w[rows], centre, 0.18, half_w[rows])
        keep = np.flatnonzero(cov > 0)
        if not len(keep):
            continue
        slots = box_stripes(du[keep], 0.07, 0.035, half_u[rows[keep]])
        iron = (0.22 * (1.0 - 0.6 * slots))[:, None] * np.array([1.0, 0.97, 0.93], np.float32)
        c, at = cov[keep, None].astype(np.float32), rows[keep]
        colour[at] = colour[at] * (1 - c) + c * iron


@lru_cache(maxsize=32)
def _texture_quantiles(texture_seed: int) -> np.ndarray:
    """The percentiles (101) of a road style's blotch texture: the thresholds that wear a given share of paint."""
    return np.quantile(_road_textures(texture_seed)[1], np.linspace(0, 1, 101)).astype(np.float32)


# --- real frames -------------------------------------------------------------------------------------------


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BackgroundError(folder, "backgrounds directory does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BackgroundError(folder, f"no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return files


class FrameSource:
    """Random square crops of real frames, with a small cache of decoded frames (a virtual camera keeps
    coming back to its own frame)."""

    def __init__(self, files: list[Path], cache: int = 8):
        self.files = list(files)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache

    def __len__(self) -> int:
        return len(self.files)

    def frame(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        path = self.files[index]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[0] < 16 or bgr.shape[1] < 16:
            raise BackgroundError(path, "unreadable or too small background image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        self._cache[index] = rgb
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rgb

    def crop(self, index: int, scale: float, position: tuple[float, float], flip: bool, size: int) -> np.ndarray:
        frame = self.frame(index)
        h, w = frame.shape[:2]
        side = max(8, int(round(min(h, w) * scale)))
        x0 = int(round(position[0] * (w - side)))
        y0 = int(round(position[1] * (h - side)))
        crop = frame[y0: y0 + side, x0: x0 + side]
        if flip:
            crop = crop[:, ::-1]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)


# --- extraction from videos --------------------------------------------------------------------------------


def _imwrite_atomic(path: Path, rgb_or_bgr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    if not cv2.imwrite(str(tmp), rgb_or_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise BackgroundError(path, "could not write image")
    os.replace(tmp, path)


def extract_backgrounds(videos_dir: str | Path, out_dir: str | Path, median_frames: int = 50,
                        sampled_frames: int = 10, progress: bool = True) -> list[Path]:
    """For every video under `videos_dir` (CityFlow's `<scene>/<camera>/vdo.avi` or loose files): the temporal
    median of `median_frames` evenly spaced frames (moving vehicles vanish, parked ones stay) and
    `sampled_frames` plain frames. Output names come from the video's path. Unreadable videos are reported
    and skipped. Returns the written files."""
    from tqdm import tqdm

    videos_dir, out_dir = Path(videos_dir), Path(out_dir)
    videos = sorted(p for p in videos_dir.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
        raise BackgroundError(videos_dir, f"no videos ({', '.join(VIDEO_SUFFIXES)}) found")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for video in tqdm(videos, desc="backgrounds", unit="video", disable=not progress):
        stem = "_".join(video.relative_to(videos_dir).with_suffix("").parts)
        if (out_dir / f"{stem}_median.jpg").exists():
            written.append(out_dir / f"{stem}_median.jpg")
            continue
        cap = cv2.VideoCapture(str(video))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        if count <= 0:
            log.warning("%s: cannot read video (skipped)", video)
            continue
        wanted = np.unique(np.linspace(0, count - 1, max(median_frames, sampled_frames)).astype(int))
        keep_plain = set(np.unique(np.linspace(0, len(wanted) - 1, sampled_frames).astype(int)).tolist())
        frames = []
        for j, index in enumerate(wanted):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = cap.read()
            if not ok:
                continue
            frames.append(frame)
            if j in keep_plain:
                path = out_dir / f"{stem}_f{int(index):06d}.jpg"
                _imwrite_atomic(path, frame)
                written.append(path)
        cap.release()
        if not frames:
            log.warning("%s: no frame could be decoded (skipped)", video)
            continue
        median = np.median(np.stack(frames), axis=0).astype(np.uint8)
        path = out_dir / f"{stem}_median.jpg"
        _imwrite_atomic(path, median)
        written.append(path)
    return written
