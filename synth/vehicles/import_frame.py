"""The frame of an imported model (`cli.py assets import`): which file axes are forward, left and up, and its
wheels. Pure numpy (scipy's k-d tree for the mirror test).

The longest side is the length; of the other two, the mirror-symmetric one is the width; up is the side where
the wheels are at the bottom (or, without wheel parts, the end whose extreme slice lies at the outer edges: tyres
touch the ground at the sides, a roof is in the middle); forward from lamp names/colours (white head lamps, red
tail lamps), else the lower end (a hood), else the end with more glass (a bus's windshield). Wheels: wheel parts
by name/material, else connected parts touching the ground that are as long as tall, grouped per side and axle.
"""
from __future__ import annotations

import numpy as np


def _asymmetry(points: np.ndarray, axis: int, centre: float, scale: float) -> float:
    """Median distance from each point mirrored across the plane axis = centre to the nearest point."""
    from scipy.spatial import cKDTree

    mirrored = points.copy()
    mirrored[:, axis] = 2 * centre - mirrored[:, axis]
    d, _ = cKDTree(points).query(mirrored, k=1)
    return float(np.median(d) / scale)


def _bottom_score(points, up: int, sign: float, lateral: int) -> float:
    """How far out to the sides the extreme slice at `sign` end of `up` lies (tyres: near 1, a roof: ~0.5)."""
    h = points[:, up] * sign
    top = h.max()
    span = np.ptp(points[:, up])
    sl = points[h > top - 0.04 * span]
    lat = points[:, lateral]
    c, half = (lat.max() + lat.min()) / 2, np.ptp(lat) / 2
    return float(np.mean(np.abs(sl[:, lateral] - c)) / max(half, 1e-9))


def find_frame(points, lamp_points: dict, glass_points, wheel_points=None) -> tuple[np.ndarray, list]:
    """Rotation (3x3, rows = vehicle x, y, z in file coordinates) and notes. Axis-aligned models only."""
    notes = []
    ext = np.ptp(points, axis=0)
    length_axis = int(np.argmax(ext))
    others = [a for a in range(3) if a != length_axis]
    scale = float(ext.max())
    rng = np.random.default_rng(0)
    sub = points[rng.choice(len(points), min(len(points), 20000), replace=False)]
    centre = (sub.max(0) + sub.min(0)) / 2
    asym = [_asymmetry(sub, a, centre[a], scale) for a in others]
    lateral = others[int(np.argmin(asym))]
    up = others[int(np.argmax(asym))]
    if min(asym) > 0.02:
        notes.append(f"no mirror plane found (asymmetry {min(asym):.3f} of the length)")
    src = wheel_points if wheel_points is not None and len(wheel_points) > 100 else points
    if wheel_points is not None and len(wheel_points) > 100:
        # the wheels are the lowest thing: they sit at the bottom end of the up axis
        lo, hi = points[:, up].min(), points[:, up].max()
        wmid = np.median(wheel_points[:, up])
        up_sign = 1.0 if wmid - lo < hi - wmid else -1.0
        notes.append("up: the wheels are at the bottom")
    else:
        s_neg = _bottom_score(src, up, -1.0, lateral)  # slice at the low end
        s_pos = _bottom_score(src, up, 1.0, lateral)
        up_sign = 1.0 if s_neg >= s_pos else -1.0
        notes.append(f"up: the extreme slice at the sides is the ground ({max(s_neg, s_pos):.2f} vs {min(s_neg, s_pos):.2f})")
    fwd_sign, why = _forward_sign(points, lamp_points, glass_points, length_axis, up, up_sign)
    notes.append(f"forward: {why}")
    ex = np.zeros(3)
    ex[length_axis] = fwd_sign
    ez = np.zeros(3)
    ez[up] = up_sign
    ey = np.cross(ez, ex)
    return np.stack([ex, ey, ez]), notes


