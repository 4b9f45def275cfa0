"""The parts that dress a lofted body: wheels with rim designs, mirrors on arms, roof rails, spoilers, bull bars and
the cabin interior seen through the glass, and the charts that lay parts on the body (`EndFace`, `WrapFace`; the
lamps, grilles and plates of the ends are in synth/vehicles/ends.py).

Every part is placed on the body it dresses by casting rays at the body mesh (`Caster`), so parts stay flush
with whatever the loft makes of the surface. Discrete choices (rim design, lamp shape, grille pattern, which
accessories) come from the model's `style_seed`, so a model is rebuilt identically. Pure numpy.
Material kinds are those of synth/blender/vehicle_materials.py; "seat" and "dashboard" are the cabin parts
above the beltline that a camera sees through the glass.
"""
from __future__ import annotations

import numpy as np

from synth.vehicles.geometry import R_GTOP, R_REDGE, Part, deck_material, keypoints, side_windows
from synth.vehicles.params import style_rng

BIG = ("bus", "truck")
_BOX_QUADS = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


class Mesh:
    """Accumulates vertices, polygons and a material kind per polygon."""

    def __init__(self):
        self.verts, self.faces, self.mats = [], [], []

    def add(self, verts, faces, mat):
        base = len(self.verts)
        self.verts += [np.asarray(v, float) for v in verts]
        for f in faces:
            self.faces.append(tuple(base + i for i in f))
            self.mats.append(mat)

    def box(self, centre, size, mat, rot=None):
        c, h = np.asarray(centre, float), np.asarray(size, float) / 2
        corners = [h * (dx, dy, dz) for dx in (-1, 1) for dy in (-1, 1) for dz in (-1, 1)]
        if rot is not None:
            corners = [rot @ v for v in corners]
        self.add([c + v for v in corners], _BOX_QUADS, mat)

    def hexa(self, corners, mat):
        """A six-faced solid from 8 corners in box order (x-major, then y, then z)."""
        self.add(corners, _BOX_QUADS, mat)

    def tube(self, points, radius, mat, sides=6):
        """A tube along a polyline (a bar, rail or stake)."""
        pts = np.asarray(points, float)
        rings = []
        for i, q in enumerate(pts):
            t = pts[min(i + 1, len(pts) - 1)] - pts[max(i - 1, 0)]
            t /= np.linalg.norm(t)
            a = np.array([0, 0, 1.0]) if abs(t[2]) < 0.9 else np.array([1.0, 0, 0])
            u = np.cross(t, a)
            u /= np.linalg.norm(u)
            v = np.cross(t, u)
            ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
            rings.append([q + radius * (np.cos(a_) * u + np.sin(a_) * v) for a_ in ang])
        verts = [v for ring in rings for v in ring]
        faces = [(i * sides + s, i * sides + (s + 1) % sides, (i + 1) * sides + (s + 1) % sides,
                  (i + 1) * sides + s) for i in range(len(pts) - 1) for s in range(sides)]
        faces += [tuple(range(sides))[::-1], tuple((len(pts) - 1) * sides + s for s in range(sides))]
        self.add(verts, faces, mat)

    def blob(self, centre, size, mat, exponent=4.0, nu=10, nv=6):
        """A rounded box (superellipsoid), for mirror housings and headrests."""
        c, h = np.asarray(centre, float), np.asarray(size, float) / 2
        e = 2.0 / exponent
        sgnpow = lambda a, p: np.sign(a) * np.abs(a) ** p  # noqa: E731
        verts = [c + h * (0, 0, -1.0)]
        for i in range(1, nv):
            th = -np.pi / 2 + np.pi * i / nv
            for j in range(nu):
                ph = 2 * np.pi * j / nu
                verts.append(c + h * (sgnpow(np.cos(th), e) * sgnpow(np.cos(ph), e),
                                      sgnpow(np.cos(th), e) * sgnpow(np.sin(ph), e), sgnpow(np.sin(th), e)))
        verts.append(c + h * (0, 0, 1.0))
        top = len(verts) - 1
        faces = [(0, 1 + (j + 1) % nu, 1 + j) for j in range(nu)]
        for i in range(nv - 2):
            for j in range(nu):
                a, b = 1 + i * nu + j, 1 + i * nu + (j + 1) % nu
                faces.append((a, b, b + nu, a + nu))
        faces += [(top, 1 + (nv - 2) * nu + j, 1 + (nv - 2) * nu + (j + 1) % nu) for j in range(nu)]
        self.add(verts, faces, mat)

    def part(self, smooth=False) -> Part:
        return Part(np.array(self.verts).reshape(-1, 3), self.faces, self.mats, smooth=smooth)


def lathe(profile_rc, segments: int, centre, material: str, mirror: bool) -> Part:
    """Revolve (radius, axial offset) points about the y axis through `centre`; axial +1 faces outwards."""
    n = len(profile_rc)
    ang = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    out = -1.0 if mirror else 1.0
    verts = [(centre[0] + r * np.cos(t), centre[1] + out * a, centre[2] + r * np.sin(t))
             for r, a in profile_rc for t in ang]
    faces = []
    for i in range(n - 1):
        if profile_rc[i][0] < 1e-6 and profile_rc[i + 1][0] < 1e-6:
            continue
        for s in range(segments):
            s2 = (s + 1) % segments
            faces.append((i * segments + s, i * segments + s2, (i + 1) * segments + s2, (i + 1) * segments + s))
    return Part(np.array(verts), faces, [material] * len(faces))


