"""Normalise a user's vehicle mesh and place its 36 keypoints (`cli.py assets import`). Pure numpy.

Input: triangles in the file's own frame and units (`MeshArrays`: every object's mesh baked to world space,
one material and one object per triangle), as synth/blender/model_import.py reads them. Output
(`ImportResult`): the 4x4 matrix from the file to the vehicle frame (x forward, y left, z up, metres, wheels on
z = 0, origin on the ground under the middle), the VeRi type (guessed from proportions unless given), the 36
keypoints in synth/vocabulary.py order snapped to the surface, and per keypoint how it was found.

The steps, each from geometry (names only help):
1. material roles (paint, glass, tyre, rim, lamp, trim, interior, plate) from names and shader values;
2. the frame: the longest side is the length; of the other two the mirror-symmetric one is the width; up is
   the side whose extreme slice lies at the outer edges (tyres touch the ground at the sides, a roof is in the
   middle); forward from lamp names/colours (white head lamps, red tail lamps), else the lower end (a hood);
3. wheels: tyre/rim/wheel-named parts, else connected parts touching the ground that are as long as tall
   (cylindrical clusters), grouped per side and axle;
4. units: the type is guessed from scale-free proportions, then the unit (m, cm, mm, inch, ft) that gives the
   type's typical length is taken; a length matching no unit is scaled to the type's typical length (warned);
   the keypoints follow the type's rules, so the guess is repeated on them until it settles (_settle_type);
5. keypoints the way synth/vehicles/geometry.py places them on the procedural models: wheel centres on the hub
   face; arch points on the outermost lip of the arch edge; lower corners at the plan's corner apex on the
   bottom edge; the rear upper corner on the tail's shoulder; window corners inset into the glass; the hood's
   front corner on the beltline edge where the nose turns into the hood.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.vehicles.import_frame import find_frame, find_wheels, wheel_candidates_from_parts
from synth.vehicles.import_geometry import (connected_parts, points_of, sample_surface, snap_to_surface,
                                            triangle_areas_normals)
from synth.vehicles.import_keypoints import KeypointFinder
from synth.vehicles.import_roles import (ROLE_KEYWORDS, ROLES, MaterialInfo, assign_roles,  # noqa: F401
                                         lamp_kind, lamp_kind_by_name, role_from_material)
from synth.vehicles.import_type import (TYPE_OUTLIER, UNITS, choose_unit, coarse_candidates,  # noqa: F401
                                        coarse_type, guess_type, type_distance, type_features, typical_length)
from synth.vocabulary import KEYPOINT_NAMES

WHEEL_WORDS = ("wheel", "tyre", "tire", "rim")


class ImportFailure(ValueError):
    """A model the importer cannot normalise: names the file and what was not found."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


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


@dataclass
class _Model:
    """One model in the provisional frame (rotated; origin at the bounding box's middle on the lowest point;
    file units), with what the keypoint pass needs per triangle."""

    verts: np.ndarray
    tris: np.ndarray
    normals: np.ndarray
    samples: np.ndarray
    sample_tri: np.ndarray
    tri_mat: np.ndarray
    interior: np.ndarray
    body_tri: np.ndarray  # every surface but wheels, interior and plates
    painted: np.ndarray  # the paint-named shell (empty when no material is named so)
    glass: np.ndarray
    lamp_mats: dict  # "head" / "tail" -> material indices


