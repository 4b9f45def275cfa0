"""Buses: their fronts' and rears' signs and engine door, the doors, window-row signs, luggage bays and rub strips
of the flanks (city bus, coach, school bus), the roof (air conditioning, fairing, hatches), the cabin seen through
the windows (seats, riders, poles, lining) and the mirrors hung from the roof. Discrete choices come from the
model's style seed (own streams). Pure numpy.
"""
from __future__ import annotations

import numpy as np

from synth.vehicles.ends import grille
from synth.vehicles.params import style_of, style_rng
from synth.vehicles.parts import EndFace, Mesh, occupant, rect, rot_y, seat, side_y


def led_glyphs(length: float, height: float, rng) -> list[tuple[float, float]]:
    """(start, end) of each glyph of an LED sign's text along `length`: the route number, then the destination's
    words (square glyphs, as Chinese characters are), centred."""
    glyph, gap = 0.8 * height, 0.2 * height
    words = [int(rng.integers(2, 4))] + [int(rng.integers(2, 5)) for _ in range(3)]
    runs, at = [], 0.0
    for i, n in enumerate(words):
        if at + n * (glyph + gap) > length:
            break
        runs += [(at + j * (glyph + gap), at + j * (glyph + gap) + glyph) for j in range(n)]
        at += n * (glyph + gap) + (1.5 if i == 0 else 0.8) * glyph
    shift = 0.5 * (length - runs[-1][1]) if runs else 0.0
    return [(a + shift, b + shift) for a, b in runs]


def _led_sign(mesh: Mesh, face: EndFace, y0, y1, z0, z1, rng):
    """An LED destination sign on an end: a black panel whose text glows amber (material "led")."""
    face.prism(mesh, rect(y0, y1, z0, z1), 0.002, 0.006, "trim", mirror=False)
    margin = 0.25 * (z1 - z0)
    for a, b in led_glyphs(y1 - y0 - 2 * margin, z1 - z0 - 2 * margin, rng):
        face.prism(mesh, rect(y0 + margin + a, y0 + margin + b, z0 + margin, z1 - margin), 0.006, 0.008, "led",
                   mirror=False)


def front_signs(mesh: Mesh, front: EndFace, p, hwf: float):
    """The destination sign over the windshield and, on most city and school buses, the pillar that splits it."""
    rng = style_rng(p, 23)
    z = p.roof_z - 0.12
    _led_sign(mesh, front, -hwf * 0.75, hwf * 0.75, z - 0.16, z + 0.06, rng)
    if style_of(p) != "coach" and rng.random() < 0.7:
        front.prism(mesh, rect(-0.03, 0.03, p.cowl + 0.04, z - 0.16), 0.0, 0.012, "trim", mirror=False)


def rear_details(mesh: Mesh, rear: EndFace, p, hwe: float):
    """A bus's rear: the route number lit at the top of the rear window, and (city buses and coaches) the engine
    door with its vents, outlined by its panel gap."""
    rng = style_rng(p, 24)
    z = p.roof_z - 0.14
    half = hwe * rng.uniform(0.25, 0.4)
    _led_sign(mesh, rear, -half, half, z - 0.2, z, rng)
    if style_of(p) == "school":
        return
    z0, z1 = p.tail_bottom + 0.2, min(p.deck - 0.12, p.tail_bottom + rng.uniform(0.8, 1.1))
    door = hwe * rng.uniform(0.62, 0.72)
    for outline in (rect(-door, door, z1 - 0.012, z1), rect(-door, door, z0, z0 + 0.012)):
        rear.prism(mesh, outline, 0.0, 0.002, "seam", mirror=False)
    rear.prism(mesh, rect(door - 0.012, door, z0, z1), 0.0, 0.002, "seam")
    grille(mesh, rear, p, door * 0.8, z0 + 0.1, z0 + 0.1 + 0.45 * (z1 - z0), "bars", "trim")