def merge_parts(parts: list[Part], smooth=False) -> Part:
    verts, faces, mats, base = [], [], [], 0
    for part in parts:
        verts.append(np.asarray(part.verts, float).reshape(-1, 3))
        faces += [tuple(base + i for i in f) for f in part.faces]
        mats += part.materials
        base += len(verts[-1])
    return Part(np.concatenate(verts), faces, mats, smooth=smooth)


def rot_y(t):
    return np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])


def rot_x(t):
    return np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])


# --- ray casts at the body ---------------------------------------------------------------------------------


class Caster:
    """Rays against the triangles of a part (fan-triangulated about each polygon's centroid)."""

    def __init__(self, part: Part):
        v = np.asarray(part.verts, float)
        # Polygon by polygon, in order: a triangle as it is, an n-gon as n triangles (centroid, v[i], v[i+1]).
        # Built a polygon length at a time (a body has some 20k polygons: one at a time took ~0.8 s a vehicle);
        # the triangles and their order are the same, which the casts' ties (argmin: the first) depend on.
        faces = part.faces
        counts = np.array([1 if len(f) == 3 else len(f) for f in faces], dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        tris = np.empty((int(counts.sum()), 3, 3))
        by_length: dict[int, list[int]] = {}
        for j, f in enumerate(faces):
            by_length.setdefault(len(f), []).append(j)
        for n, which in by_length.items():
            which = np.array(which, dtype=np.int64)
            corners = v[np.array([faces[j] for j in which], dtype=np.int64)]  # (m, n, 3)
            if n == 3:
                tris[first[which]] = corners
                continue
            c = corners.mean(axis=1)
            for i in range(n):
                tris[first[which] + i] = np.stack([c, corners[:, i], corners[:, (i + 1) % n]], axis=1)
        self.tris = tris
        self.tri_lo, self.tri_hi = self.tris.min(axis=1), self.tris.max(axis=1)

    def cast(self, origins, dirs):
        """(first hit points (N, 3), unit normals facing the ray's origin (N, 3), hit mask (N,))."""
        o, d = np.atleast_2d(origins).astype(float), np.atleast_2d(dirs).astype(float)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        reach = 2.5  # rays start within this of the surface they look for
        lo = np.minimum(o, o + reach * d).min(axis=0) - 0.01
        hi = np.maximum(o, o + reach * d).max(axis=0) + 0.01
        keep = np.all((self.tri_hi >= lo) & (self.tri_lo <= hi), axis=1)
        tris = self.tris[keep]
        hits = np.full(len(o), np.inf)
        normals = np.zeros((len(o), 3))
        if len(tris):
            a, e1, e2 = tris[:, 0], tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
            for s in range(0, len(o), 256):
                oo, dd = o[s:s + 256, None], d[s:s + 256, None]
                p = np.cross(dd, e2[None])
                det = np.einsum("ijk,ijk->ij", p, np.broadcast_to(e1[None], p.shape))
                ok = np.abs(det) > 1e-12
                inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
                tv = oo - a[None]
                u = np.einsum("ijk,ijk->ij", tv, p) * inv
                q = np.cross(tv, np.broadcast_to(e1[None], tv.shape))
                w = np.einsum("ijk,ijk->ij", np.broadcast_to(dd, q.shape), q) * inv
                t = np.einsum("ijk,ijk->ij", q, np.broadcast_to(e2[None], q.shape)) * inv
                valid = ok & (u >= -1e-9) & (w >= -1e-9) & (u + w <= 1 + 1e-9) & (t > 1e-6)
                t = np.where(valid, t, np.inf)
                best = t.argmin(axis=1)
                hits[s:s + 256] = t[np.arange(len(best)), best]
                n = np.cross(e1[best], e2[best])
                normals[s:s + 256] = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        ok = np.isfinite(hits)
        normals = np.where((np.einsum("ij,ij->i", normals, d) > 0)[:, None], -normals, normals)
        return o + d * np.where(ok, hits, 0.0)[:, None], normals, ok


def as_function(value):
    """A height given as a number or as a function of the chart coordinate, as a function (arrays in, arrays
    out): the outlines of patches, strips and grilles take either."""
    return value if callable(value) else (lambda t, c=value: c + 0 * np.asarray(t, float))


class EndFace:
    """Chart of the front or rear end: (y, z) -> the body surface seen along x, lifted along its normal."""

    def __init__(self, caster: Caster, x_far: float, front: bool):
        self.caster, self.x_far, self.sign = caster, x_far, 1.0 if front else -1.0

    def points(self, yz, lift=0.0):
        yz = np.atleast_2d(yz)
        o = np.column_stack([np.full(len(yz), self.x_far + self.sign * 1.0), yz])
        d = np.tile([-self.sign, 0.0, 0.0], (len(yz), 1))
        hit, normal, ok = self.caster.cast(o, d)
        hit[~ok, 0] = self.x_far  # a miss (outline off the body) stays at the end plane
        normal[~ok] = (self.sign, 0, 0)
        return hit + normal * lift

    def prism(self, mesh: Mesh, outline, lift0, lift1, mat, mirror=True):
        """An element standing on the surface: its (y, z) outline lifted from lift0 to lift1, top and sides."""
        outline = np.asarray(outline, float)
        for s in ((1.0, -1.0) if mirror else (1.0,)):
            o = outline * (s, 1.0)
            if s < 0:
                o = o[::-1]
            top, bottom = self.points(o, lift1), self.points(o, lift0)
            n = len(o)
            faces = [tuple(range(n))] + [(n + i, n + (i + 1) % n, (i + 1) % n, i) for i in range(n)]
            mesh.add(list(top) + list(bottom), faces, mat)

    def patch(self, mesh: Mesh, y0, y1, z0, z1, lift, mat, nu=8, nv=3, mirror=True):
        """A grid patch over y0..y1 with bottom z0(y) and top z1(y) (callables or numbers), lifted."""
        f0, f1 = as_function(z0), as_function(z1)
        ys = np.linspace(y0, y1, nu + 1)
        grid = np.array([[y, f0(y) + (f1(y) - f0(y)) * t] for y in ys for t in np.linspace(0, 1, nv + 1)])
        faces = [(i * (nv + 1) + j, (i + 1) * (nv + 1) + j, (i + 1) * (nv + 1) + j + 1, i * (nv + 1) + j + 1)
                 for i in range(nu) for j in range(nv)]
        for s in ((1.0, -1.0) if mirror else (1.0,)):
            pts = self.points(grid * (s, 1.0), lift)
            mesh.add(pts, faces if s > 0 else [f[::-1] for f in faces], mat)


class WrapFace(EndFace):
    """Chart of an end that wraps round its plan corners onto the sides: (s, z) -> the body surface, where s is
    the arc length along the body's plan outline from the centreline (negative: the right side) and the ray
    comes in along the outline's normal. Near the centre it is the EndFace; lamp clusters laid out in s reach
    round the corner onto the wing, as real ones do."""

    def __init__(self, caster: Caster, prof, front: bool, reach: float = 1.2):
        super().__init__(caster, prof.x_front if front else prof.x_end, front)
        d = np.concatenate([np.linspace(0.0, 0.05, 26), np.linspace(0.052, reach, 300)])
        x = self.x_far - self.sign * d
        y = np.maximum(np.asarray(prof.half_width(x), float), 0.0)
        pts = np.column_stack([np.r_[self.x_far, x], np.r_[0.0, y]])
        tangent = np.gradient(pts, axis=0)
        tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
        self.outline = pts
        self.normal = self.sign * np.column_stack([tangent[:, 1], -tangent[:, 0]])
        self.s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
        self.angle = np.degrees(np.arctan2(self.normal[:, 1], self.sign * self.normal[:, 0]))

    def s_at(self, angle: float) -> float:
        """Arc length where the outline's normal has turned `angle` degrees from the end towards the side."""
        i = int(np.argmax(self.angle >= angle)) if np.any(self.angle >= angle) else len(self.s) - 1
        return float(self.s[i])

    def x_at(self, s) -> np.ndarray:
        return np.interp(np.abs(s), self.s, self.outline[:, 0])

    def s_at_x(self, x: float) -> float:
        """Arc length where the outline reaches station x along the side (the chart's end if it never does)."""
        along = self.sign * (self.x_far - self.outline[:, 0])  # increasing away from the tip
        return float(np.interp(self.sign * (self.x_far - x), along, self.s))

    def _along(self, table: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Plan points or normals (left side) at signed arc lengths s, mirrored to the right side where s < 0."""
        side = np.where(s < 0, -1.0, 1.0)
        a = np.abs(s)
        return np.column_stack([np.interp(a, self.s, table[:, 0]), side * np.interp(a, self.s, table[:, 1])])

    def points(self, sz, lift=0.0):
        sz = np.atleast_2d(sz)
        z = sz[:, 1]
        base, n = self._along(self.outline, sz[:, 0]), self._along(self.normal, sz[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        o = np.column_stack([base + n, z])
        d = np.column_stack([-n, np.zeros(len(z))])
        hit, normal, ok = self.caster.cast(o, d)
        hit[~ok] = np.column_stack([base, z])[~ok]
        normal[~ok] = np.column_stack([n, np.zeros(len(z))])[~ok]
        return hit + normal * lift


def disc(yc, zc, ry, rz, n=12):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([yc + ry * np.cos(t), zc + rz * np.sin(t)])


def rect(y0, y1, z0, z1):
    return np.array([(y0, z0), (y1, z0), (y1, z1), (y0, z1)])


def hexagon(yc, zc, r):
    return disc(yc, zc, r, r * 0.9, 6)


# --- wheels ------------------------------------------------------------------------------------------------

RIM_DESIGNS = ("multi_spoke", "five_spoke", "split_spoke", "steel_hubcap")


def rim_design(p) -> str:
    if p.type_name in BIG:
        return "truck_steel"
    return RIM_DESIGNS[int(np.random.default_rng(p.style_seed + 7).integers(len(RIM_DESIGNS)))]


def rim_ratio(p) -> float:
    """The rim's radius over the tyre's: real cars roll on 15-19 inch rims, so the rubber sidewall is anything
    from a third of the wheel's radius (a 205/65 R15 on a budget car, an SUV's 225/65 R17) to a fifth (a 225/45 R18
    on a sports saloon); one ratio for every car made every wheel look alike. Hubcaps cover steel rims, which are
    small; trucks and buses keep their 22.5 inch steel."""
    if p.type_name in BIG:
        return 0.56
    if rim_design(p) == "steel_hubcap":
        return 0.62
    low = {"suv": 0.58, "pickup": 0.58, "van": 0.58, "mpv": 0.60}.get(p.type_name, 0.61)
    return float(style_rng(p, 32).uniform(low, low + 0.09))  # its own stream: every other draw keeps its value


def _brake(mesh: Mesh, parts: list, wp, centre, rim: float, h: float, segments: int, left: bool, x: float):
    """The brake disc and its calliper, seen between the spokes: without them a rim's windows were black holes
    round thin silver arms (a toy's star wheel); real ones show a grey disc behind the spokes. The calliper
    grips the disc towards the vehicle's middle (behind the front axle, ahead of the rear one)."""
    disc = rim * 0.8
    parts.append(lathe([(disc, h - 0.058), (disc * 0.97, h - 0.05), (disc * 0.45, h - 0.05), (disc * 0.42, h - 0.06)],
                       segments, centre, "steel", not left))
    t = np.pi * (0.8 if x > 0 else 0.2)  # polar angle in the wheel plane: towards the middle, a little above the hub
    # (radial, axial, tangential) size; it straddles the disc and stays behind the spokes (backs at h - 0.04)
    mesh.box(wp(disc * 0.82, t, h - 0.058), (0.055 * rim / 0.2, 0.028, 0.11 * rim / 0.2), "metal_dark", rot=rot_y(-t))


def wheel(prof, x: float, left: bool, segments: int) -> Part:
    """Tyre with rounded sidewalls and tread edges, a rim of the model's design, and a hub face whose centre
    vertex is the wheel-centre keypoint (at axial tyre_width / 2 - 0.015)."""
    p = prof.p
    r, w = p.wheel_radius, p.tyre_width
    design = rim_design(p)
    rim = r * rim_ratio(p)
    y = prof.wheel_y if left else -prof.wheel_y
    c = (x, y, r)
    h = w / 2
    side = r - rim
    bulge = 0.012
    tyre = [(rim, -h + 0.012), (rim + 0.25 * side, -h - bulge * 0.6), (rim + 0.6 * side, -h - bulge),
            (r - 0.022, -h - 0.004), (r - 0.006, -h + 0.012), (r, -h + 0.03), (r, h - 0.03), (r - 0.006, h - 0.012),
            (r - 0.022, h + 0.004), (rim + 0.6 * side, h + bulge), (rim + 0.25 * side, h + bulge * 0.6),
            (rim, h - 0.004)]
    rim_lip = [(rim, h - 0.004), (rim * 1.03, h - 0.004), (rim * 1.0, h - 0.012), (rim * 0.96, h - 0.022),
               (rim * 0.9, h - 0.055)]
    parts = [lathe(tyre, segments, c, "rubber", not left)]
    mesh = Mesh()
    out = 1.0 if left else -1.0

    def wp(rho, t, a):  # wheel frame: polar (rho, angle t) in the wheel plane, axial a outwards
        return np.array([x + rho * np.cos(t), y + out * a, r + rho * np.sin(t)])

    def spoke(t, r0, r1, w0, w1, a0, a1, thick, mat):
        corners = []
        for rho, half, a in ((r0, w0 / 2, a0), (r1, w1 / 2, a1)):
            for dt in (-1, 1):
                for da in (0, 1):
                    corners.append(wp(rho, t + dt * half / rho, a - da * thick))
        # box order: index = 4*i_r + 2*i_dt + i_da
        mesh.hexa([corners[i] for i in (0, 1, 2, 3, 4, 5, 6, 7)], mat)

    hub_a = h - 0.015
    rng = np.random.default_rng(p.style_seed + 11)
    rot = rng.uniform(0, np.pi)
    if design == "truck_steel":
        parts.append(lathe([(rim, h - 0.004), (rim * 0.97, h - 0.02), (rim * 0.85, h - 0.05), (rim * 0.45, h - 0.06),
                            (rim * 0.42, hub_a - 0.01), (rim * 0.3, hub_a - 0.005), (rim * 0.3, hub_a),
                            (0.0, hub_a)], segments, c, "steel", not left))
        for i in range(6):  # hand holes
            t = rot + 2 * np.pi * i / 6
            mesh.box(wp(rim * 0.66, t, h - 0.055), (0.05, 0.004, 0.05), "metal_dark")
        for i in range(8):  # wheel nuts
            t = 2 * np.pi * i / 8
            mesh.box(wp(rim * 0.36, t, hub_a - 0.004), (0.022, 0.012, 0.022), "chrome")
        return merge_parts(parts + [mesh.part()])
    parts.append(lathe(rim_lip, segments, c, "chrome", not left))
    parts.append(lathe([(rim * 0.9, h - 0.055), (rim * 0.3, h - 0.07), (0.0, h - 0.07)], segments, c,
                       "metal_dark", not left))  # the dark barrel behind the spokes
    metal = "chrome" if rng.random() < 0.6 else "steel"
    if design != "steel_hubcap":
        _brake(mesh, parts, wp, c, rim, h, segments, left, x)
    if design == "steel_hubcap":
        parts.append(lathe([(rim * 0.97, h - 0.014), (rim * 0.8, h - 0.01), (rim * 0.6, h - 0.02),
                            (rim * 0.45, h - 0.02), (rim * 0.3, hub_a - 0.002), (0.0, hub_a)], segments, c, "steel",
                           not left))
        for i in range(8):
            t = rot + 2 * np.pi * i / 8
            mesh.box(wp(rim * 0.7, t, h - 0.012), (0.045 * rim / 0.2, 0.004, 0.018 * rim / 0.2), "metal_dark",
                     rot=rot_y(-t))
        return merge_parts(parts + [mesh.part()])
    parts.append(lathe([(rim * 0.26, hub_a - 0.004), (rim * 0.22, hub_a - 0.0005), (0.0, hub_a)], segments, c,
                       metal, not left))
    if design == "five_spoke":
        for i in range(5):
            spoke(rot + 2 * np.pi * i / 5, rim * 0.24, rim * 0.95, rim * 0.24, rim * 0.50, hub_a - 0.005,
                  h - 0.012, 0.02, metal)
    elif design == "multi_spoke":
        n = int(rng.integers(9, 13))
        for i in range(n):
            spoke(rot + 2 * np.pi * i / n, rim * 0.24, rim * 0.95, rim * 0.07, rim * 0.10, hub_a - 0.005,
                  h - 0.012, 0.016, metal)
    else:  # split spokes: five V pairs
        for i in range(5):
            t = rot + 2 * np.pi * i / 5
            for dt in (-0.13, 0.13):
                spoke(t + dt * 0.3, rim * 0.24, rim * 0.95, rim * 0.07, rim * 0.09, hub_a - 0.005, h - 0.012, 0.016,
                      metal)
                mesh_t = t + dt
                spoke(mesh_t, rim * 0.55, rim * 0.95, rim * 0.06, rim * 0.08, h - 0.02, h - 0.012, 0.014, metal)
    return merge_parts(parts + [mesh.part()])


# --- sides and roof ----------------------------------------------------------------------------------------


def mirrors(mesh: Mesh, caster: Caster, prof, big: bool):
    """Door mirrors: a housing on an arm from the door at the A-pillar base."""
    p, k = prof.p, prof.keyx
    rng = style_rng(p, 3)
    if big:
        xm, zm = k["15"] + 0.10, p.cowl + 0.45
        hit, _, ok = caster.cast([(xm - 0.3, 0.0, p.cowl + 0.1)], [(0.0, 1.0, 0.0)])
        ys = float(hit[0, 1]) if ok[0] else p.width / 2
        for s in (1, -1):
            mesh.tube([(xm - 0.25, s * (ys - 0.02), p.cowl + 0.1), (xm, s * (ys + 0.20), zm - 0.2),
                       (xm, s * (ys + 0.22), zm + 0.25)], 0.015, "metal_dark")
            mesh.blob((xm + 0.01, s * (ys + 0.26), zm), (0.07, 0.20, 0.36), "trim", exponent=6)
            mesh.box((xm - 0.027, s * (ys + 0.26), zm), (0.004, 0.17, 0.32), "chrome")
        return
    xm, zm = k["15"] - 0.14, p.cowl + 0.07
    hit, _, ok = caster.cast([(xm, 0.0, zm)], [(0.0, 1.0, 0.0)])
    ys = float(hit[0, 1]) if ok[0] else p.width / 2 - p.shoulder
    mat = "paint" if rng.random() < 0.7 else "trim"
    for s in (1, -1):
        mesh.box((xm + 0.01, s * (ys + 0.035), zm - 0.01), (0.06, 0.07, 0.03), "trim")
        mesh.blob((xm + 0.02, s * (ys + 0.13), zm + 0.01), (0.09, 0.19, 0.11), mat)
        mesh.box((xm - 0.024, s * (ys + 0.13), zm + 0.01), (0.004, 0.15, 0.08), "chrome")


def side_y(caster: Caster, x: float, z: float, sign: float = 1.0) -> float:
    """|y| of the body's side at (x, z) on the left (sign 1) or right (-1) side, by a ray from outside; 0 on a miss."""
    hit, _, ok = caster.cast([(x, sign * 2.0, z)], [(0.0, -sign, 0.0)])
    return abs(float(hit[0, 1])) if ok[0] else 0.0


def side_strip(mesh: Mesh, caster: Caster, x0: float, x1: float, z0, z1, lift: float, mat: str):
    """A strip lying on both body sides from x0 to x1 (x0 < x1) between heights z0(x) and z1(x) (callables or
    numbers), `lift` out of the surface along its normal, in rows at most 10 cm tall so that an upright strip
    follows a side's tumblehome; rays that miss the body leave a gap."""
    f0, f1 = as_function(z0), as_function(z1)
    xs = np.linspace(x0, x1, max(2, int(np.ceil((x1 - x0) / 0.05)) + 1))
    lo, hi = np.array([float(f0(x)) for x in xs]), np.array([float(f1(x)) for x in xs])
    heights = np.linspace(0.0, 1.0, max(1, int(np.ceil((hi - lo).max() / 0.10))) + 1)
    n = len(xs)
    for s in (1.0, -1.0):
        points, hits = [], []
        for t in heights:
            o = np.column_stack([xs, np.full(n, s * 3.0), lo + t * (hi - lo)])
            hit, normal, ok = caster.cast(o, np.tile([0.0, -s, 0.0], (n, 1)))
            points += list(hit + normal * lift)
            hits.append(ok)
        ok = np.concatenate(hits)
        faces = [(r * n + i, r * n + i + 1, (r + 1) * n + i + 1, (r + 1) * n + i)
                 for r in range(len(heights) - 1) for i in range(n - 1)
                 if ok[[r * n + i, r * n + i + 1, (r + 1) * n + i + 1, (r + 1) * n + i]].all()]
        mesh.add(points, faces if s < 0 else [f[::-1] for f in faces], mat)


def body_side_trim(mesh: Mesh, caster: Caster, prof, rng):
    """What runs along a car's sides: on a third of the models a protective moulding across the doors (black,
    or a thin chrome line), and on an MPV's or van's sliding door the rail it runs on, a dark groove along the
    rear quarter under its window (the mark that tells a van's side from an estate's)."""
    p, seams, windows = prof.p, prof.seams(), side_windows(prof)
    doors = [seams[n] for n in ("door_front", "door_b", "door_rear") if n in seams]
    if len(doors) >= 2 and rng.random() < 0.35:
        x0, x1 = min(d[1] for d in doors) + 0.03, max(d[0] for d in doors) - 0.03
        chrome = rng.random() < 0.3
        zc = p.sill + rng.uniform(0.28, 0.4) * (float(prof.belt(0.5 * (x0 + x1))) - p.sill)
        half = 0.008 if chrome else rng.uniform(0.02, 0.03)
        side_strip(mesh, caster, x0, x1, zc - half, zc + half, 0.004, "chrome" if chrome else "trim")
    if p.type_name in ("mpv", "van") and len(windows) >= 3 and "door_b" in seams:
        x0, x1 = windows[0][0] + 0.04, seams["door_b"][0]
        if x1 - x0 > 0.3:
            side_strip(mesh, caster, x0, x1, lambda x: prof.belt(x) - 0.06, lambda x: prof.belt(x) - 0.035, 0.003,
                       "trim")


BELT_CHROME_PROB = {"sedan": 0.4, "estate": 0.35, "suv": 0.35, "mpv": 0.35}  # others: 0.15


def belt_chrome(mesh: Mesh, caster: Caster, prof, rng):
    """On a share of the cars (saloons most), a chrome moulding along the side windows' base, where the glass
    meets the doors: the bright line that many real saloons and SUVs carry from the A- to the C-pillar and that
    catches the sky as a thin highlight; the rest keep the black seal of the glass's edge."""
    p = prof.p
    if rng.random() >= BELT_CHROME_PROB.get(p.type_name, 0.15):
        return
    windows = side_windows(prof)
    x0, x1 = min(w[0] for w in windows) - 0.02, max(w[1] for w in windows) + 0.02
    side_strip(mesh, caster, x0, x1, lambda x: float(prof.belt(x)) - 0.014, lambda x: float(prof.belt(x)) + 0.002,
               0.003, "chrome")


def wipers(mesh: Mesh, caster: Caster, prof):
    """A car's two windshield wipers, parked along the glass's base (dark bars in every frontal view): the
    driver's (left, y > 0) from the middle towards the left, the passenger's towards the right, each rising a
    little up the glass towards its tip, 5-8 cm above the base and 0.2 of the base's half width (keypoint 15's
    y) clear of its corners."""
    p, k = prof.p, prof.keyx
    y_corner = abs(float(keypoints(p)[15, 1]))
    up = np.cos(np.radians(p.ws_rake))  # x per metre up the glass
    for y0, y1 in ((0.06, 0.8 * y_corner), (-0.02, -0.72 * y_corner)):
        ys = np.linspace(y0, y1, 7)
        xs = k["15"] - up * (0.05 + 0.03 * np.abs(ys - y0) / abs(y1 - y0))
        xs = prof.wrap(np.column_stack([xs, ys, np.zeros(7)]))[:, 0]  # along the base's arc (Profile.glass_wrap)
        hits, _, ok = caster.cast(np.column_stack([xs, ys, np.full(7, p.roof_z + 1.0)]), np.tile((0, 0, -1.0), (7, 1)))
        if ok.all():
            mesh.tube(hits + (0.0, 0.0, 0.011), 0.009, "trim")


def roof_rails(mesh: Mesh, caster: Caster, prof):
    p, k = prof.p, prof.keyx
    x0, x1 = k["14"] - 0.12, k["13"] + 0.05
    if x0 - x1 < 0.6:
        return
    xs = np.linspace(x0, x1, 9)
    loop_y = float(prof.half_loop([0.5 * (x0 + x1)])[0][R_REDGE][0])  # the roof's side edge
    y = loop_y - 0.06
    origins = np.column_stack([xs, np.full(9, y), np.full(9, p.roof_z + 1.0)])
    hits, _, ok = caster.cast(origins, np.tile((0, 0, -1.0), (9, 1)))
    if not ok.all():
        return
    for s in (1, -1):
        rail = [(h[0], s * y, h[2] + 0.055) for h in hits]
        mesh.tube(rail, 0.014, "metal_dark" if p.style_seed % 2 else "steel")
        for h in (hits[0], hits[-1], hits[4]):
            mesh.box((h[0], s * y, h[2] + 0.025), (0.06, 0.03, 0.06), "trim")


def bed_wheel_humps(mesh: Mesh, prof):
    """A pickup bed's wheel houses: a box over each rear wheel standing out of the bed's inner wall onto its
    floor, in the floor's liner or paint. The bed's most telling shape from a raised camera."""
    p, k = prof.p, prof.keyx
    _, radius, _ = prof.arch
    x0, x1 = max(prof.x_rear_axle - radius - 0.06, k["bed_rear"] + 0.02), prof.x_rear_axle + radius + 0.06
    x1 = min(x1, k["bed_front"] - 0.02)
    if x1 - x0 < 0.3:
        return
    y_wall, z_floor = prof.half_loop([prof.x_rear_axle])[0][R_GTOP]
    height = min(0.26, 0.6 * p.bed_depth)
    for s in (1, -1):
        mesh.box((0.5 * (x0 + x1), s * (y_wall - 0.11), z_floor + 0.5 * height - 0.005), (x1 - x0, 0.24, height),
                 deck_material(p))


def spoiler(mesh: Mesh, caster: Caster, prof):
    """A roof spoiler over a hatch's rear window, a lip on a sedan's deck lid."""
    p, k = prof.p, prof.keyx
    y = float(prof.half_loop([k["13"]])[0][R_REDGE][0]) - 0.03
    if p.type_name == "hatchback":
        x = k["13"] - 0.05
        hit, _, ok = caster.cast([(k["13"] + 0.02, 0.0, p.roof_z + 1.0)], [(0, 0, -1.0)])
        if ok[0]:
            mesh.box((x, 0.0, hit[0, 2] + 0.006), (0.16, 2 * y, 0.022), "paint", rot=rot_y(np.radians(-6)))
    else:
        x = k["11"] + 0.06
        hit, _, ok = caster.cast([(x, 0.0, p.roof_z + 1.0)], [(0, 0, -1.0)])
        if ok[0]:
            w = 2 * (float(prof.half_width(x)) - p.shoulder - 0.12)
            mesh.box((x, 0.0, hit[0, 2] + 0.012), (0.06, w, 0.025), "paint", rot=rot_y(np.radians(-8)))


def high_brake_light(mesh: Mesh, caster: Caster, prof, rng) -> bool:
    """The centre high-mounted stop lamp that every car since the 1990s carries: a red strip across the top of
    the rear window (a tailgate's, a boot's or a pickup cab's), laid on the glass under the roof's edge. Its lens
    lights with the brake lights. Returns whether the glass was found."""
    p, k = prof.p, prof.keyx
    roof, _, ok = caster.cast([(k["13"] + 0.03, 0.0, p.roof_z + 1.0)], [(0.0, 0.0, -1.0)])
    if not ok[0]:
        return False
    # from behind, level, a little under the roof's edge (2 m back: within the caster's reach of the glass)
    hit, normal, ok = caster.cast([(k["13"] - 2.0, 0.0, roof[0, 2] - rng.uniform(0.04, 0.07))], [(1.0, 0.0, 0.0)])
    if not ok[0]:
        return False
    # a box on the glass: thickness along the normal (in the centre plane: the lamp faces straight back; the
    # triangulated glass tilts it a hair sideways), width across the car, height up the glass
    out = normal[0] * (1.0, 0.0, 1.0)
    out /= np.linalg.norm(out)
    across = np.array([0.0, 1.0, 0.0])
    up = np.cross(out, across)
    size = (0.012, rng.uniform(0.2, 0.4), rng.uniform(0.025, 0.045))
    mesh.box(hit[0] + out * (0.004 + size[0] / 2), size, "lens_red", rot=np.column_stack([out, across, up]))
    return True


ANTENNA_PROB = 0.55  # cars with a shark-fin antenna on the roof (own stream)


def shark_fin(mesh: Mesh, caster: Caster, prof, rng) -> bool:
    """On a share of the cars, the shark-fin antenna on the roof's centre line 8-15 cm ahead of the rear window's
    top: a wedge 16-22 cm long rising to 5-7 cm at its rear, black or body colour. Returns whether it was put."""
    p, k = prof.p, prof.keyx
    if rng.random() >= ANTENNA_PROB or k["14"] - k["13"] < 0.6:
        return False
    length, height, width = rng.uniform(0.16, 0.22), rng.uniform(0.05, 0.07), rng.uniform(0.05, 0.07)
    x_rear = k["13"] + rng.uniform(0.08, 0.15)
    xs = (x_rear, x_rear + length)
    roof, _, ok = caster.cast([(x, 0.0, p.roof_z + 1.0) for x in xs], [(0.0, 0.0, -1.0)] * 2)
    if not ok.all():
        return False
    corners = []
    for (x, _, z), top in zip(roof, (height, 0.012)):  # the rear stands tall, the front meets the roof
        for y in (-1.0, 1.0):
            corners += [(x, 0.5 * width * y, z - 0.005), (x, 0.18 * width * y, z + top)]
    mesh.hexa(corners, "paint" if rng.random() < 0.5 else "trim")
    return True


def bull_bar(mesh: Mesh, face: EndFace, p, hw: float):
    z_lo, z_hi = p.nose_bottom + 0.08, p.hood_front - 0.06
    ys = np.array([-0.42, -0.22, 0.22, 0.42]) * hw * 2 / 1.8
    front = face.points(np.array([[0.0, 0.5 * (z_lo + z_hi)]]), 0.0)[0, 0] + 0.08
    for y in (ys[1], ys[2]):
        mesh.tube([(front - 0.04, y, z_lo), (front, y, z_lo + 0.1), (front, y, z_hi - 0.05),
                   (front - 0.08, y, z_hi)], 0.025, "metal_dark")
    mesh.tube([(front - 0.06, ys[0], z_lo + 0.15), (front, ys[1], z_lo + 0.15), (front, ys[2], z_lo + 0.15),
               (front - 0.06, ys[3], z_lo + 0.15)], 0.022, "metal_dark")
    mesh.tube([(front, ys[1], z_hi - 0.1), (front, ys[2], z_hi - 0.1)], 0.022, "metal_dark")


# --- cabin -------------------------------------------------------------------------------------------------


def seat(mesh: Mesh, x, y, z_floor, z_belt, width, recline=np.radians(18), z_roof=np.inf, kind="seat"):
    """Cushion, backrest and headrest of one seat (front at +x), the headrest kept under the roof."""
    cushion_z = z_floor + 0.30
    mesh.box((x, y, cushion_z), (0.48, width, 0.12), kind)
    back_len = max(min(z_belt + 0.25, z_roof - 0.32) - cushion_z, 0.30)
    c = np.array([x - 0.22, y, cushion_z]) + rot_y(recline) @ np.array([0, 0, back_len / 2])
    mesh.box(c, (0.11, width, back_len), kind, rot=rot_y(-recline))
    head = np.array([x - 0.22, y, cushion_z]) + rot_y(-recline) @ np.array([0, 0, back_len + 0.10])
    mesh.blob(head, (0.09, width * 0.55, 0.17), kind)


def occupant(mesh: Mesh, x, y, z_floor, z_roof, reach=None):
    """A person sitting in the seat at (x, y) (as `seat` places it): torso, head with hair, arms to the wheel at
    `reach` (a point) or resting. Through a windshield a traffic camera sees the driver; an empty car is a tell."""
    cushion_z = z_floor + 0.30
    z_head = min(cushion_z + 0.62, z_roof - 0.19)  # a tall driver slouches under a low roof
    mesh.blob((x - 0.24, y, 0.5 * (cushion_z + z_head) - 0.05), (0.24, 0.40, z_head - cushion_z), "clothes")
    mesh.blob((x - 0.28, y, z_head), (0.20, 0.16, 0.22), "skin")
    mesh.blob((x - 0.31, y, z_head + 0.05), (0.19, 0.17, 0.14), "hair")
    for s in (1, -1):
        shoulder = np.array([x - 0.22, y + s * 0.17, z_head - 0.22])
        hand = np.asarray(reach, float) + (0, s * 0.14, 0) if reach is not None else shoulder + (0.35, 0, -0.25)
        mesh.tube([shoulder, 0.5 * (shoulder + hand) + (0, 0, -0.08), hand], 0.045, "clothes")


def cabin(mesh: Mesh, prof, x_front: float, x_rear: float, half: float, rows: int = 2):
    """Dashboard, steering wheel (left-hand drive: on the +y side), centre console, seats, the driver and, in
    some models, passengers."""
    p = prof.p
    z_floor = p.sill + 0.05
    zd = p.cowl + 0.02
    mesh.box((x_front - 0.20, 0.0, zd - 0.12), (0.40, 2 * half, 0.24), "dashboard")
    y_drive = 0.5 * half  # the driver sits on the left
    centre = np.array([x_front - 0.42, y_drive, zd - 0.02])
    tilt = np.radians(62)
    ring = []
    for t in np.linspace(0, 2 * np.pi, 13):
        v = rot_y(-tilt) @ np.array([0.0, 0.19 * np.cos(t), 0.19 * np.sin(t)])
        ring.append(centre + v)
    mesh.tube(ring, 0.016, "dashboard")
    mesh.box(centre + (0.06, 0, 0), (0.08, 0.06, 0.06), "dashboard")
    xs = [x_front - 0.95] + [x_front - 0.95 - 0.85 * i for i in range(1, rows)]
    mesh.box((xs[0] + 0.15, 0.0, z_floor + 0.18), (0.6, 0.18, 0.22), "dashboard")
    x_roof_rear = prof.keyx["13"] if p.type_name != "truck" else x_rear
    rng = style_rng(p, 31)
    riders = (rng.random() < 0.4, rng.random() < 0.15)  # a front passenger; people in the back
    back = max(x_rear, x_roof_rear)
    if xs[0] - 0.45 < back < x_front - 1.0:  # a short cab: the front seats stand against its back wall
        xs[0] = back + 0.45
    for row, xr in enumerate(xs):
        if xr - 0.45 < back or xr > x_front:
            break  # no seat under the sloping rear window (its headrest would stand through the glass)
        for s in (1, -1):
            seat(mesh, xr, s * half * 0.5, z_floor, p.cowl, min(0.50, half * 0.75), z_roof=p.roof_z)
            if row == 0 and s > 0:
                occupant(mesh, xr, s * half * 0.5, z_floor, p.roof_z, reach=centre + (0.03, 0, -0.02))
            elif (row == 0 and riders[0]) or (row > 0 and riders[1]):
                occupant(mesh, xr, s * half * 0.5, z_floor, p.roof_z)


def lower_cabin(mesh: Mesh, prof, x0: float, x1: float):
    """The opaque block that fills the body below the beltline (seats' bases, floor, boot) so nothing beyond is
    seen through the windshield and the hollow body."""
    p, k = prof.p, prof.keyx
    z0, z1 = p.sill + 0.02, min(p.cowl, p.deck) + 0.05
    x1 -= (z1 + 0.02 - p.cowl) / np.tan(np.radians(p.ws_rake))  # stay under the windshield
    if p.type_name != "truck":
        x0 = max(x0, k["12"] + 0.05 + max(z1 + 0.02 - p.deck, 0) / np.tan(np.radians(p.rw_rake)))
    if x1 <= x0:
        return
    # inside the narrowest section it spans (a car's sides camber in and its corners round off towards the ends)
    hwl = float(np.min(prof.half_width(np.linspace(x0, x1, 12)))) - p.shoulder - p.glass_inset - 0.04
    if hwl > 0.1:
        mesh.box(((x0 + x1) / 2, 0, (z0 + z1) / 2), (x1 - x0, 2 * hwl, z1 - z0), "trim")
