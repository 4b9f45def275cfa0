"""Normalise a user's vehicle mesh and place its 36 keypoints (`cli.py assets import`). Pure numpy.

Input: triangles in the file's own frame and units (`MeshArrays`: every object's mesh baked to world space,
one material and one object per triangle), as synth/blender/model_import.py reads them. Output
(`ImportResult`): the 4x4 matrix from the file to the vehicle frame (x forward, y left, z up, metres, wheels on
z = 0, origin on the ground under the middle), the VeRi type (guessed from proportions unless given), the 36
keypoints in SPEC 2 order snapped to the surface, and per keypoint how it was found.

The steps, each from geometry (names only help):
1. material roles (paint, glass, tyre, rim, lamp, trim, interior, plate) from names and shader values;
2. the frame: the longest side is the length; of the other two the mirror-symmetric one is the width; up is
   the side whose extreme slice lies at the outer edges (tyres touch the ground at the sides, a roof is in the
   middle); forward from lamp names/colours (white head lamps, red tail lamps), else the lower end (a hood);
3. wheels: tyre/rim/wheel-named parts, else connected parts touching the ground that are as long as tall
   (cylindrical clusters), grouped per side and axle;
4. units: the type is guessed from scale-free proportions, then the unit (m, cm, mm, inch, ft) that gives the
   type's typical length is taken; a length matching no unit is scaled to the type's typical length (warned);
5. keypoints the way synth/vehicles/geometry.py places them on the procedural models: wheel centres on the hub
   face; arch points on the outermost lip of the arch edge; lower corners at the plan's corner apex on the
   bottom edge; the rear upper corner on the tail's shoulder; window corners inset into the glass; the hood's
   front corner on the beltline edge where the nose turns into the hood.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
import re

import numpy as np

ROLES = ("paint", "glass", "tyre", "rim", "lamp", "trim", "interior", "plate")
# name keywords per role, tried in this order (the first match wins)
ROLE_KEYWORDS = (
    ("interior", ("interior", "seat", "dashboard", "cabin", "steering", "inside")),
    ("glass", ("glass", "window", "windshield", "windscreen", "transparent")),
    ("tyre", ("tyre", "tire", "rubber")),
    ("rim", ("=rim", "=rims", "hubcap", "alloy", "spoke", "wheel")),
    ("lamp", ("headl", "taill", "lamp", "light", "indicator", "brake", "blinker", "reflector", "lens")),
    ("plate", ("plate", "licen", "number")),
    ("paint", ("paint", "body", "exterior", "colour", "color", "shell")),
    ("trim", ("trim", "chrome", "black", "plastic", "grille", "grill", "mirror", "bumper", "metal", "frame")),
)
WHEEL_WORDS = ("wheel", "tyre", "tire", "rim")
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "ft": 0.3048}
UNIT_TOLERANCE = 1.35  # a unit is taken when it gives a length within this factor of the type's typical length
GLASS_INSET = 0.04  # window corners sit this far inside the glass edge (geometry.keypoints)
REAR_PILLAR = 0.11  # rear-window bottom corners: inset by the C pillar (mean of the generator's range)
SNAP_TOL = 0.005


class ImportFailure(ValueError):
    """A model the importer cannot normalise: names the file and what was not found."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


@dataclass
class MaterialInfo:
    name: str
    base_color: tuple = (0.8, 0.8, 0.8)  # linear RGB (a texture's mean when one drives it)
    metallic: float = 0.0
    roughness: float = 0.5
    transmission: float = 0.0
    alpha: float = 1.0
    emission: float = 0.0
    has_texture: bool = False
    see_through: bool = False  # pamtri_see_through already set


@dataclass
class MeshArrays:
    verts: np.ndarray  # (N, 3) world coordinates of the file
    tris: np.ndarray  # (M, 3) vertex indices
    tri_material: np.ndarray  # (M,) index into materials, -1 none
    tri_object: np.ndarray  # (M,) index into object_names
    materials: list[MaterialInfo]
    object_names: list[str]