def body(mesh: Mesh, caster, prof):
    p, k = prof.p, prof.keyx
    style = style_of(p)
    _, radius, _ = prof.arch
    x_front_door = (k["fa"] + radius + 0.1, min(k["fa"] + radius + 1.2, prof.x_front - 0.35))
    doors = [x_front_door]
    if style == "city":
        mid = 0.5 * (k["fa"] + k["ra"])
        doors.append((mid - 0.6, mid + 0.6))
    z_top = p.cowl + p.belt_rise + 0.9
    for a, b in doors:  # doors on the kerb side (right, -y): glass leaves in a dark frame
        if b - a < 0.5:
            continue
        y = side_y(caster, 0.5 * (a + b), p.cowl, -1.0) + 0.006
        mesh.box((0.5 * (a + b), -y, 0.5 * (p.sill + 0.05 + z_top)), (b - a, 0.01, z_top - p.sill - 0.05), "trim")
        for lo, hi in ((a + 0.04, 0.5 * (a + b) - 0.02), (0.5 * (a + b) + 0.02, b - 0.04)):
            mesh.box((0.5 * (lo + hi), -y - 0.006, 0.5 * (p.sill + 0.35 + z_top - 0.05)),
                     (hi - lo, 0.008, z_top - p.sill - 0.4), "glass")
    # the route sign in the window behind the front door, read by passengers at the stop
    x1 = x_front_door[0] - 0.15
    z1 = z_top - 0.04
    y = side_y(caster, x1 - 0.5, z1 - 0.1, -1.0) - 0.02
    if y > 0.5:  # (the ray met the body)
        mesh.box((x1 - 0.5, -y, z1 - 0.1), (1.0, 0.012, 0.2), "trim")
        for a, b in led_glyphs(0.9, 0.12, style_rng(p, 25)):
            mesh.box((x1 - 0.05 - 0.5 * (a + b), -y - 0.008, z1 - 0.1), (b - a, 0.006, 0.12), "led")
    if style == "coach":  # luggage bays between the axles, both sides
        xs = np.linspace(k["ra"] + radius + 0.2, k["fa"] - radius - 0.2, 4)
        for s in (1, -1):
            y = side_y(caster, 0.5 * (xs[0] + xs[-1]), p.sill + 0.4, s) + 0.004
            for a, b in zip(xs[:-1], xs[1:]):
                for z in (p.sill + 0.08, p.cowl - 0.05):
                    mesh.box((0.5 * (a + b), s * y, z), (b - a - 0.05, 0.006, 0.012), "trim")
                for x in (a + 0.03, b - 0.03):
                    mesh.box((x, s * y, 0.5 * (p.sill + p.cowl)), (0.012, 0.006, p.cowl - p.sill - 0.13), "trim")
                mesh.box((0.5 * (a + b), s * (y + 0.004), p.cowl - 0.2), (0.12, 0.01, 0.025), "steel")
    if style == "school":  # black rub stripes along both sides
        for s in (1, -1):
            for z in (p.sill + 0.25, p.cowl - 0.1, p.cowl + p.belt_rise + 0.05):
                y = side_y(caster, 0.0, z, s) + 0.003
                mesh.box((0.5 * (prof.x_front + prof.x_end) - 0.1, s * y, z), (prof.length - 1.2, 0.006, 0.05),
                         "trim")
    _roof(mesh, caster, prof)


ROOF_FAIRING_PROB = 0.35  # city buses with a long roof fairing over gas cylinders or batteries (own stream)


def _roof(mesh: Mesh, caster, prof):
    """What a raised camera sees of a bus's roof, its largest face from there: a city bus's air conditioning unit
    or, on about a third, a long fairing from behind the windshield over its gas cylinders or batteries and the
    unit; a coach's low unit over the middle; on every bus two escape hatches (a painted lid in a black
    seal), moved back behind whatever stands where they would be. All along the centreline, inside the roof's
    edges and their keypoints."""
    p, k = prof.p, prof.keyx
    style, rng = style_of(p), style_rng(p, 38)
    z_roof = p.roof_z + p.roof_crown  # the crown's top on the centreline
    taken = []  # (x0, x1) spans of the roof's centre that carry something
    if style == "city" and rng.random() < ROOF_FAIRING_PROB:
        x1 = prof.x_front - 0.8
        x0 = x1 - rng.uniform(4.0, 5.5)
        mesh.blob((0.5 * (x0 + x1), 0.0, z_roof + 0.16), (x1 - x0, 1.8, 0.4), "paint", exponent=8)
        taken.append((x0, x1))
    elif style == "city":
        x_ac = k["fa"] - 1.5
        mesh.blob((x_ac, 0.0, z_roof + 0.12), (2.2, 1.5, 0.3), "paint", exponent=6)
        taken.append((x_ac - 1.1, x_ac + 1.1))
    elif style == "coach":
        x_ac = 0.5 * (k["fa"] + k["ra"]) - 0.5
        mesh.blob((x_ac, 0.0, z_roof + 0.08), (2.0, 1.4, 0.22), "paint", exponent=6)
        taken.append((x_ac - 1.0, x_ac + 1.0))
    for x in (prof.x_front - 0.3 * prof.length, prof.x_end + 0.22 * prof.length):
        while blocked := [x0 for x0, x1 in taken if x0 - 0.7 < x < x1 + 0.7]:
            x = min(blocked) - 0.7
        if x < prof.x_end + 0.6:
            continue
        taken.append((x - 0.38, x + 0.38))
        hit, _, ok = caster.cast([(x, 0.0, p.roof_z + 1.0)], [(0.0, 0.0, -1.0)])
        z = float(hit[0, 2]) if ok[0] else z_roof
        mesh.box((x, 0.0, z + 0.01), (0.76, 0.76, 0.04), "trim")
        mesh.box((x, 0.0, z + 0.025), (0.66, 0.66, 0.04), "paint")


