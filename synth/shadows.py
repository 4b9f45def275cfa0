"""Shadows from casters outside the picture: a tree's canopy, poles and their signs, a building's edge.

Traffic cameras look at roads lined with trees, lamp posts and buildings, and on a sunny day their shadows lie
across the road and the vehicles on it. The caster is an opacity mask on a horizontal plane `height` metres
up, which blocks the sun alone (synth/blender/scene_backend.py): Cycles shades the vehicle and the shadow
catcher under it, and `ground_light` shades the rest of the road here, with the same mask, the same sun and the
same light balance, so the shadow runs on across the catcher's edge. A horizontal plane does poles too: a bar
along the sun's azimuth throws the same shadow as an upright pole, since both lie in the vertical plane through
the sun.

Plain numpy: the mask and the plane's placement are drawn from the sample's description.
"""
from __future__ import annotations

import cv2
import numpy as np

from synth.backgrounds import sample_texture, value_noise
from synth.camera import ground_points
from synth.street_view import street_cover

CASTER_KINDS = ("canopy", "poles", "building")
MASK_SIZE = 512  # texels a side; 2 * HALF_SIZE / MASK_SIZE = 8 cm per texel
HALF_SIZE = 20.0  # metres from the plane's centre to its edge
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])
SUN_GATE_DEGREES = 5.0  # the plane stops rays within this angle of the sun: sun samples, not sky ones


def sample_caster(rng: np.random.Generator, kinds: dict, height_range, sun_azimuth: float, sun_elevation: float):
    """A caster for one image: its kind (drawn by `kinds` weights), mask seed, height, and where its plane sits
    (centre x, y in metres, rotation in degrees) so that the vehicle's spot in the pattern varies."""
    names = [k for k in CASTER_KINDS if kinds.get(k, 0) > 0]
    weights = np.array([kinds[k] for k in names], np.float64)
    kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    height = float(rng.uniform(*height_range)) * (1.6 if kind == "building" else 1.0)
    # the point of the plane straight up-sun of the vehicle's middle, then the pattern shifted by a few metres
    el, az = np.radians(sun_elevation), np.radians(sun_azimuth)
    reach = (height - 0.8) / np.tan(el)
    centre = np.array([np.cos(az), np.sin(az)]) * reach + rng.uniform(-5.0, 5.0, 2)
    angle = sun_azimuth if kind == "poles" else float(rng.uniform(0, 360))
    return {"kind": kind, "seed": int(rng.integers(2**31)), "height": height,
            "centre": (float(centre[0]), float(centre[1])), "angle": float(angle)}


def caster_mask(caster: dict, size: int = MASK_SIZE) -> np.ndarray:
    """Opacity (size, size) float32 in [0, 1], in steps of 1/255, of the caster's plane; row j is
    v = (j + 0.5) / size (v up), column i is u; u runs along the plane's rotated x axis. Zero at the borders
    (the shadow ends there)."""
    rng = np.random.default_rng(caster["seed"])
    metres = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 * HALF_SIZE - HALF_SIZE
    x, y = np.meshgrid(metres, metres)
    mask = {"canopy": _canopy, "poles": _poles, "building": _building}[caster["kind"]](rng, x, y, size)
    border = np.clip((HALF_SIZE - np.maximum(np.abs(x), np.abs(y))) / 1.5, 0, 1)
    # in 8-bit steps, as Blender holds it (a byte image syncs to Cycles in a quarter of a float one's time)
    return (np.round(np.clip(mask * border, 0, 1) * 255) / 255).astype(np.float32)


