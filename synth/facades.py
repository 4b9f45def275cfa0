"""The buildings along a procedural road (synth/backgrounds.py): each side of the street is a row of buildings of
their own width, height, cladding, storey height and window grid, with a shop front or a plain wall at street
level and panes that differ window to window (blinds, lights, reflections). Above a building's roof line the
camera sees the sky, so the street has a skyline. One endless wall of one colour with one window grid, as
before, read as a game level behind every vehicle.

Everything is box-filtered over each pixel's footprint on the facade (`box_stripes`), as the road's markings
are, so distant windows average out instead of aliasing. Pure numpy.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# what roadside buildings are clad in (sRGB): concrete, sand and cream render, white render, brick, light tile,
# dark glass and metal panels. (A grey mixed with a random colour had made lilac, pink and mint walls.)
FACADE_COLOURS = np.array([[0.55, 0.55, 0.53], [0.70, 0.64, 0.52], [0.75, 0.69, 0.50], [0.80, 0.79, 0.76],
                           [0.52, 0.33, 0.26], [0.65, 0.66, 0.66], [0.30, 0.32, 0.35]])
STREET_EXTENT = 600.0  # metres of street modelled each way along the road
PANE = np.array([0.1, 0.11, 0.13])  # a dark pane's own colour (it mirrors some sky on top)


def box_stripes(x: np.ndarray, period, width, half: np.ndarray) -> np.ndarray:
    """Fraction of the interval x +- half covered by the stripes mod(x, period) < width (a box filter, exact:
    the difference of the stripes' running integral over the interval). Period and width may vary per x."""
    def integral(v):
        return np.floor(v / period) * width + np.minimum(np.mod(v, period), width)
    half = np.maximum(half, 1e-4)
    return np.clip((integral(x + half) - integral(x - half)) / (2 * half), 0.0, 1.0)


@lru_cache(maxsize=64)
def street_side(seed: int) -> dict[str, np.ndarray]:
    """One side of the street: buildings along u from -STREET_EXTENT, each with its `edges` (n + 1), `colour`
    (n, 3 sRGB), `height`, `storey`, window `pitch`, window width and height fractions, and `shop` (a glazed
    ground floor). Cached: a virtual camera's street comes back image after image (read-only arrays)."""
    rng = np.random.default_rng(seed)
    widths = rng.uniform(8.0, 36.0, int(2 * STREET_EXTENT / 8.0) + 1)
    edges = -STREET_EXTENT + np.concatenate([[0.0], np.cumsum(widths)])
    n = len(widths)
    colour = FACADE_COLOURS[rng.integers(len(FACADE_COLOURS), size=n)] * rng.uniform(0.85, 1.1, (n, 1))
    colour = colour * rng.uniform(0.96, 1.04, (n, 3))  # weathering tints one wall from the next
    storey = rng.uniform(2.8, 3.6, n)
    side = {
        "edges": edges, "colour": np.clip(colour, 0, 1).astype(np.float32),
        "height": storey * np.round(np.exp(rng.uniform(np.log(2), np.log(24), n))) + rng.uniform(0.3, 1.5, n),
        "storey": storey, "pitch": rng.uniform(1.6, 4.2, n), "win_w": rng.uniform(0.35, 0.85, n),
        "win_h": rng.uniform(0.4, 0.75, n), "shop": rng.random(n) < 0.45,
        "pane_seed": rng.integers(2**31, size=n),
    }
    for array in side.values():
        array.setflags(write=False)
    return side


def _pane_variation(col: np.ndarray, row: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """A brightness factor per window (hash of its column, row and building): blinds, lit rooms, sky mirrored."""
    h = (col.astype(np.int64) * 73856093) ^ (row.astype(np.int64) * 19349663) ^ seed.astype(np.int64)
    h = (h * 2654435761) & 0xFFFFFF
    return (0.55 + 1.1 * (h / float(0xFFFFFF))).astype(np.float32)


def facade_colour(side: dict, fu: np.ndarray, fz: np.ndarray, hu: np.ndarray, hz: np.ndarray, shade: np.ndarray,
                  sky_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sRGB colour (N, 3) of facade points (u along the street, z up; hu, hz their pixel footprints' half
    sizes) of one street side, and a mask of the points above their building's roof (the sky shows there).
    `shade` (N,) is the wall's light (weathering blotches, darker low down)."""
    b = np.clip(np.searchsorted(side["edges"], fu) - 1, 0, len(side["height"]) - 1)
    above = fz > side["height"][b]
    u0 = fu - side["edges"][b]
    pitch, storey = side["pitch"][b], side["storey"][b]
    upper = fz > storey  # the storeys above street level
    window = box_stripes(u0 - 0.5 * pitch * (1 - side["win_w"][b]), pitch, pitch * side["win_w"][b], hu) * \
        box_stripes(fz - 0.5 * storey * (1 - side["win_h"][b]), storey, storey * side["win_h"][b], hz) * upper
    # a shop front: one glazed band over the street-level storey, mullions every few metres
    shop = side["shop"][b] & ~upper & (fz > 0.25)
    glazing = np.where(shop, 1.0 - box_stripes(u0, 3.0, 0.12, hu), 0.0) * (fz < 0.85 * storey)
    window = np.maximum(window, glazing)
    slab = box_stripes(fz + 0.15, storey, 0.3, hz) * (fz > 0.9 * storey)  # floor slabs between storeys
    # window to window the panes differ, the more so the nearer (far away they average out)
    vary = _pane_variation(np.floor(u0 / pitch), np.floor(fz / storey), side["pane_seed"][b])
    near = np.clip(1.5 - 2.0 * hu / pitch, 0.0, 1.0)
    vary = 1.0 + (vary - 1.0) * near
    glass = (0.85 * PANE + 0.15 * sky_rgb)[None, :] * vary[:, None]
    wall = side["colour"][b] * (shade * (1.0 - 0.12 * slab))[:, None]
    # a building's edge: a thin dark joint where one wall meets the next
    joint = 1.0 - 0.5 * np.clip(1.0 - np.minimum(u0, side["edges"][b + 1] - fu) / np.maximum(2 * hu, 0.05), 0, 1)
    colour = (wall * (1 - window[:, None]) + window[:, None] * glass * shade[:, None]) * joint[:, None]
    return colour.astype(np.float32), above