def _wheel_triangles(verts, tris, tyre, rim, size: float) -> np.ndarray:
    """The wheels' triangles: the tyres and, where tyres are named, the rim-named triangles inside a tyre's box.
    A rim or brake material also covers other parts in some models (an artist's "brakeDisc" on a grille), which
    would pull a wheel towards the bumper. Tyres are boxed per cluster along the length (gaps of 10 % of the
    size) and per side of the model's middle across the other two axes (the frame is not known yet)."""
    if tyre.sum() < 12 or not rim.any():
        return tyre | rim
    centroids = verts[tris].mean(axis=1)
    length_axis = int(np.argmax(np.ptp(verts, axis=0)))
    middle = (verts.max(axis=0) + verts.min(axis=0)) / 2
    t = centroids[tyre]
    _, side = np.unique((t > middle)[:, [a for a in range(3) if a != length_axis]], axis=0, return_inverse=True)
    near = np.zeros_like(rim)
    rim_idx = np.nonzero(rim)[0]
    for key in np.unique(side):
        group = t[side.ravel() == key]
        xs = np.sort(group[:, length_axis])
        cuts = xs[:-1][np.diff(xs) > 0.1 * size]
        for lo_x, hi_x in zip(np.r_[-np.inf, cuts], np.r_[cuts, np.inf]):
            wheel = group[(group[:, length_axis] > lo_x) & (group[:, length_axis] <= hi_x)]
            lo, hi = wheel.min(axis=0) - 0.01 * size, wheel.max(axis=0) + 0.01 * size
            inside = np.all((centroids[rim_idx] >= lo) & (centroids[rim_idx] <= hi), axis=1)
            near[rim_idx[inside]] = True
    return tyre | near


def _at_both_ends(samples, sample_tri, tri_mat, mats, share: float = 0.25) -> bool:
    """Whether one lamp kind's materials sit at opposite ends of the model's length (an artist's "HeadLight" on
    the tail lamps' reflectors, "HeadLightGlass" on the head lamps): names that contradict each other say
    nothing about which end is the front."""
    if len(mats) < 2:
        return False
    axis = int(np.argmax(np.ptp(samples, axis=0)))
    lo, hi = samples[:, axis].min(), samples[:, axis].max()
    ends = set()
    for m in mats:
        x = samples[tri_mat[sample_tri] == m, axis]
        if len(x):
            u = (np.median(x) - lo) / max(hi - lo, 1e-12)
            ends |= {"low"} if u < share else {"high"} if u > 1 - share else set()
    return ends == {"low", "high"}



