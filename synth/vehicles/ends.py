"""The front and rear ends of a vehicle: headlamp and tail-light clusters (wrapped round a car's corners, boxes on
a bus's or truck's flat ends), grilles, the lower intake, a car tail's panel lines, reflectors, garnish and
badges, and the number plates, laid on the body through the
charts of synth/vehicles/parts.py (`EndFace`, `WrapFace`). Discrete choices come from the model's style seed.
Pure numpy.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from synth.vehicles.geometry import GAP, Part
from synth.vehicles.params import style_rng
from synth.vehicles.parts import EndFace, Mesh, WrapFace, as_function, disc, hexagon, rect

PLATE_SIZE = (0.44, 0.14)  # China's standard plate (width, height), metres


def headlights(mesh: Mesh, face: EndFace, p, hw: float, z_top: float, height: float = 0.16):
    """A bus's or truck's headlight clusters, `height` tall, on its flat front: housing, chrome reflectors, clear
    lenses, amber indicator. Returns the inner end's y."""
    rng = style_rng(p, 1)
    shape = ("round", "rectangular", "swept")[int(rng.integers(3))]
    y0, y1 = hw * 0.55, hw * 0.93
    z_top = min(z_top, p.hood_front - 0.02)
    zb = z_top - height
    sweep = 0.05 if shape == "swept" else 0.0
    top = lambda y: z_top - sweep * (1 - (y - y0) / (y1 - y0))  # noqa: E731
    bot = lambda y: zb + (0.5 * sweep * (y - y0) / (y1 - y0) if shape == "swept" else 0.0)  # noqa: E731
    face.patch(mesh, y0, y1, bot, top, 0.004, "metal_dark")
    span = y1 - y0
    zc = zb + height * 0.52
    amber = y1 - 0.16 * span
    if shape == "round":
        for yc in (y0 + 0.25 * span, y0 + 0.58 * span):
            rad = min(0.42 * height, 0.16 * span)
            face.prism(mesh, disc(yc, zc, rad, rad), 0.004, 0.007, "reflector")
            face.prism(mesh, disc(yc, zc, rad * 0.55, rad * 0.55), 0.007, 0.011, "lens_clear")
    else:
        face.prism(mesh, rect(y0 + 0.05 * span, amber - 0.02, bot(y0) + 0.2 * height, top(amber) - 0.15 * height),
                   0.004, 0.007, "reflector")
        for yc in (y0 + 0.25 * span, y0 + 0.55 * span):
            rad = 0.28 * height
            face.prism(mesh, disc(yc, zc - 0.1 * height, rad, rad), 0.007, 0.011, "lens_clear")
    face.prism(mesh, rect(amber, y1 - 0.01, bot(y1) + 0.15 * height, top(y1) - 0.15 * height), 0.004, 0.008,
               "lens_amber")
    return y0


def taillights(mesh: Mesh, face: EndFace, p, hw: float, z_top: float):
    """A bus's or truck's tall tail-light clusters on its flat rear: red lens with an inner shape, a clear
    reversing segment, sometimes amber."""
    rng = style_rng(p, 2)
    y0, y1, height = hw * 0.78, hw * 0.97, rng.uniform(0.30, 0.42)
    if p.type_name == "bus":  # a bus's lamps stand in a tall column at each rear corner
        height *= 1.7
    zb = z_top - height
    face.patch(mesh, y0, y1, zb, z_top, 0.004, "taillight", nu=6, nv=4)
    span = y1 - y0
    inner = int(rng.integers(3))
    if inner == 0:  # a ring
        rad = min(0.36 * height, 0.3 * span)
        ring = disc(y0 + 0.65 * span, zb + 0.55 * height, rad, rad, 14)
        face.prism(mesh, ring, 0.004, 0.008, "lens_red")
        face.prism(mesh, disc(y0 + 0.65 * span, zb + 0.55 * height, rad * 0.6, rad * 0.6, 14), 0.004, 0.0085,
                   "taillight")
    elif inner == 1:  # two horizontal bars
        for f in (0.25, 0.62):
            face.prism(mesh, rect(y0 + 0.3 * span, y1 - 0.03, zb + f * height, zb + (f + 0.16) * height), 0.004,
                       0.008, "lens_red")
    else:  # an L
        face.prism(mesh, rect(y0 + 0.35 * span, y1 - 0.02, z_top - 0.28 * height, z_top - 0.1 * height), 0.004,
                   0.008, "lens_red")
        face.prism(mesh, rect(y1 - 0.22 * span, y1 - 0.02, zb + 0.1 * height, z_top - 0.1 * height), 0.004,
                   0.008, "lens_red")
    face.prism(mesh, rect(y0 + 0.1 * span, y1 - 0.05 * span, zb + 0.05 * height, zb + 0.22 * height), 0.004,
               0.008, "lens_clear")
    if rng.random() < 0.5:
        face.prism(mesh, rect(y0 + 0.3 * span, y1 - 0.04, zb + 0.02, zb + 0.02 + 0.12 * height), 0.004, 0.008,
                   "lens_amber")
    return y0