@dataclass
class ImportResult:
    matrix: np.ndarray  # (4, 4) file world -> vehicle frame (metres)
    type_name: str
    type_guessed: bool
    type_scores: dict
    unit: str
    scale: float
    keypoints: np.ndarray  # (36, 3)
    methods: list  # 18 rows (left side; the right mirrors it): {"method": str, "confidence": str}
    roles: dict  # material name -> role
    paint_materials: list
    wheels: list  # dicts: x, z, radius, y_hub (vehicle frame)
    dimensions: dict
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)


# --- material roles ----------------------------------------------------------------------------------------


def role_from_material(info: MaterialInfo) -> tuple[str | None, str]:
    """(role, reason) from the name first, then shader values; None where neither says."""
    name = info.name.lower()
    tokens = set(re.split(r"[^a-z]+", name))
    for role, words in ROLE_KEYWORDS:
        if any((w[1:] in tokens) if w.startswith("=") else (w in name) for w in words):
            return role, f"name ({name})"
    if info.see_through or info.transmission > 0.3 or info.alpha < 0.7:
        return "glass", "transmission/alpha"
    if info.emission > 0.5:
        return "lamp", "emission"
    return None, ""


def _luminance(rgb) -> float:
    r, g, b = rgb[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _saturation(rgb) -> float:
    c = np.asarray(rgb[:3], float)
    return float((c.max() - c.min()) / max(c.max(), 1e-6))


def assign_roles(mesh: MeshArrays, areas: np.ndarray, wheel_tri: np.ndarray) -> tuple[dict, list, list]:
    """Role per material; the paint materials; notes. Unnamed materials: on the wheels dark -> tyre, else rim;
    the body material covering the most outer area that is not dark/grey trim becomes paint."""
    roles, notes = {}, []
    area_by_mat = np.bincount(np.maximum(mesh.tri_material, 0), weights=areas, minlength=len(mesh.materials))
    wheel_area = np.bincount(np.maximum(mesh.tri_material, 0), weights=areas * wheel_tri,
                             minlength=len(mesh.materials))
    for i, info in enumerate(mesh.materials):
        role, why = role_from_material(info)
        on_wheels = area_by_mat[i] > 0 and wheel_area[i] > 0.5 * area_by_mat[i]
        if role is None and on_wheels:
            role, why = ("tyre" if _luminance(info.base_color) < 0.05 else "rim"), "on the wheels"
        if role is not None:
            roles[info.name] = role
            notes.append(f"material {info.name}: {role} ({why})")
    paint = [m.name for m in mesh.materials if roles.get(m.name) == "paint"]
    if not paint:
        unassigned = [i for i, m in enumerate(mesh.materials) if m.name not in roles and area_by_mat[i] > 0]
        if unassigned:
            # the body's colour: the largest material that is not a dark or grey trim (an atlas is the largest)
            def score(i):
                m = mesh.materials[i]
                trimlike = _luminance(m.base_color) < 0.03 and not m.has_texture
                return area_by_mat[i] * (0.2 if trimlike else 1.0)

            best = max(unassigned, key=score)
            paint = [mesh.materials[best].name]
            roles[paint[0]] = "paint"
            notes.append(f"material {paint[0]}: paint (largest body material)")
    for i, m in enumerate(mesh.materials):
        roles.setdefault(m.name, "trim")
    return roles, paint, notes


# --- geometry helpers --------------------------------------------------------------------------------------


def triangle_areas_normals(verts, tris):
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    cross = np.cross(b - a, c - a)
    norm = np.linalg.norm(cross, axis=1)
    return 0.5 * norm, cross / np.maximum(norm, 1e-30)[:, None]


def sample_surface(verts, tris, areas, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n points uniformly by area, and the triangle index of each."""
    p = areas / areas.sum()
    idx = rng.choice(len(tris), size=n, p=p)
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    a, b, c = verts[tris[idx, 0]], verts[tris[idx, 1]], verts[tris[idx, 2]]
    return a + u[:, None] * (b - a) + v[:, None] * (c - a), idx


def closest_points_on_triangles(p, a, b, c):
    """Closest point to p on each triangle (a, b, c) (arrays (K, 3)), Ericson's method."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = np.maximum(va + vb + vc, 1e-30)
    v = vb / denom
    w = vc / denom
    out = a + ab * v[:, None] + ac * w[:, None]
    # regions (vertex / edge), later rules override earlier ones in priority order
    m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    t = d1 / np.where(np.abs(d1 - d3) > 1e-30, d1 - d3, 1)
    out[m] = (a + ab * t[:, None])[m]
    m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    t = d2 / np.where(np.abs(d2 - d6) > 1e-30, d2 - d6, 1)
    out[m] = (a + ac * t[:, None])[m]
    m = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    t = (d4 - d3) / np.where(np.abs((d4 - d3) + (d5 - d6)) > 1e-30, (d4 - d3) + (d5 - d6), 1)
    out[m] = (b + (c - b) * t[:, None])[m]
    m = (d6 >= 0) & (d5 <= d6)
    out[m] = c[m]
    m = (d3 >= 0) & (d4 <= d3)
    out[m] = b[m]
    m = (d1 <= 0) & (d2 <= 0)
    out[m] = a[m]
    return out


def snap_to_surface(points, verts, tris, mask=None, radius=0.25):
    """Each point moved to the nearest point of the triangles (of `mask` when given). Returns (snapped, dist)."""
    tri_idx = np.arange(len(tris)) if mask is None else np.flatnonzero(mask)
    a, b, c = verts[tris[tri_idx, 0]], verts[tris[tri_idx, 1]], verts[tris[tri_idx, 2]]
    lo, hi = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    out, dist = np.array(points, float), np.zeros(len(points))
    for i, p in enumerate(out):
        r = radius
        while True:
            near = np.all((lo <= p + r) & (hi >= p - r), axis=1)
            if near.any() or r > 100:
                break
            r *= 4
        q = closest_points_on_triangles(np.broadcast_to(p, (near.sum(), 3)), a[near], b[near], c[near])
        d = np.linalg.norm(q - p, axis=1)
        j = int(np.argmin(d))
        out[i], dist[i] = q[j], d[j]
    return out, dist


def connected_parts(tris: np.ndarray, verts: np.ndarray, tol: float) -> np.ndarray:
    """Label of the connected part of every triangle (vertices closer than `tol` are welded first)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    key = np.round(verts / tol).astype(np.int64)
    _, weld = np.unique(key, axis=0, return_inverse=True)
    weld = weld.ravel()
    t = weld[tris]
    n = int(weld.max()) + 1
    rows = np.concatenate([t[:, 0], t[:, 1]])
    cols = np.concatenate([t[:, 1], t[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[t[:, 0]]


# --- frame -------------------------------------------------------------------------------------------------


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
    for key, sgn in (("head", 1.0), ("tail", -1.0)):
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


# --- type and units ----------------------------------------------------------------------------------------


def type_features(kps: np.ndarray) -> np.ndarray:
    """Scale-free proportions of a vehicle from its 36 keypoints (left side)."""
    k = kps[:18]
    length = max(k[17, 0], k[16, 0]) - min(k[10, 0], k[11, 0])
    height = max(k[13, 2], k[14, 2], k[11, 2])
    x0 = min(k[10, 0], k[11, 0])
    f = [height / length, 2 * k[:, 1].max() / length, k[0, 2] / length, (k[1, 0] - k[0, 0]) / length,
         (k[17, 0] - k[1, 0]) / length]
    for i in (11, 12, 13, 14, 15, 16):
        f += [(k[i, 0] - x0) / length, k[i, 2] / height]
    # absolute sizes (metres): the unit is chosen before the final guess; an estate is lower than an MPV
    f += [length / 4.0, height / 1.5, 2 * k[:, 1].max() / 1.8]
    return np.array(f)


FEATURE_VERSION = b"2"


TYPE_SAMPLES = 60  # procedural vehicles per type the type guess compares with


@lru_cache(maxsize=1)
def _type_training() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Features of procedural vehicles of every type (the generator's parameter spaces), standardised. Cached
    on disk (keyed by the generator's source) since drawing them takes seconds."""
    import hashlib
    import os
    from pathlib import Path

    import synth.vehicles.geometry as geometry
    import synth.vehicles.params as params

    key = hashlib.sha1(FEATURE_VERSION + b"".join(Path(m.__file__).read_bytes() for m in (geometry, params)))
    key = key.hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pamtri" / f"import_types_{key}.npz"
    if cache.is_file():
        z = np.load(cache)
        feats, labels = z["feats"], z["labels"]
        lengths = dict(zip(z["len_types"].tolist(), z["len_values"].tolist()))
    else:
        rng = np.random.default_rng(7)
        feats, labels, lengths = [], [], {}
        for t in params.VEHICLE_TYPES:
            ls = []
            for _ in range(TYPE_SAMPLES):
                p = params.sample_params(t, rng)
                feats.append(type_features(geometry.keypoints(p)))
                labels.append(t)
                ls.append(geometry.Profile(p).length)
            lengths[t] = float(np.median(ls))
        feats, labels = np.array(feats), np.array(labels)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, feats=feats, labels=labels, len_types=np.array(list(lengths)),
                 len_values=np.array(list(lengths.values())))
        os.replace(tmp, cache)
    x = np.array(feats)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    return (x - mu) / sd, np.array(labels), mu, sd, lengths


def guess_type(kps: np.ndarray, k: int = 7) -> tuple[str, dict]:
    x, labels, mu, sd, _ = _type_training()
    f = (type_features(kps) - mu) / sd
    d = np.linalg.norm(x - f, axis=1)
    near = labels[np.argsort(d)[:k]]
    votes = {t: int((near == t).sum()) for t in np.unique(near)}
    best = max(votes, key=lambda t: (votes[t], -d[labels == t].min()))
    return str(best), {t: v / k for t, v in sorted(votes.items(), key=lambda kv: -kv[1])}


def typical_length(type_name: str) -> float:
    return _type_training()[4][type_name]


def coarse_type(length, width, height, wheel_radius, wheelbase) -> str:
    """Type from bounding proportions alone (before the scale is known): nearest type in these five ratios."""
    from synth.vehicles.geometry import Profile
    from synth.vehicles.params import VEHICLE_TYPES, sample_params

    f = np.array([height / length, width / length, wheel_radius / length, wheelbase / length])
    best, best_d = "sedan", np.inf
    rng = np.random.default_rng(3)
    for t in VEHICLE_TYPES:
        for _ in range(40):
            p = sample_params(t, rng)
            prof = Profile(p)
            g = np.array([prof.height / prof.length, p.width / prof.length, p.wheel_radius / prof.length,
                          p.wheelbase / prof.length])
            d = np.linalg.norm((f - g) / np.array([0.05, 0.04, 0.008, 0.05]))
            if d < best_d:
                best, best_d = t, d
    return best


def choose_unit(length_file: float, type_name: str, length_m: float | None) -> tuple[str, float, bool]:
    """(unit name, metres per file unit, guessed?) from --length, else the unit giving the type's length."""
    if length_m:
        return "given length", length_m / length_file, False
    prior = typical_length(type_name)
    best = min(UNITS, key=lambda u: abs(np.log(length_file * UNITS[u] / prior)))
    if abs(np.log(length_file * UNITS[best] / prior)) <= np.log(UNIT_TOLERANCE):
        return best, UNITS[best], False
    # the coarse type may be wrong (a short bus looks like a van): the unit that fits any type's length best
    lengths = np.array(list(_type_training()[4].values()))
    fit = {u: np.min(np.abs(np.log(length_file * f / lengths))) for u, f in UNITS.items()}
    best = min(fit, key=fit.get)
    if fit[best] <= np.log(UNIT_TOLERANCE):
        return best, UNITS[best], False
    return "scaled to the type's typical length", prior / length_file, True


# --- the whole analysis ------------------------------------------------------------------------------------


def _lamp_kind(info: MaterialInfo) -> str | None:
    name = info.name.lower()
    if any(w in name for w in ("tail", "rear", "brake", "stop")):
        return "tail"
    if any(w in name for w in ("head", "front")):
        return "head"
    r, g, b = info.base_color[:3]
    if r > 0.2 and r > 2.5 * max(g, b):
        return "tail"
    if min(r, g, b) > 0.5:
        return "head"
    return None


def _points_of(mask, verts, tris, samples, sample_tri):
    """Vertices of the masked triangles plus the area samples that fall on them."""
    v = verts[np.unique(tris[mask])] if mask.any() else np.zeros((0, 3))
    return np.concatenate([v, samples[mask[sample_tri]]])


def analyse(mesh: MeshArrays, path="model", type_name: str | None = None, length: float | None = None,
            n_samples: int = 120_000) -> ImportResult:
    """Frame, units, wheels, material roles, type and keypoints of one model. Raises ImportFailure."""
    from synth.vehicles.import_keypoints import KeypointFinder

    verts = np.asarray(mesh.verts, float)
    tris = np.asarray(mesh.tris, np.int64)
    if len(tris) == 0:
        raise ImportFailure(path, "no triangles in the file")
    size = float(np.ptp(verts, axis=0).max())
    areas, normals = triangle_areas_normals(verts, tris)
    keep = areas > 1e-12 * size * size
    tris, areas, normals = tris[keep], areas[keep], normals[keep]
    tri_mat = np.asarray(mesh.tri_material)[keep]
    tri_obj = np.asarray(mesh.tri_object)[keep]
    if len(tris) < 12:
        raise ImportFailure(path, "the mesh has too few faces to be a vehicle")
    name_roles = [role_from_material(m)[0] for m in mesh.materials]
    tri_role = np.array([name_roles[i] if i >= 0 else None for i in tri_mat], dtype=object)
    obj_wheel = np.array([any(w in n.lower() for w in WHEEL_WORDS) for n in mesh.object_names])
    wheel_tri = np.isin(tri_role, ["tyre", "rim"]) | obj_wheel[tri_obj]
    interior = tri_role == "interior"
    rng = np.random.default_rng(0)
    samples, sample_tri = sample_surface(verts, tris, areas, n_samples, rng)
    outer = ~interior
    lamp_points = {}
    for kind in ("head", "tail"):
        mats = [i for i, m in enumerate(mesh.materials) if name_roles[i] == "lamp" and _lamp_kind(m) == kind]
        sel = np.isin(tri_mat, mats)
        if sel.any():
            lamp_points[kind] = samples[sel[sample_tri]]
    glass_sel = tri_role == "glass"
    tail_lamps = {k: [i for i, m in enumerate(mesh.materials) if name_roles[i] == "lamp" and _lamp_kind(m) == k]
                  for k in ("head", "tail")}
    rot, notes = find_frame(samples[outer[sample_tri]], lamp_points, samples[glass_sel[sample_tri]],
                            samples[wheel_tri[sample_tri]] if wheel_tri.any() else None)
    v = verts @ rot.T
    s = samples @ rot.T
    normals = normals @ rot.T
    # wheels: named parts, else round parts standing on the ground
    height_f = float(np.ptp(v[:, 2]))
    mid = (v.max(0) + v.min(0)) / 2
    shift = np.array([mid[0], mid[1], v[:, 2].min()])  # provisional: the bounding box's middle, the lowest point
    v0 = v - shift
    if wheel_tri.any():
        wheel_pts = _points_of(wheel_tri, v0, tris, s - shift, sample_tri)
        how = "wheel parts by name/material"
    else:
        labels = connected_parts(tris, v0, tol=1e-5 * size)
        wheel_tri = wheel_candidates_from_parts(v0, tris, areas, labels, height_f)
        wheel_pts = _points_of(wheel_tri, v0, tris, s - shift, sample_tri)
        how = "round parts touching the ground"
    wheels = [w for w in find_wheels(wheel_pts, height_f) if w["zmin"] < 0.1 * height_f]
    left = sorted([w for w in wheels if w["side"] > 0], key=lambda w: w["x"])
    right = sorted([w for w in wheels if w["side"] < 0], key=lambda w: w["x"])
    if len(left) < 2 or len(right) < 2:
        raise ImportFailure(path, f"no wheels found ({len(left)} left, {len(right)} right; looked for {how}): "
                                  "a vehicle needs two wheels on each side, touching the ground")
    notes.append(f"wheels: {len(left)} left, {len(right)} right ({how})")

    def axle(a, b):
        return {"x": (a["x"] + b["x"]) / 2, "z": (a["z"] + b["z"]) / 2, "radius": (a["radius"] + b["radius"]) / 2,
                "y_out": (a["y_out"] + b["y_out"]) / 2, "zmin": (a["zmin"] + b["zmin"]) / 2,
                "points": np.concatenate([a["points"], b["points"] * [1, -1, 1]])}

    front, rear = axle(left[-1], right[-1]), axle(left[0], right[0])
    ground = (front["zmin"] + rear["zmin"]) / 2
    body_tri = ~wheel_tri & ~interior & (tri_role != "plate")
    body_v = _points_of(body_tri, v0, tris, s - shift, sample_tri)
    if len(body_v) < 50:
        raise ImportFailure(path, "nothing but wheels in the file: no body found")
    # the length is the painted shell's where it is named (bumper strips, tow hooks and lenses stand out of it)
    painted = body_tri & (tri_role == "paint")
    shell = _points_of(painted, v0, tris, s - shift, sample_tri) if painted.sum() > 50 else body_v
    x_tip, x_end = shell[:, 0].max(), shell[:, 0].min()
    low = body_v[body_v[:, 2] < ground + 0.45 * (body_v[:, 2].max() - ground)]
    y_mid = (low[:, 1].max() + low[:, 1].min()) / 2
    centre = np.array([(x_tip + x_end) / 2, y_mid, ground])
    length_f = x_tip - x_end
    width_f = np.ptp(low[:, 1])
    height_f = body_v[:, 2].max() - ground
    radius_f = (front["radius"] + rear["radius"]) / 2
    wheelbase_f = front["x"] - rear["x"]
    given_type = type_name
    t0 = type_name or coarse_type(length_f, width_f, height_f, radius_f, wheelbase_f)
    result = None
    for _ in range(2):
        unit, scale, unit_guessed = choose_unit(length_f, t0, length)
        result = _keypoints_metric(mesh, path, tail_lamps, tris, tri_mat, tri_role, wheel_tri, interior, body_tri, glass_sel,
                                   normals, v0, s - shift, sample_tri, centre, scale, front, rear,
                                   t0, KeypointFinder)
        kps, methods = result
        if given_type:
            t_final, scores = given_type, {given_type: 1.0}
        else:
            t_final, scores = guess_type(kps)
        if t_final == t0 or choose_unit(length_f, t_final, length)[1] == scale:
            break
        t0 = t_final
    if given_type is None and t_final != t0:
        kps, methods = _keypoints_metric(mesh, path, tail_lamps, tris, tri_mat, tri_role, wheel_tri, interior, body_tri,
                                         glass_sel, normals, v0, s - shift, sample_tri, centre,
                                         scale, front, rear, t_final, KeypointFinder)
    # the 4x4 from the file's world to the vehicle frame: rotate, lift to the ground, centre, scale
    m = np.eye(4)
    m[:3, :3] = scale * rot
    m[:3, 3] = -scale * (shift + centre)
    roles, paint, role_notes = _roles(mesh, tris, tri_mat, areas, wheel_tri)
    warnings = []
    if unit_guessed:
        warnings.append(f"no unit gives a {t_final}'s length ({length_f:.4g} file units): scaled to "
                        f"{typical_length(t_final):.2f} m; pass --length to set it")
    wh = [{"x": round(float((w["x"] - centre[0]) * scale), 4), "z": round(float((w["z"] - centre[2]) * scale), 4),
           "radius": round(float(w["radius"] * scale), 4)} for w in (rear, front)]
    dims = {"length": float(length_f * scale), "width": float(np.ptp(body_v[:, 1]) * scale),
            "height": float(height_f * scale)}
    return ImportResult(matrix=m, type_name=t_final, type_guessed=given_type is None, type_scores=scores,
                        unit=unit, scale=float(scale), keypoints=kps, methods=methods, roles=roles,
                        paint_materials=paint, wheels=wh, dimensions=dims, warnings=warnings,
                        notes=notes + role_notes)


def _roles(mesh, tris, tri_mat, areas, wheel_tri):
    sub = MeshArrays(verts=np.zeros((0, 3)), tris=tris, tri_material=tri_mat, tri_object=np.zeros(len(tris), int),
                     materials=mesh.materials, object_names=mesh.object_names)
    return assign_roles(sub, areas, wheel_tri.astype(float))


def _keypoints_metric(mesh, path, tail_lamps, tris, tri_mat, tri_role, wheel_tri, interior, body_tri, glass_sel, normals,
                      v0, s0, sample_tri, centre, scale, front, rear, type_name, finder_cls):
    """Keypoints in metres (vehicle frame) for one choice of scale and type."""
    vm = (v0 - centre) * scale
    sm = (s0 - centre) * scale

    def fold(p):
        q = p.copy()
        q[:, 1] = np.abs(q[:, 1])
        return q

    body = fold(_points_of(body_tri, vm, tris, sm, sample_tri))
    gl = glass_sel
    g_pts = np.concatenate([vm[tris[gl]].reshape(-1, 3), sm[gl[sample_tri]]])
    g_n = np.concatenate([np.repeat(normals[gl], 3, axis=0), normals[sample_tri[gl[sample_tri]]]])
    flip = g_pts[:, 1] < 0
    g_pts = fold(g_pts)
    g_n = g_n.copy()
    g_n[flip, 1] *= -1
    # glass normals point outwards: a pane whose normal points at the middle is flipped
    inward = (g_n[:, 1] < -0.3)
    g_n[inward] *= -1

    def wheel_metric(w):
        p = (w["points"] - centre) * scale
        p[:, 1] = np.abs(p[:, 1])
        xc, zc, r = (w["x"] - centre[0]) * scale, (w["z"] - centre[2]) * scale, w["radius"] * scale
        axis = np.hypot(p[:, 0] - xc, p[:, 2] - zc) < 0.2 * r
        y_hub = float(p[axis, 1].max()) if axis.any() else float(p[:, 1].max()) - 0.015
        return {"x": xc, "z": zc, "radius": r, "y_hub": y_hub}

    lamp_tops = {}
    for kind, mats in tail_lamps.items():
        sel = np.isin(tri_mat, mats)
        if sel.any():
            tp = vm[np.unique(tris[sel])]
            tp = tp[tp[:, 2] < 0.6 * vm[:, 2].max()]  # not the clearance lamps on a cab roof
            if not len(tp):
                continue
            tp = tp[tp[:, 0] < tp[:, 0].min() + 0.3] if kind == "tail" else tp[tp[:, 0] > tp[:, 0].max() - 0.3]
            lamp_tops[kind] = float(tp[:, 2].max())
    finder = finder_cls(body, g_pts, g_n, wheel_metric(front), wheel_metric(rear), type_name, lamp_tops)
    left, meth = finder.run()
    missing = [i for i in range(18) if not np.all(np.isfinite(left[i]))]
    if missing:
        from synth.vocabulary import KEYPOINT_NAMES

        raise ImportFailure(path, "could not place " + ", ".join(f"{i} {KEYPOINT_NAMES[i]} ({meth[i][0]})"
                                                                 for i in missing))
    snap_mask = ~interior
    left, dist = snap_to_surface(left, vm, tris, snap_mask)
    left[:, 1] = np.maximum(left[:, 1], 1e-4)
    kps = np.concatenate([left, left * [1.0, -1.0, 1.0]])
    methods = [{"method": meth[i][0], "confidence": meth[i][1], "snapped_cm": round(float(dist[i]) * 100, 1)}
               for i in range(18)]
    return kps, methods