def _canopy(rng, x, y, size):
    """A row of tree crowns, as planted along a road, as their dappled shade shows them: under a crown mostly
    shade, which the leaves let a little light through, with small round sunflecks (each gap between the leaves
    throws an image of the sun), clustered where the leaves are thin and more and bigger towards the rim; a rim
    of leaf clusters; full sun between the crowns."""
    texel = 2 * HALF_SIZE / size
    heading = rng.uniform(0, np.pi)
    along, offset = np.array([np.cos(heading), np.sin(heading)]), rng.uniform(-4, 4)
    spacing = rng.uniform(5.0, 9.0)
    wobble = 1.0 + 0.3 * (value_noise(rng, size, 8) - 0.5)
    depth = np.full_like(x, np.inf)  # squared distance from the nearest crown's centre over its radius
    xs, ys = x[:1], y[:, :1]  # x varies along each row and y down each column: distances by broadcasting
    lobes = np.zeros_like(x)
    for k in range(-2, 3):
        cx, cy = along * (k * spacing + rng.uniform(-1.5, 1.5)) + offset * np.array([-along[1], along[0]])
        r = rng.uniform(2.5, 5.0)
        depth = np.minimum(depth, ((xs - cx) ** 2 + (ys - cy) ** 2) / r ** 2)
        # leaf clusters round the rim, one every 40 cm: lobes standing out of the crown, gaps between them
        n = int(2 * np.pi * r / 0.4)
        theta, rho = rng.uniform(0, 2 * np.pi, n), r * rng.uniform(0.7, 1.25, n)
        ix = ((cx + rho * np.cos(theta) + HALF_SIZE) / texel).astype(np.int64)
        iy = ((cy + rho * np.sin(theta) + HALF_SIZE) / texel).astype(np.int64)
        inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
        np.add.at(lobes, (iy[inside], ix[inside]), rng.uniform(0.4, 1.4, n)[inside])
    depth = np.sqrt(depth) / wobble
    sigma = 0.3 / texel  # a cluster's size
    lobes = cv2.GaussianBlur(lobes, (0, 0), sigma) * (2 * np.pi * sigma ** 2)  # a lone cluster peaks at its weight
    leafy = (0.95 - depth) / 0.2 + 1.1 * lobes + 0.9 * (value_noise(rng, size, 120) - 0.5)
    cover = np.clip((leafy - 0.2) / 0.15, 0, 1)
    # where the leaves are thin: towards the rim, and in patches of a metre or two
    thin = np.clip(0.15 + 0.5 * np.minimum(depth, 1.2) + 0.8 * (value_noise(rng, size, 20) - 0.5), 0.03, 1)
    clumps = value_noise(rng, size, 48)  # leaf clumps of about a metre, some thinner than others
    # sunflecks: candidates spread evenly, kept by how thin the leaves are there, in clusters in the thin clumps
    count = rng.poisson(14.0 * (2 * HALF_SIZE) ** 2)
    fx, fy = rng.uniform(0, size, count), rng.uniform(0, size, count)
    at = (fy.astype(np.int64), fx.astype(np.int64))
    t = thin[at]
    keep = (rng.random(count) < t * (0.15 + 2.2 * clumps[at] ** 2)) & (cover[at] > 0)
    t = t[keep]
    radius = (0.05 + 0.15 * t * rng.random(len(t))) / texel  # 10-40 cm across
    flecks = cv2.GaussianBlur(_discs(size, fx[keep], fy[keep], radius), (0, 0), 0.5)
    # the leaves let a little light through, most in thin clumps: the shade is not one flat level
    dense = 1.0 - (0.05 + 0.2 * thin) * clumps
    return cover * dense * (1.0 - flecks)


def _discs(size: int, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """The union of discs (centres and radii in texels, texel i spanning [i, i + 1]) as antialiased coverage
    (size, size) float32 in [0, 1]; all stamped at once, each in a box of the largest one's size."""
    out = np.zeros((size, size), np.float32)
    if len(cx) == 0:
        return out
    offsets = np.arange(-int(np.ceil(radius.max() + 1)), int(np.ceil(radius.max() + 1)) + 1)
    px = np.floor(cx).astype(np.int64)[:, None, None] + offsets[None, None, :]
    py = np.floor(cy).astype(np.int64)[:, None, None] + offsets[None, :, None]
    dist = np.hypot(px + 0.5 - cx[:, None, None], py + 0.5 - cy[:, None, None])
    cover = np.clip(radius[:, None, None] - dist + 0.5, 0, 1).astype(np.float32)
    px, py = np.broadcast_arrays(px, py)
    keep = (cover > 0) & (px >= 0) & (px < size) & (py >= 0) & (py < size)
    np.maximum.at(out, (py[keep], px[keep]), cover[keep])
    return out


def _poles(rng, x, y, size):
    """One to three poles (bars along u, which lies along the sun's azimuth), some with a sign or a lamp arm."""
    out = np.zeros_like(x)
    for _ in range(int(rng.integers(1, 4))):
        across, width = rng.uniform(-8, 8), rng.uniform(0.12, 0.35)
        start, length = rng.uniform(-12, 4), rng.uniform(6.0, 14.0)
        along = (x >= start) & (x <= start + length)
        out = np.maximum(out, along * np.clip((width / 2 - np.abs(y - across)) / 0.04 + 0.5, 0, 1))
        end = start + length
        if rng.random() < 0.4:  # a sign board at the top
            w, h = rng.uniform(0.6, 2.0), rng.uniform(0.5, 1.5)
            out = np.maximum(out, (np.abs(x - end + h / 2) < h / 2) * (np.abs(y - across) < w / 2))
        elif rng.random() < 0.5:  # a lamp arm across
            arm = rng.uniform(1.0, 3.0) * rng.choice([-1, 1])
            lo, hi = sorted((across, across + arm))
            out = np.maximum(out, (np.abs(x - end) < 0.08) * (y >= lo) * (y <= hi))
    return out


def _building(rng, x, y, size):
    """The shadow of a building's roof edge: everything beyond a line near the middle, with a step or two."""
    theta = rng.uniform(0, 2 * np.pi)
    n = np.array([np.cos(theta), np.sin(theta)])
    s = x * n[0] + y * n[1] - rng.uniform(-5, 5)
    t = -x * n[1] + y * n[0]
    for _ in range(int(rng.integers(0, 3))):  # setbacks and parapets along the edge
        s = s + np.where(t > rng.uniform(-10, 10), rng.uniform(-2.5, 2.5), 0.0)
    return np.clip(s / 0.05 + 0.5, 0, 1)


def _inside(points: np.ndarray, rectangle) -> np.ndarray:
    """Whether ground points (N, 2+) lie in `rectangle` ((x0, y0), (x1, y1)), edges included."""
    (x0, y0), (x1, y1) = rectangle
    return (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)


def plane_coordinates(points_xy: np.ndarray, caster: dict) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) in [0, 1] on the caster's plane of world points (..., 2) on it."""
    a = np.radians(caster["angle"])
    d = points_xy - np.asarray(caster["centre"])
    local_x = d[..., 0] * np.cos(a) + d[..., 1] * np.sin(a)
    local_y = -d[..., 0] * np.sin(a) + d[..., 1] * np.cos(a)
    return local_x / (2 * HALF_SIZE) + 0.5, local_y / (2 * HALF_SIZE) + 0.5