HEADLAMP_SHAPES = ("swept", "band", "rect", "round")


def car_headlights(mesh: Mesh, face: WrapFace, prof, rng) -> float:
    """A car's headlamp clusters, wrapping round the nose corners onto the wings as modern ones do: a dark
    housing tucked under the shoulder line, chrome reflector, projector lenses, a daytime-running strip and an
    amber indicator at the outer end. Returns the inner end's arc length (the grille fits between)."""
    p = prof.p
    shape = HEADLAMP_SHAPES[int(rng.choice(4, p=(0.45, 0.2, 0.2, 0.15)))]
    s_face = face.s_at(60.0)
    s0 = s_face * rng.uniform(0.42, 0.58)
    s1 = face.s_at(rng.uniform(62.0, 80.0) if shape != "round" else 50.0)
    gap = rng.uniform(0.008, 0.025)
    height = {"swept": rng.uniform(0.13, 0.19), "band": rng.uniform(0.07, 0.10), "rect": rng.uniform(0.12, 0.17),
              "round": rng.uniform(0.14, 0.18)}[shape]

    def top(s):  # up to the hood's edge: the rays climb the rounded nose, and on the wing meet the shoulder line
        return _soft_min(prof.belt(face.x_at(s)), p.hood_front) - gap

    taper = 0.45 if shape in ("swept", "band") else 0.0

    def bottom(s):
        t = np.clip((np.abs(s) - s0) / (s1 - s0), 0, 1)
        return top(s) - height * (1 - taper * t**1.5)

    face.patch(mesh, s0, s1, bottom, top, 0.004, "metal_dark", nu=16, nv=2)
    span = s1 - s0
    amber = s1 - 0.14 * span
    face.patch(mesh, s0 + 0.03 * span, amber - 0.01, lambda s: bottom(s) + 0.18 * height,
               lambda s: top(s) - 0.12 * height, 0.0065, "reflector", nu=12, nv=1)
    if shape == "round":
        for sc in (s0 + 0.28 * span, s0 + 0.62 * span):
            zc, rad = float(top(sc)) - 0.5 * height, 0.4 * height
            face.prism(mesh, disc(sc, zc, rad, rad), 0.006, 0.010, "lens_clear")
    elif shape != "band":
        for sc in (s0 + 0.2 * span, s0 + 0.42 * span)[:1 + int(rng.random() < 0.6)]:
            zc = float(bottom(sc)) + 0.45 * height
            rad = 0.27 * height
            face.prism(mesh, disc(sc, zc, rad, rad), 0.007, 0.011, "lens_clear")
    face.patch(mesh, amber, s1 - 0.005, lambda s: bottom(s) + 0.12 * height, lambda s: top(s) - 0.1 * height,
               0.0075, "lens_amber", nu=3, nv=1)
    # the daytime-running light: a bright strip along the cluster's top or bottom edge (under round lamps)
    if shape != "round":
        edge = top if rng.random() < 0.5 else (lambda s: bottom(s) + 0.1 * height)
    else:
        edge = lambda s: bottom(s) + 0.03  # noqa: E731
    face.patch(mesh, s0 + 0.02 * span, amber - 0.02, lambda s: edge(s) - 0.022, lambda s: edge(s) - 0.008,
               0.008, "drl", nu=12, nv=1)
    return s0