def analyse(mesh: MeshArrays, path="model", type_name: str | None = None, length: float | None = None,
            n_samples: int = 120_000) -> ImportResult:
    """Frame, units, wheels, material roles, type and keypoints of one model. Raises ImportFailure."""
    verts = np.asarray(mesh.verts, float)
    tris = np.asarray(mesh.tris, np.int64)
    if len(tris) == 0:
        raise ImportFailure(path, "no triangles in the file")
    size = float(np.ptp(verts, axis=0).max())
    areas, normals = triangle_areas_normals(verts, tris)
    keep = areas > 1e-12 * size * size  # degenerate faces
    tris, areas, normals = tris[keep], areas[keep], normals[keep]
    tri_mat = np.asarray(mesh.tri_material)[keep]
    tri_obj = np.asarray(mesh.tri_object)[keep]
    if len(tris) < 12:
        raise ImportFailure(path, "the mesh has too few faces to be a vehicle")
    name_roles = [role_from_material(m)[0] for m in mesh.materials]
    tri_role = np.array([name_roles[i] if i >= 0 else None for i in tri_mat], dtype=object)
    obj_wheel = np.array([any(w in n.lower() for w in WHEEL_WORDS) for n in mesh.object_names])
    wheel_tri = _wheel_triangles(verts, tris, tri_role == "tyre", (tri_role == "rim") | obj_wheel[tri_obj], size)
    interior = tri_role == "interior"
    # the samples go to the outside: no step reads the cabin's, and a bus's seats and riders had left slabs of its
    # skin without one (an arch end read 46 cm off on the wheel house's wall behind)
    outside = np.where(interior, 0.0, areas) if (~interior).any() else areas
    samples, sample_tri = sample_surface(verts, tris, outside, n_samples, np.random.default_rng(0))
    lamp_mats = {k: [i for i, m in enumerate(mesh.materials) if name_roles[i] == "lamp" and lamp_kind(m) == k]
                 for k in ("head", "tail")}
    # names that contradict each other (head-lamp names at both ends) say nothing; colours may (a reversing lamp
    # is as white as a head lamp)
    lamp_mats = {k: mats for k, mats in lamp_mats.items() if not _at_both_ends(
        samples, sample_tri, tri_mat, [i for i in mats if lamp_kind_by_name(mesh.materials[i]) == k])}
    lamp_points = {k: samples[np.isin(tri_mat, mats)[sample_tri]] for k, mats in lamp_mats.items()
                   if np.isin(tri_mat, mats).any()}
    glass_sel = tri_role == "glass"
    # 1. the frame
    rot, notes = find_frame(samples[~interior[sample_tri]], lamp_points, samples[glass_sel[sample_tri]],
                            samples[wheel_tri[sample_tri]] if wheel_tri.any() else None)
    v, s, normals = verts @ rot.T, samples @ rot.T, normals @ rot.T
    height_f = float(np.ptp(v[:, 2]))
    mid = (v.max(0) + v.min(0)) / 2
    shift = np.array([mid[0], mid[1], v[:, 2].min()])  # provisional: the bounding box's middle, the lowest point
    v0, s0 = v - shift, s - shift
    # 2. wheels: named parts, else round parts standing on the ground
    if wheel_tri.any():
        how = "wheel parts by name/material"
    else:
        labels = connected_parts(tris, v0, tol=1e-5 * size)
        wheel_tri = wheel_candidates_from_parts(v0, tris, areas, labels, height_f)
        how = "round parts touching the ground"
    wheel_pts = points_of(wheel_tri, v0, tris, s0, sample_tri)
    wheels = [w for w in find_wheels(wheel_pts, height_f) if w["zmin"] < 0.1 * height_f]
    left = sorted([w for w in wheels if w["side"] > 0], key=lambda w: w["x"])
    right = sorted([w for w in wheels if w["side"] < 0], key=lambda w: w["x"])
    if len(left) < 2 or len(right) < 2:
        raise ImportFailure(path, f"no wheels found ({len(left)} left, {len(right)} right; looked for {how}): "
                                  "a vehicle needs two wheels on each side, touching the ground")
    notes.append(f"wheels: {len(left)} left, {len(right)} right ({how})")
    front, rear = _axle(left[-1], right[-1]), _axle(left[0], right[0])
    ground = (front["zmin"] + rear["zmin"]) / 2
    body_tri = ~wheel_tri & ~interior & (tri_role != "plate")
    body_v = points_of(body_tri, v0, tris, s0, sample_tri)
    if len(body_v) < 50:
        raise ImportFailure(path, "nothing but wheels in the file: no body found")
    # 3. the body's extent: the painted shell's where it is named (bumper strips, tow hooks, lenses and a bus's
    # mirrors stand out of it)
    painted = body_tri & (tri_role == "paint")
    if painted.sum() <= 50:
        painted = np.zeros_like(body_tri)
    shell = points_of(painted, v0, tris, s0, sample_tri) if painted.any() else body_v
    x_tip, x_end = shell[:, 0].max(), shell[:, 0].min()
    low = body_v[body_v[:, 2] < ground + 0.45 * (body_v[:, 2].max() - ground)]
    centre = np.array([(x_tip + x_end) / 2, (low[:, 1].max() + low[:, 1].min()) / 2, ground])
    length_f = x_tip - x_end
    height_f = body_v[:, 2].max() - ground
    model = _Model(v0 - centre, tris, normals, s0 - centre, sample_tri, tri_mat, interior, body_tri, painted,
                   glass_sel, lamp_mats)
    front, rear = _recentre(front, centre), _recentre(rear, centre)
    # 4. type and unit, then the keypoints in metres; the type guessed from them may change the unit: once more
    bounds = (length_f, np.ptp(low[:, 1]), height_f, (front["radius"] + rear["radius"]) / 2, front["x"] - rear["x"])
    candidates = None if type_name else coarse_candidates(*bounds)
    t_final, unit, scale, unit_guessed, kps, methods, scores = _settle_type(
        model, path, front, rear, length_f, length, type_name or coarse_type(*bounds), type_name is None,
        candidates)
    # the 4x4 from the file's world to the vehicle frame: rotate, lift to the ground, centre, scale
    m = np.eye(4)
    m[:3, :3] = scale * rot
    m[:3, 3] = -scale * (shift + centre)
    roles, paint, role_notes = assign_roles(mesh.materials, tri_mat, areas, wheel_tri.astype(float))
    warnings = []
    if unit_guessed:
        warnings.append(f"no unit gives a {t_final}'s length ({length_f:.4g} file units): scaled to "
                        f"{typical_length(t_final):.2f} m; pass --length to set it")
    if type_name is None and (d2 := type_distance(kps)) > TYPE_OUTLIER:
        warnings.append(f"its proportions are unlike every type's (distance {d2:.0f}, the library's reach "
                        f"{TYPE_OUTLIER:.0f}): '{t_final}' is only the least unlike; pass --type to set it")
    wh = [{"x": round(float(w["x"] * scale), 4), "z": round(float(w["z"] * scale), 4),
           "radius": round(float(w["radius"] * scale), 4)} for w in (rear, front)]
    dims = {"length": float(length_f * scale), "width": float(np.ptp(body_v[:, 1]) * scale),
            "height": float(height_f * scale)}
    return ImportResult(matrix=m, type_name=t_final, type_guessed=type_name is None, type_scores=scores,
                        unit=unit, scale=float(scale), keypoints=kps, methods=methods, roles=roles,
                        paint_materials=paint, wheels=wh, dimensions=dims, warnings=warnings,
                        notes=notes + role_notes)