RIDER_SHARE = (0.15, 0.6)  # of a bus's seats taken by riders (a share per model, own stream)


def bus_seats(mesh: Mesh, prof, x0: float, x1: float, hwi: float):
    """Rows of seats along the windows, riders in some of them, the driver's dashboard, wheel and the driver, and
    the light ceiling and yellow grab poles that a bus shows through its windows (the shell's inside had read as
    one dark band behind them; an empty bus in traffic is a tell, as an empty car is)."""
    p, k = prof.p, prof.keyx
    z_floor = p.sill + 0.05
    mesh.box((k["15"] - 0.3, 0.0, p.cowl - 0.1), (0.5, 2 * hwi, 0.3), "dashboard")
    # the driver, left front on a raised seat, behind a wheel that lies nearly flat
    x_d, y_d, z_d = k["15"] - 0.85, hwi - 0.45, p.cowl - 0.65
    hub = np.array([x_d + 0.40, y_d, p.cowl + 0.02])
    ring = [hub + rot_y(-np.radians(30)) @ np.array([0.0, 0.24 * np.cos(t), 0.24 * np.sin(t)])
            for t in np.linspace(0, 2 * np.pi, 13)]
    mesh.tube(ring, 0.018, "dashboard")
    seat(mesh, x_d, y_d, z_d, p.cowl, 0.5, z_roof=p.roof_z)
    occupant(mesh, x_d, y_d, z_d, p.roof_z, reach=hub)
    belt = p.cowl + p.belt_rise
    xs = np.arange(k["15"] - 1.6, max(x0, k["end"] + 0.8), -0.8)
    riders = style_rng(p, 39)
    share = riders.uniform(*RIDER_SHARE)
    z_seat = z_floor + max(belt - 1.0, 0.0)
    for x in xs:
        for s in (1, -1):
            seat(mesh, x, s * (hwi - 0.35), z_seat, belt - 0.15, 0.42, kind="bus_seat")
            if riders.random() < share:
                occupant(mesh, x, s * (hwi - 0.35), z_seat, p.roof_z)
    # the ceiling's light panels, where the roof is at its full height (it rounds down at the ends; below the
    # windows the opaque block stands: lower_cabin)
    xs_roof = np.linspace(k["end"], k["15"], 200)
    xs_roof = xs_roof[prof.top(xs_roof) >= p.roof_z - 0.03]
    x_rear, x_front = float(xs_roof.min()) + 0.05, float(xs_roof.max()) - 0.05
    z_ceiling = p.roof_z - 0.10
    mesh.box((0.5 * (x_front + x_rear), 0.0, z_ceiling), (x_front - x_rear, 2 * hwi, 0.03), "cabin_lining")
    z_block = min(p.cowl, p.deck) + 0.05
    for s in (1, -1):
        # grab poles by the aisle every 2.4 m, a rail under the ceiling along them
        y = s * (hwi - 0.65)
        for x in np.arange(x_front - 1.2, x_rear + 0.5, -2.4):
            mesh.tube([(x, y, z_block), (x, y, z_ceiling)], 0.02, "cabin_pole")
        mesh.tube([(x_front - 0.5, y, z_ceiling - 0.22), (x_rear + 0.3, y, z_ceiling - 0.22)], 0.015, "cabin_pole")


RABBIT_EAR_PROB = {"city": 0.7, "coach": 0.9}  # buses whose mirrors hang forward from the roof (own stream)


def has_rabbit_ears(p) -> bool:
    """Whether a bus's mirrors hang forward from its roof's front corners (most city buses and coaches)."""
    return p.type_name == "bus" and style_rng(p, 36).random() < RABBIT_EAR_PROB.get(style_of(p), 0.0)


def rabbit_ear_mirrors(mesh: Mesh, caster, prof):
    """A bus's mirrors on arms that leave the body's sides under the roof's front corners, reach forward and
    drop, so that the heads hang in front of the windshield's outer edges, just outside the body (the driver
    sees them through the glass): the two ears a city bus or coach shows in every frontal view."""
    p = prof.p
    x_root, z_root = prof.x_front - 0.3, p.roof_z - 0.35
    ys = side_y(caster, x_root, z_root) or p.width / 2
    xf, yh = prof.x_front, prof.body_half_width + 0.13  # the heads' inner edge 2 cm outside the widest body
    for s in (1.0, -1.0):
        arm = [(x_root, ys - 0.02, z_root), (xf - 0.1, ys + 0.07, z_root + 0.04), (xf + 0.28, yh, z_root),
               (xf + 0.38, yh, z_root - 0.22)]
        mesh.tube([(x, s * y, z) for x, y, z in arm], 0.018, "metal_dark")
        centre = (xf + 0.39, s * yh, z_root - 0.44)
        mesh.blob(centre, (0.08, 0.22, 0.42), "trim", exponent=6)
        mesh.box((centre[0] - 0.042, centre[1], centre[2]), (0.004, 0.18, 0.36), "chrome")