def car_taillights(mesh: Mesh, face: WrapFace, prof, rng, tall: bool) -> tuple[float, float, Callable]:
    """A car's tail-light clusters wrapping round the tail's corners onto the quarter panels: a dark surround, the
    red lens with an inner light shape, a clear reversing segment, sometimes amber; tall ones stand up the rear
    corners of SUVs, MPVs and vans. Returns (s0, s1, z(s)): the clusters' span in arc length and their
    surround's lower edge, which the tail's panel lines keep clear of."""
    s_face = face.s_at(60.0)
    s1 = face.s_at(rng.uniform(70.0, 86.0))
    s0 = s_face * (rng.uniform(0.6, 0.8) if tall else rng.uniform(0.42, 0.62))
    gap = rng.uniform(0.01, 0.03)
    height = rng.uniform(0.28, 0.40) if tall else rng.uniform(0.12, 0.19)
    # tall clusters reach up to the rear window's base, the others stay under the deck lid's edge
    z_cap = prof.p.deck - 0.05 if tall else prof.cap_rear_z + 0.025

    def top(s):  # under the deck lid's edge, rising with the shoulder line round the corner
        return _soft_min(prof.belt(face.x_at(s)) - gap, z_cap)

    taper = 0.0 if tall else rng.uniform(0.0, 0.5)

    def bottom(s):
        t = np.clip((np.abs(s) - s0) / (s1 - s0), 0, 1)
        return top(s) - height * (1 - taper * t)

    span = s1 - s0
    face.patch(mesh, s0 - 0.012, s1, lambda s: bottom(s) - 0.012, lambda s: top(s) + 0.006, 0.003, "metal_dark",
               nu=14, nv=2)
    face.patch(mesh, s0, s1 - 0.004, bottom, top, 0.005, "taillight", nu=14, nv=4 if tall else 2)
    inner = int(rng.integers(3))
    if inner == 0:  # a bright bar along the top edge
        face.patch(mesh, s0 + 0.05 * span, s1 - 0.03 * span, lambda s: top(s) - 0.3 * height,
                   lambda s: top(s) - 0.12 * height, 0.0075, "lens_red", nu=12, nv=1)
    elif inner == 1:  # a block in the cluster's outer half
        face.patch(mesh, s0 + 0.45 * span, s1 - 0.05 * span, lambda s: bottom(s) + 0.18 * height,
                   lambda s: top(s) - 0.15 * height, 0.0075, "lens_red", nu=8, nv=1)
    else:  # two stacked bars
        for f in (0.2, 0.58):
            face.patch(mesh, s0 + 0.2 * span, s1 - 0.04 * span, lambda s, f=f: bottom(s) + f * (top(s) - bottom(s)),
                       lambda s, f=f: bottom(s) + (f + 0.2) * (top(s) - bottom(s)), 0.0075, "lens_red", nu=10, nv=1)
    if tall:
        face.patch(mesh, s0 + 0.1 * span, s1 - 0.1 * span, lambda s: bottom(s) + 0.05 * height,
                   lambda s: bottom(s) + 0.2 * height, 0.008, "lens_clear", nu=6, nv=1)
    else:
        face.patch(mesh, s0 + 0.03 * span, s0 + 0.25 * span, lambda s: bottom(s) + 0.2 * height,
                   lambda s: top(s) - 0.2 * height, 0.008, "lens_clear", nu=4, nv=1)
    if rng.random() < 0.4:
        face.patch(mesh, s0 + 0.3 * span, s0 + 0.6 * span, lambda s: bottom(s) + 0.04 * height,
                   lambda s: bottom(s) + 0.16 * height, 0.008, "lens_amber", nu=5, nv=1)
    return s0, s1, lambda s: bottom(s) - 0.012  # (the surround's lower edge)


TAILGATE_TYPES = ("hatchback", "estate", "suv", "mpv", "van", "pickup")