def sun_direction(sun_elevation: float, sun_azimuth: float) -> np.ndarray:
    el, az = np.radians(sun_elevation), np.radians(sun_azimuth)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def sky_gradient(sky_rgb, overcast: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Linear-RGB sky colour at the horizon and at the zenith (before the sky's strength). A clear sky is paler
    and brighter at the horizon, where its radiance is 2-3x the zenith's, deeper overhead. An overcast sky is
    the other way round (the CIE overcast sky: the zenith ~2.5x the horizon), scaled to light level ground as
    the clear gradient would: the bright zenith is what raked windshields and bonnets mirror on a grey day
    (pale grey glass in real footage, where a horizon-bright sky left them near black)."""
    sky = np.asarray(sky_rgb, np.float64)
    horizon, zenith = 1.7 * (0.45 * sky + 0.55 * sky.max()), 0.75 * sky
    if not overcast:
        return horizon, zenith
    level = _level_ground_weight(horizon, zenith)
    horizon, zenith = 0.4 * sky, sky
    scale = level / _level_ground_weight(horizon, zenith)
    return scale * horizon, scale * zenith


def _level_ground_weight(horizon: np.ndarray, zenith: np.ndarray) -> float:
    """Cosine-weighted mean luminance of a sky gradient over the upper hemisphere: its light on level ground."""
    z = (np.arange(256) + 0.5) / 256
    return 2 * float(np.mean(_sky_luminance(z, horizon, zenith) * z))


def ground_irradiance(sample, sun_rgb, street=None) -> tuple[float, float]:
    """Luminance of the sun's and the sky's light on level ground: what sets how dark a shadow is (the sky's
    share of the whole). The sky is integrated over the upper hemisphere as synth/blender/sky.py draws it
    (horizon to zenith over z 0..0.7), cosine-weighted. With the image's `street` panorama (synth/street_view.py,
    which the world shows round the horizon) the sky counts only where it shows between the facades and trees,
    and those add the light they send back (their albedo under the open sky and the sun, as sky.py lights them):
    under a row of trees a shadow is darker than under an open sky."""
    sun = _sun_on_ground(sample, sun_rgb)
    if street is None:
        return sun, _open_sky_on_ground(sample)
    cover = street_cover(street)
    return sun, float(np.sum(cover["weight"] * _world_radiance(sample, sun, cover["z"], cover)))


def _sun_on_ground(sample, sun_rgb) -> float:
    return sample.sun_strength * max(np.sin(np.radians(sample.sun_elevation)), 0.0) * float(np.dot(sun_rgb, LUMINANCE))


def _open_sky_on_ground(sample) -> float:
    return np.pi * sample.sky_strength * _level_ground_weight(*sky_gradient(sample.sky_color, sample.overcast))


def _world_radiance(sample, sun: float, z: np.ndarray, cover: dict | None) -> np.ndarray:
    """Luminance of the world's light from elevation sines `z`: the sky, or with a street's `cover`
    (street_view.street_cover) the sky where it shows plus the facades and trees lit by the sun (`sun`, its
    light on level ground) and the open sky."""
    sky = sample.sky_strength * _sky_luminance(z, *sky_gradient(sample.sky_color, sample.overcast))
    if cover is None:
        return sky
    lit = (sun + _open_sky_on_ground(sample)) / np.pi
    return np.interp(z, cover["z"], cover["open"]) * sky + lit * np.interp(z, cover["z"], cover["albedo"])


def _sky_luminance(z: np.ndarray, horizon: np.ndarray, zenith: np.ndarray) -> np.ndarray:
    """Luminance of the sky's radiance (before its strength) at elevation sines `z`, as sky.py blends it."""
    t = np.minimum(z / 0.7, 1.0)
    return np.outer(1 - t, horizon) @ LUMINANCE + np.outer(t, zenith) @ LUMINANCE


def lit_scale(sample, sun_rgb) -> float:
    """Radiance over albedo of level ground in the image's sun and sky, over the sky's strength: what the sky
    group multiplies the street panorama's and the road's albedo by (synth/blender/sky.py)."""
    sun, sky = ground_irradiance(sample, sun_rgb)
    return float((sun + sky) / np.pi / max(sample.sky_strength, 1e-6))


def background_gain(sample, sun_rgb) -> float:
    """What the image's light and exposure make of a drawn background (synth/backgrounds.py draws albedo as
    albedo): level ground's radiance over its albedo under the sun and sky, times 2**exposure, as Cycles' view
    transform scales the vehicle and the catcher. 1 only where the exposure meters the ground exactly; the
    metering weighs upright surfaces too and the camera's error is jittered, so without it a vehicle stood
    -0.8..+0.7 stops (5-95 %) off the brightness of the road it stands on."""
    sun, sky = ground_irradiance(sample, sun_rgb)
    return float(2.0 ** sample.exposure * (sun + sky) / np.pi)


def lit_ground(sample, sun_rgb) -> np.ndarray:
    """Linear RGB of the road below the horizon as the sky group draws it (before the sky's strength): the
    road's albedo under the sun's and the sky's light, so that a body's lower half mirrors and picks up a road
    as bright as the one around it (an albedo times the sky's strength alone did not follow the sun: up to 8x
    too dark under a high one)."""
    return np.asarray(sample.ground_color, np.float64) * lit_scale(sample, sun_rgb)


def ground_light(points: np.ndarray, caster: dict, mask: np.ndarray, sample, sun_rgb,
                 exclude=None, street=None) -> np.ndarray:
    """Light factor (N,) in (0, 1] of world points (N, 3) under the caster: 1 in the sun, the sky's share where
    the mask blocks it. The mask is blurred by the sun's penumbra at the ground's distance from the plane.
    `exclude` ((x0, y0), (x1, y1)): points inside this ground rectangle (the shadow catcher, which Cycles
    shades) get 1. `street`: the image's street panorama (see ground_irradiance)."""
    to_sun = sun_direction(sample.sun_elevation, sample.sun_azimuth)
    sun, sky = ground_irradiance(sample, sun_rgb, street)
    reach = (caster["height"] - points[:, 2]) / to_sun[2]  # along the ray to the plane
    hit = points[:, :2] + reach[:, None] * to_sun[:2]
    u, v = plane_coordinates(hit, caster)
    size = mask.shape[0]
    penumbra = caster["height"] / to_sun[2] * np.radians(sample.sun_angle) / 4  # sd of a uniform disc, metres
    sigma = penumbra / (2 * HALF_SIZE / size)
    blurred = cv2.GaussianBlur(mask, (0, 0), sigma) if sigma > 0.3 else mask
    opacity = sample_texture(blurred, u * size - 0.5, v * size - 0.5, wrap=False)
    opacity = np.where(reach > 0, opacity, 0.0)  # points above the plane see the sun
    if exclude is not None:
        opacity = np.where(_inside(points, exclude), 0.0, opacity)
    return (sky + sun * (1.0 - opacity)) / max(sky + sun, 1e-9)



# Directions over the upper hemisphere, cosine-weighted and stratified (16 azimuths x 6 elevations): where the
# sky's light on a point of the ground comes from, each carrying an equal share of it under a uniform sky
_AZIMUTHS, _ELEVATIONS = 16, 6
_phi = (np.arange(_AZIMUTHS) + 0.5) / _AZIMUTHS * 2 * np.pi
_sin_el = np.sqrt((np.arange(_ELEVATIONS) + 0.5) / _ELEVATIONS)
_cos_el = np.sqrt(1 - _sin_el**2)
SKY_DIRECTIONS = np.stack([np.outer(_cos_el, np.cos(_phi)).ravel(), np.outer(_cos_el, np.sin(_phi)).ravel(),
                           np.repeat(_sin_el, _AZIMUTHS)], -1)
del _phi, _sin_el, _cos_el


def sky_radiance(sample, sun_rgb, z: np.ndarray, street=None) -> np.ndarray:
    """Luminance of the world's light arriving from elevation sines `z` (the sky, or with the image's `street`
    panorama the mix of sky and lit facades and trees its rows show), on the scale of ground_irradiance."""
    return _world_radiance(sample, _sun_on_ground(sample, sun_rgb), z,
                           None if street is None else street_cover(street))


def vehicle_sky_light(points_xy: np.ndarray, box, sample, sun_rgb, street=None) -> np.ndarray:
    """Light factor (N,) in (0, 1] of ground points (N, 2) beside a vehicle: the share of the image's light
    (sun and world) that is not the world's light the vehicle hides from them. `box`: ((x0, y0, z0),
    (x1, y1, z1)), the block the body stands for. Cycles shades the ground under and round a vehicle on the
    shadow catcher; beyond its edge the road is a 2D picture, and without this the sky the body hides (a
    grey day's light comes from the whole sky: 10-20 % of it at the catcher's edge) ended in a step there, a
    dark rectangle round every vehicle on overcast days."""
    lo, hi = (np.asarray(corner, np.float64) for corner in box)
    points = np.asarray(points_xy, np.float64).reshape(-1, 2)
    d = SKY_DIRECTIONS
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / d  # +-inf along an axis a direction does not move on
        t_near = np.full((len(points), len(d)), 0.0)
        t_far = np.full((len(points), len(d)), np.inf)
        for axis in range(3):
            start = points[:, axis:axis + 1] if axis < 2 else np.zeros((len(points), 1))
            t0, t1 = (lo[axis] - start) * inverse[:, axis], (hi[axis] - start) * inverse[:, axis]
            t0, t1 = np.nan_to_num(t0, nan=-np.inf), np.nan_to_num(t1, nan=np.inf)  # inside the slab: 0 * inf
            t_near = np.maximum(t_near, np.minimum(t0, t1))
            t_far = np.minimum(t_far, np.maximum(t0, t1))
    hidden = t_far >= t_near
    sun = _sun_on_ground(sample, sun_rgb)
    cover = None if street is None else street_cover(street)
    sky = _open_sky_on_ground(sample) if cover is None else float(
        np.sum(cover["weight"] * _world_radiance(sample, sun, cover["z"], cover)))
    hidden_light = np.pi * (hidden * _world_radiance(sample, sun, d[:, 2], cover)).mean(axis=1)
    return np.clip(1.0 - hidden_light / max(sun + sky, 1e-9), 0.0, 1.0)


def beside_catcher_light(K: np.ndarray, Rt: np.ndarray, size: int, catcher, box, sample, sun_rgb, street=None,
                         grid: int = 40) -> np.ndarray:
    """Light factor (size, size) float32 of a background's pixels: vehicle_sky_light on the ground beyond the
    shadow catcher's rectangle `catcher` ((x0, y0), (x1, y1)), 1 inside it (Cycles shades that) and above the
    horizon. Computed on a `grid` x `grid` lattice and interpolated: the falloff is smooth."""
    centres = (np.arange(grid) + 0.5) * (size / grid)
    u, v = np.meshgrid(centres, centres)
    ground, down = ground_points(K, Rt, np.stack([u.ravel(), v.ravel()], -1))
    outside = down & ~_inside(ground, catcher)
    # the body hides a tenth of the light from ~3 heights away: beyond that nothing worth the cost
    (bx0, by0, _), (bx1, by1, bz1) = box
    reach = 4.0 * bz1
    near = outside & (ground[:, 0] > bx0 - reach) & (ground[:, 0] < bx1 + reach) & \
        (ground[:, 1] > by0 - reach) & (ground[:, 1] < by1 + reach)
    light = np.ones(grid * grid, np.float32)
    if near.any():
        light[near] = vehicle_sky_light(ground[near, :2], box, sample, sun_rgb, street)
    return cv2.resize(light.reshape(grid, grid), (size, size), interpolation=cv2.INTER_LINEAR)