def _axle(a: dict, b: dict) -> dict:
    """The axle of a left and a right wheel; its points folded onto the left side."""
    out = {k: (a[k] + b[k]) / 2 for k in ("x", "z", "radius", "y_out", "zmin")}
    out["points"] = np.concatenate([a["points"], b["points"] * [1, -1, 1]])
    return out


def _recentre(w: dict, centre: np.ndarray) -> dict:
    out = dict(w, x=w["x"] - centre[0], z=w["z"] - centre[2])
    out["points"] = w["points"] - centre
    return out


def _fold(p: np.ndarray) -> np.ndarray:
    q = p.copy()
    q[:, 1] = np.abs(q[:, 1])
    return q


def _settle_type(model: _Model, path, front: dict, rear: dict, length_f: float, length: float | None, first: str,
                 guess: bool, candidates) -> tuple:
    """(type, unit, scale, unit guessed?, keypoints, methods, type scores): the keypoints are found by the rules of
    a type (a bus's roof corners are measured otherwise than a truck's), and the type is guessed from them, so
    each guess is tried in turn (each with its unit) until one comes back as itself; of those tried, the type
    with the largest share under its own keypoints is kept. A coach that the bounding box called a van was
    guessed a truck from the van's keypoints, whose truck keypoints then read as a bus: the first guess alone
    hung on how wide its mirrors made it."""
    tried = {}
    t = first
    while t not in tried:
        unit, scale, unit_guessed = choose_unit(length_f, t, length, candidates)
        kps, methods = _keypoints_metric(model, path, scale, front, rear, t, length_f)
        t_next, scores = guess_type(kps) if guess else (t, {t: 1.0})
        tried[t] = (t, unit, scale, unit_guessed, kps, methods, scores)
        t = t_next
    best = max(tried, key=lambda t: tried[t][6].get(t, 0.0))
    return tried[best]