def car_rear_panels(mesh: Mesh, face: WrapFace, prof, rng, lamps, plate_z: float, z_valance: float) -> None:
    """What makes a car's tail read as panels rather than one moulding: the bumper's shut line, wrapping from
    under the tail lamps round the corners to the wheel arches; the edges of the tailgate (or the trunk lid) up
    beside the lamps; red reflectors low in the bumper's corners; on many cars a chrome or black garnish strip
    over the plate; the maker's badge. Lines are panel gaps ("seam": the body colour in shade)."""
    p = prof.p
    s0, s1, lamp_bottom = lamps
    z_low = float(np.min(lamp_bottom(np.linspace(s0, s1, 24))))
    z_bumper = max(z_low - rng.uniform(0.02, 0.05), p.tail_bottom + 0.2)
    z_top = prof.cap_rear_z + 0.015  # where the tail turns over into the deck
    # the bumper runs round the corner and along the quarter panel until it meets the rear wheel arch
    zc, radius, _ = prof.arch
    reach = np.sqrt(max(radius**2 - (z_bumper - zc) ** 2, (0.3 * radius) ** 2))
    s_arch = face.s_at_x(prof.x_rear_axle - reach - 0.03)
    face.patch(mesh, -s_arch, s_arch, z_bumper, z_bumper + GAP, 0.0015, "seam", nu=48, nv=1, mirror=False)
    # the lid's or tailgate's sides, beside the lamps' inner ends; a trunk lid ends at the lamps' lower edge
    s_edge = s0 - rng.uniform(0.02, 0.04)
    z_lid = z_bumper
    if p.type_name not in TAILGATE_TYPES and float(lamp_bottom(s0)) - z_bumper > 0.06:
        z_lid = float(lamp_bottom(s0)) + 0.005
        face.patch(mesh, -s_edge, s_edge, z_lid, z_lid + GAP, 0.0015, "seam", nu=24, nv=1, mirror=False)
    face.patch(mesh, s_edge - GAP, s_edge, z_lid, z_top, 0.0015, "seam", nu=1, nv=6)
    # red reflectors in the bumper's corners
    if rng.random() < 0.65:
        sr = face.s_at(rng.uniform(20.0, 40.0))
        zr = p.tail_bottom + rng.uniform(0.14, 0.2)
        if z_valance + 0.02 < zr < z_bumper - 0.06:
            face.patch(mesh, sr - rng.uniform(0.04, 0.07), sr + 0.04, zr, zr + rng.uniform(0.02, 0.035), 0.004,
                       "taillight", nu=3, nv=1)
    # a garnish strip on the lid or tailgate: over the plate, or over the bumper line when the plate is on the
    # bumper
    plate_top = plate_z + PLATE_SIZE[1] / 2 + 0.015
    z_strip = plate_top + 0.012 if plate_top > z_bumper else z_bumper + GAP + 0.012
    strip = ("chrome", "trim", None)[int(rng.choice(3, p=(0.4, 0.25, 0.35)))]
    height = rng.uniform(0.018, 0.035)
    if strip and z_strip + height < z_top - 0.05:
        half = min(rng.uniform(0.25, 0.42), s_edge - 0.04)
        face.patch(mesh, -half, half, z_strip, z_strip + height, 0.004, strip, nu=12, nv=1, mirror=False)
        z_strip += height
    badge(mesh, face, min(max(z_strip, plate_top) + 0.07, z_top - 0.045), rng)


def badge(mesh: Mesh, face: EndFace, z: float, rng, height: float = 0.13) -> None:
    """The maker's badge on an end's centreline: a chrome oval or disc a hand wide, at most `height` tall."""
    ry = rng.uniform(0.04, 0.065)
    rz = min(ry * rng.uniform(0.55, 1.0), height / 2)
    face.prism(mesh, disc(0.0, z, ry, rz, 16), 0.004, 0.011, "chrome", mirror=False)


def _soft_min(a, b, k: float = 0.02):
    """min(a, b) with its corner rounded over about k (metres): lamp edges that follow two lines without a kink."""
    return -k * np.logaddexp(-np.asarray(a) / k, -np.asarray(b) / k)


def lower_intake(mesh: Mesh, face: WrapFace, p, half: float, z0: float, z1: float, pattern: str, rng):
    """The bumper's wide lower air intake (dark, with a grille pattern) and, on most cars, vents or fog-lamp
    pockets in the bumper corners: the dark band that spans a modern car's front below the plate."""
    grille(mesh, face, p, half, z0, z1, pattern, "trim")
    if rng.random() < 0.45:
        c0, c1 = half + rng.uniform(0.06, 0.12), face.s_at(rng.uniform(30.0, 45.0))
        if c1 - c0 > 0.06:
            lo, hi = z0 - 0.01, z1 + rng.uniform(-0.02, 0.03)
            face.patch(mesh, c0, c1, lo, lambda s: hi - 0.3 * (hi - lo) * np.clip((np.abs(s) - c0) / (c1 - c0), 0, 1),
                       0.002, "grille", nu=8, nv=1)
            if rng.random() < 0.5:
                yc, zc = 0.5 * (c0 + c1), lo + 0.45 * (hi - lo)
                rad = min(0.3 * (c1 - c0), 0.35 * (hi - lo))
                face.prism(mesh, disc(yc, zc, rad, rad * 0.85), 0.002, 0.007, "lens_clear")


GRILLES = ("bars", "mesh", "honeycomb")
GRILLE_SHAPES = ("band", "shield", "slot")  # a car's upper grille: see car_grille