def _forward_sign(points, lamp_points, glass_points, axis, up, up_sign) -> tuple[float, str]:
    lo, hi = points[:, axis].min(), points[:, axis].max()
    mid = (lo + hi) / 2
    head, tail = lamp_points.get("head"), lamp_points.get("tail")
    if head is not None and tail is not None and len(head) and len(tail):
        d = np.median(head[:, axis]) - np.median(tail[:, axis])
        if abs(d) > 0.3 * (hi - lo):
            return float(np.sign(d)), "head lamps ahead of tail lamps"
    # red lamps first: only tail lamps are red, while a white lens may be a reversing lamp at the rear
    for key, sgn in (("tail", -1.0), ("head", 1.0)):
        pts = lamp_points.get(key)
        if pts is not None and len(pts):
            d = np.median(pts[:, axis]) - mid
            if abs(d) > 0.3 * (hi - lo):
                return float(np.sign(d) * sgn), f"{key} lamps"
    # the lower end is the front (a hood; a boot, a tailgate or a cargo box stands higher)
    h = points[:, up] * up_sign
    h = h - h.min()
    span = hi - lo
    ends = []
    for sgn in (1.0, -1.0):
        u = (points[:, axis] - mid) * sgn
        band = (u > span * 0.30) & (u < span * 0.40)
        ends.append(np.percentile(h[band], 98) if band.any() else 0.0)
    height = h.max()
    if abs(ends[0] - ends[1]) > 0.06 * height:
        return (1.0 if ends[0] < ends[1] else -1.0), "the lower end (the hood) is the front"
    # flat both ends (a bus): the end with the larger glass face is the front (windshield)
    if glass_points is not None and len(glass_points):
        u = glass_points[:, axis] - mid
        front = (u > 0.4 * span).sum()
        back = (u < -0.4 * span).sum()
        if front != back:
            return (1.0 if front > back else -1.0), "the end with more glass (windshield) is the front"
    return 1.0, "guessed (no cue: check the contact sheet)"


# --- wheels ------------------------------------------------------------------------------------------------


def find_wheels(points_v: np.ndarray, height: float) -> list[dict]:
    """Wheels from wheel points in the vehicle frame (any unit; z = 0 at the lowest point of the model):
    clustered per side and along x; each dict: x, z, radius, y_out (outermost |y|), side."""
    wheels = []
    if len(points_v) == 0:
        return wheels
    for side in (1.0, -1.0):
        pts = points_v[points_v[:, 1] * side > 0]
        if len(pts) < 20:
            continue
        order = np.argsort(pts[:, 0])
        xs = pts[order, 0]
        gaps = np.flatnonzero(np.diff(xs) > 0.05 * height)
        starts = np.concatenate([[0], gaps + 1])
        ends = np.concatenate([gaps + 1, [len(xs)]])
        for s, e in zip(starts, ends):
            w = pts[order[s:e]]
            if len(w) < 10:
                continue
            xr, zr = np.ptp(w[:, 0]), np.ptp(w[:, 2])
            if zr < 0.08 * height or not (0.6 < xr / max(zr, 1e-9) < 1.6):
                continue
            wheels.append({"x": float((w[:, 0].max() + w[:, 0].min()) / 2),
                           "z": float((w[:, 2].max() + w[:, 2].min()) / 2), "radius": float(zr / 2),
                           "zmin": float(w[:, 2].min()), "y_out": float(np.abs(w[:, 1]).max()),
                           "side": side, "points": w})
    return wheels


def wheel_candidates_from_parts(verts, tris, areas, labels, height) -> np.ndarray:
    """Triangles of connected parts that look like wheels: touching the ground, as long as tall, narrow."""
    out = np.zeros(len(tris), bool)
    zmin_all = verts[:, 2].min()
    for lab in np.unique(labels):
        sel = labels == lab
        v = verts[np.unique(tris[sel])]
        ext = np.ptp(v, axis=0)
        if ext[2] < 0.12 * height or ext[2] > 0.6 * height:
            continue
        if v[:, 2].min() - zmin_all > 0.05 * height:
            continue
        if not (0.75 < ext[0] / ext[2] < 1.33) or ext[1] > 0.8 * ext[2]:
            continue
        out |= sel
    return out
