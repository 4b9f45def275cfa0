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
        "asphalt": float(rng.uniform(0.16, 0.42)),
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


def _paint_arrow(colour, u, w, halves, tail_u: float, centre_w: float, length: float, direction: float, paint):
    """Paint a straight-ahead lane arrow in place: a shaft from `tail_u` along the lane centred at `centre_w`,
    a head at its end pointing `direction` (+1: +u), weighted by each pixel's coverage (from its signed distance
    to the shape over its footprint, so a distant arrow fades instead of breaking up)."""
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
    _blend(colour, rows, np.clip(0.5 - sdf / (2 * footprint), 0.0, 1.0), paint)


def _ground_colour(style, u, w, footprints, grain, blotch, grass) -> np.ndarray:
    """Colour of ground points (u along the road, w across it) with their pixels' half footprints (in u, in
    w, in u along a line of constant w, in w along one of constant u: see _footprints)."""
    half_u, half_w, dash_u, cross_w = footprints
    lw = style["lane_width"]
    w = w - style["lane_offset"]
    right_edge = -(0.5 + style["lanes_right"]) * lw
    left_edge = (0.5 + style["lanes_left"]) * lw
    kerb, pave = style["kerb"], style["pavement_width"]
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

    # lane lines: the road's edges are solid, lanes between are dashed
    dash_on, dash_off = style["dash"]

    def dashed(rows):
        return box_stripes(u[rows], dash_on + dash_off, dash_on, dash_u[rows])

    line_half = 0.07
    for k in range(-style["lanes_right"], style["lanes_left"]):
        yellow = style["centre_yellow"] and k == 0
        paint = np.asarray([0.7, 0.55, 0.1] if yellow else [0.8, 0.8, 0.78], np.float32) * worn
        _paint_band(colour, w, (k + 0.5) * lw, line_half, half_w, paint, None if yellow else dashed)
    for edge in (right_edge + 0.25, left_edge - 0.25):
        _paint_band(colour, w, edge, line_half, half_w, np.array([0.78, 0.78, 0.76], np.float32) * worn)
    if style["arrows"]:
        for k in range(-style["lanes_right"], style["lanes_left"] + 1):
            _paint_arrow(colour, u, w, (half_u, half_w), style["arrow_u"], k * lw, style["arrow_length"],
                         1.0 if k <= 0 else -1.0, np.array([0.8, 0.8, 0.78], np.float32) * worn)
    if style["crosswalk"]:

        def across(rows):
            return box_stripes(w[rows], 1.0, 0.5, cross_w[rows]) * ((w[rows] > right_edge) & (w[rows] < left_edge))

        _paint_band(colour, u, style["crosswalk_x"], 2.0, half_u, [0.75, 0.75, 0.73], across)

    outside = (w < right_edge) | (w > left_edge)
    off = np.where(w < right_edge, right_edge - w, w - left_edge)  # metres beyond the road edge
    is_kerb = outside & (off < kerb)
    is_pave = outside & (off >= kerb) & (off < kerb + pave)
    is_verge = outside & (off >= kerb + pave) & (off < kerb + pave + style["verge_width"])
    is_far = outside & (off >= kerb + pave + style["verge_width"])
    colour[is_kerb] = np.float32(style["pavement"] * 1.2) * (1 + 0.1 * tex[is_kerb, None])
    p = is_pave
    joints = 1.0 - (1.0 - box_stripes(u[p], 0.6, 0.02, half_u[p])) * (1.0 - box_stripes(off[p], 0.6, 0.02, half_w[p]))
    colour[p] = (style["pavement"] * (1 + 0.12 * tex[p]) * (1 - 0.25 * joints))[:, None]
    g = sample_texture(grass, u * 30, w * 30) * np.clip(1.0 / (60.0 * np.maximum(half_u, half_w)), 0.3, 1.0)
    verge = np.asarray(style["verge"], np.float32)
    verge = 0.7 * verge + 0.3 * verge.mean()  # roadside grass is duller than a lawn
    colour[is_verge] = verge * (1 + 0.5 * g[is_verge, None])
    colour[is_far] = style["pavement"] * 0.8 * (1 + 0.1 * tex[is_far, None])
    return colour


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