def car_grille(mesh: Mesh, face: EndFace, p, half: float, z_top: float, g_bot: float, intake_top: float,
               pattern: str, surround: str, rng) -> float:
    """A car's upper grille between its head lamps (top z_top), in one of the shapes real fronts come in
    (GRILLE_SHAPES, drawn from `rng`): a band down to g_bot; a shield (single-frame) whose bottom edge drops in a
    trapezoid from g_bot at its sides towards the bumper intake; or a thin slot over a plain bumper. Returns the
    grille's bottom at its sides."""
    shape = GRILLE_SHAPES[int(rng.choice(3, p=(0.45, 0.3, 0.25)))]
    if shape == "slot":
        g_bot = z_top - rng.uniform(0.045, 0.065)
        pattern = "bars"
    if shape == "shield":
        low = max(intake_top + 0.05, g_bot - rng.uniform(0.1, 0.2))
        inner = half * rng.uniform(0.55, 0.75)
        bottom = lambda y: np.interp(np.abs(y), [0.0, inner, half], [low, low, g_bot])  # noqa: E731
        grille(mesh, face, p, half, bottom, z_top - 0.01, pattern, surround)
    else:
        grille(mesh, face, p, half, g_bot, z_top - 0.01, pattern, surround)
    return g_bot


def grille(mesh: Mesh, face: EndFace, p, half: float, z0, z1: float, pattern: str, surround: str):
    """A grille opening from -half to half, from its bottom z0 (a height, or a function of y for a shaped
    grille) to z1: dark base, the pattern as instanced bars or cells, a surround frame."""
    bottom = as_function(z0)
    face.patch(mesh, -half, half, bottom, z1, 0.002, "grille", nu=8 if not callable(z0) else 16, nv=2, mirror=False)
    t = 0.012
    face.prism(mesh, rect(-half - t, half + t, z1, z1 + t), 0.0, 0.008, surround, mirror=False)
    if callable(z0):
        face.patch(mesh, -half - t, half + t, lambda y: bottom(y) - t, bottom, 0.008, surround, nu=16, nv=1,
                   mirror=False)
    else:
        face.prism(mesh, rect(-half - t, half + t, z0 - t, z0), 0.0, 0.008, surround, mirror=False)
    face.prism(mesh, rect(half, half + t, float(bottom(half)), z1), 0.0, 0.008, surround)
    ys = np.linspace(0.0, half, 64)
    lowest = float(np.min(bottom(ys)))
    height = z1 - lowest

    def reach(z, margin=0.006):  # half width of the opening at height z (a shaped grille narrows to its bottom)
        inside = ys[bottom(ys) <= z - margin]
        return float(inside.max()) if len(inside) else 0.0

    if pattern == "bars":
        n = max(2, int(height / 0.035))
        for i in range(n):
            zc = lowest + (i + 0.5) * height / n
            w = reach(zc)
            if w > 0.02:
                face.prism(mesh, rect(-w, w, zc - 0.006, zc + 0.006), 0.002, 0.007, surround, mirror=False)
    else:
        cell = 0.03 if pattern == "mesh" else 0.034
        rows = max(1, int(height / cell))
        for i in range(rows):
            zc = lowest + (i + 0.5) * height / rows
            shift = 0.5 * cell if i % 2 else 0.0
            w = reach(zc - 0.38 * height / rows, 0.0)  # the cell's bottom inside the opening
            ys_cells = np.arange(-half + cell * 0.6 + shift, half - cell * 0.5, cell)
            for yc in ys_cells[np.abs(ys_cells) <= w - 0.5 * cell]:
                if pattern == "mesh":
                    cell_outline = disc(yc, zc, cell * 0.38, height / rows * 0.36, 4)
                else:
                    cell_outline = hexagon(yc, zc, cell * 0.4)
                face.prism(mesh, cell_outline, 0.002, 0.006, "metal_dark", mirror=False)


def plate(face: EndFace, z: float, width=PLATE_SIZE[0], height=PLATE_SIZE[1]) -> Part:
    """A number plate: a thin box along x whose bounding box is the plate (textured by its Generated coords)."""
    pts = face.points(np.array([[0.0, z], [width / 2, z], [-width / 2, z]]), 0.0)
    x = pts[:, 0].max() if face.sign > 0 else pts[:, 0].min()
    mesh = Mesh()
    mesh.box((x + face.sign * 0.007, 0.0, z), (0.01, width, height), "plate")
    return mesh.part()


def plate_frame(mesh: Mesh, face: EndFace, z: float, width=PLATE_SIZE[0], height=PLATE_SIZE[1]):
    pts = face.points(np.array([[0.0, z], [width / 2, z], [-width / 2, z]]), 0.0)
    x = pts[:, 0].max() if face.sign > 0 else pts[:, 0].min()
    mesh.box((x + face.sign * 0.002, 0.0, z), (0.006, width + 0.03, height + 0.03), "trim")