def _keypoints_metric(model: _Model, path, scale: float, front: dict, rear: dict, type_name: str,
                      length_f: float) -> tuple[np.ndarray, list]:
    """The 36 keypoints in metres (vehicle frame) for one choice of scale and type, and the 18 methods."""
    vm, sm, tris, st = model.verts * scale, model.samples * scale, model.tris, model.sample_tri
    body = _fold(points_of(model.body_tri, vm, tris, sm, st))
    shell = _fold(points_of(model.painted, vm, tris, sm, st)) if model.painted.any() else None
    parts = _fold(points_of(model.body_tri & ~model.painted, vm, tris, sm, st)) if model.painted.any() else None
    # glass with outward normals, folded onto the left; x-facing faces of small glass parts (a bus door's leaves)
    # are no window panes
    gl = model.glass & _pane_triangles(model, scale)
    g_tri = np.concatenate([np.repeat(np.flatnonzero(model.glass), 3), st[model.glass[st]]])
    g_pts = np.concatenate([vm[tris[model.glass]].reshape(-1, 3), sm[model.glass[st]]])
    g_n = model.normals[g_tri].copy()
    g_end_ok = gl[g_tri]
    g_n[g_pts[:, 1] < 0, 1] *= -1
    g_pts = _fold(g_pts)
    g_n[g_n[:, 1] < -0.3] *= -1  # a pane whose normal points at the middle is flipped

    def wheel_metric(w):
        p = _fold(w["points"] * scale)
        xc, zc, r = w["x"] * scale, w["z"] * scale, w["radius"] * scale
        axis = np.hypot(p[:, 0] - xc, p[:, 2] - zc) < 0.2 * r
        y_hub = float(p[axis, 1].max()) if axis.any() else float(p[:, 1].max()) - 0.015
        return {"x": xc, "z": zc, "radius": r, "y_hub": y_hub}

    lamps = {}
    for kind, mats in model.lamp_mats.items():
        sel = np.isin(model.tri_mat, mats)
        if sel.any():
            lamps[kind] = _fold(vm[np.unique(tris[sel])])
    half = 0.5 * length_f * scale
    finder = KeypointFinder(body, g_pts, g_n, wheel_metric(front), wheel_metric(rear), type_name, lamps=lamps,
                            ends=(-half, half), shell=shell, glass_end_ok=g_end_ok,
                            parts=parts)
    left, meth = finder.run()
    missing = [i for i in range(18) if not np.all(np.isfinite(left[i]))]
    if missing:
        raise ImportFailure(path, "could not place " + ", ".join(f"{i} {KEYPOINT_NAMES[i]} ({meth[i][0]})"
                                                                 for i in missing))
    left, dist = snap_to_surface(left, vm, tris, ~model.interior)
    left[:, 1] = np.maximum(left[:, 1], 1e-4)
    kps = np.concatenate([left, left * [1.0, -1.0, 1.0]])
    methods = [{"method": meth[i][0], "confidence": meth[i][1], "snapped_cm": round(float(dist[i]) * 100, 1)}
               for i in range(18)]
    return kps, methods


PANE_MIN_AREA = 0.05  # m^2 of x-facing glass a connected glass part needs for its x-facing faces to be a window


def _pane_triangles(model: _Model, scale: float) -> np.ndarray:
    """Glass triangles that may belong to a windshield or rear window: those of connected glass parts with at
    least PANE_MIN_AREA of glass facing forward/backward (a door leaf's thin edge faces are not a pane)."""
    out = np.zeros(len(model.tris), bool)
    idx = np.flatnonzero(model.glass)
    if not len(idx):
        return out
    t = model.tris[idx]
    v = model.verts * scale
    labels = connected_parts(t, v, tol=1e-4)
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    n = np.abs(model.normals[idx])
    facing = (n[:, 0] > 0.15) & (n[:, 0] > 0.7 * n[:, 1])
    per_part = np.bincount(labels, weights=area * facing)
    out[idx] = per_part[labels] >= PANE_MIN_AREA
    return out
