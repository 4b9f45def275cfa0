"""Heavy vehicles: the cargo bodies of trucks (box van, dump body with its load, stake body, tanker) and the doors,
window rows, signs and luggage bays of buses (city bus, coach, school bus).

A truck's or bus's style is `VehicleParams.body_style` (TRUCK_STYLES / BUS_STYLES; "" picks one from the
style seed, as models built before the styles existed). The loft (geometry.Profile) makes the outer envelope
with the keypoints on it (the box's rear corners); this module adds what stands on it. Pure numpy.
"""
from __future__ import annotations

import numpy as np

from synth.vehicles.params import BUS_STYLES, TRUCK_STYLES, cargo_top, style_of, style_rng  # noqa: F401 (heavy.style_of)
from synth.vehicles.ends import PLATE_SIZE, grille, headlights, taillights
from synth.vehicles.geometry import GAP, keypoints
from synth.vehicles.parts import EndFace, Mesh, disc, occupant, rect, rot_y, seat, side_strip


def ends(mesh: Mesh, front: EndFace, rear: EndFace, prof, hwf: float, hwe: float) -> tuple[float, float]:
    """Lamps, grille and bumpers of a bus or truck front and rear; returns the plates' heights."""
    p = prof.p
    z_lamp = p.hood_front - 0.03 if p.type_name == "truck" else p.hood_front - 0.02
    y_lamp = headlights(mesh, front, p, hwf, z_lamp)
    if p.type_name == "truck":
        grille(mesh, front, p, y_lamp - 0.08, p.hood_front - 0.42, p.hood_front - 0.05, "bars", "chrome")
        plate_front = p.nose_bottom + 0.14
        _truck_bumper(mesh, front, p, hwf, plate_front)
    else:
        grille(mesh, front, p, hwf * 0.45, p.nose_bottom + 0.12, p.nose_bottom + 0.30, "bars", "trim")
        plate_front = p.nose_bottom + 0.40
        _bus_front(mesh, front, p, hwf)
    taillights(mesh, rear, p, hwe, p.tail_upper - 0.05)
    rear.patch(mesh, -hwe * 0.95, hwe * 0.95, p.tail_bottom + 0.03, p.tail_bottom + 0.15, 0.006, "metal_dark",
               nu=10, nv=1, mirror=False)
    if p.type_name == "bus":
        _bus_rear(mesh, rear, p, hwe)
    return plate_front, p.tail_bottom + (0.25 if p.type_name == "truck" else 0.22)


BUMPER_DEPTH = 0.04  # how far a truck's bumper stands out of the cab's face (metres)
BUMPER_FINISHES = (("trim", 0.45), ("metal_dark", 0.3), ("steel", 0.25))  # black plastic, dark grey, bright steel


def _truck_bumper(mesh: Mesh, front: EndFace, p, hwf: float, plate_z: float):
    """A truck's bumper: a bar standing BUMPER_DEPTH out of the face across its width (a lit top edge, a shadow
    under it), the plate in a recess in its middle, a fog lamp near each end; black plastic, dark grey or bright
    steel (own stream). It stops short of the face's corners, so the lower corner keypoints stay on show."""
    rng = style_rng(p, 37)
    finish = BUMPER_FINISHES[int(rng.choice(len(BUMPER_FINISHES), p=[w for _, w in BUMPER_FINISHES]))][0]
    z0, z1 = p.nose_bottom + 0.02, p.nose_bottom + rng.uniform(0.26, 0.32)
    recess = 0.5 * PLATE_SIZE[0] + 0.06
    y_end = hwf * 0.97
    front.prism(mesh, rect(recess, y_end, z0, z1), 0.0, BUMPER_DEPTH, finish)
    # under the plate, a lip joins the halves (the plate stands in the recess above it)
    front.prism(mesh, rect(-recess, recess, z0, plate_z - 0.5 * PLATE_SIZE[1] - 0.02), 0.0, BUMPER_DEPTH, finish,
                mirror=False)
    yc, zc = 0.5 * (recess + y_end) + 0.25 * (y_end - recess), 0.5 * (z0 + z1)
    rad = min(0.045, 0.3 * (z1 - z0))
    front.prism(mesh, disc(yc, zc, rad * 1.25, rad * 1.25), BUMPER_DEPTH, BUMPER_DEPTH + 0.004, "metal_dark")
    front.prism(mesh, disc(yc, zc, rad, rad), BUMPER_DEPTH, BUMPER_DEPTH + 0.008, "lens_clear")


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


def _bus_front(mesh: Mesh, front: EndFace, p, hwf: float):
    """The destination sign over the windshield and, on most city and school buses, the pillar that splits it."""
    rng = style_rng(p, 23)
    z = p.roof_z - 0.12
    _led_sign(mesh, front, -hwf * 0.75, hwf * 0.75, z - 0.16, z + 0.06, rng)
    if style_of(p) != "coach" and rng.random() < 0.7:
        front.prism(mesh, rect(-0.03, 0.03, p.cowl + 0.04, z - 0.16), 0.0, 0.012, "trim", mirror=False)


def _bus_rear(mesh: Mesh, rear: EndFace, p, hwe: float):
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


def _side_y(caster, x, z, sign=1.0) -> float:
    hit, _, ok = caster.cast([(x, sign * 2.0, z)], [(0.0, -sign, 0.0)])
    return abs(float(hit[0, 1])) if ok[0] else 0.0


def body_details(mesh: Mesh, caster, prof):
    if prof.p.type_name == "truck":
        _truck_body(mesh, caster, prof)
    else:
        _bus_body(mesh, caster, prof)


def _truck_body(mesh: Mesh, caster, prof):
    p, k = prof.p, prof.keyx
    style = style_of(p)
    rng = style_rng(p, 21)
    x0, x1 = prof.x_end, k["box_front"]
    top = prof.box_top
    hw = float(prof.half_width(0.5 * (x0 + x1)))
    xs = np.linspace(x0 + 0.25, x1 - 0.15, max(3, int((x1 - x0) / 0.9)))
    # underride guard and the chassis rails under the body
    mesh.box((x0 + 0.12, 0.0, p.tail_bottom - 0.06), (0.08, 2 * hw - 0.2, 0.1), "metal_dark")
    _cab_doors(mesh, caster, prof)
    _conspicuity_tape(mesh, prof, x0, x1, hw, top, style)
    _rear_number(mesh, prof, x0, top, style)
    for s in (1, -1):
        mesh.box((0.5 * (x0 + k["fa"]), s * hw * 0.5, p.box_floor - 0.22), (k["fa"] - x0, 0.12, 0.2), "metal_dark")
    # side under-run guards between the wheels: two bright rails on brackets, out of the chassis' shadow
    _, radius, _ = prof.arch
    g0, g1 = k["ra"] + radius + 0.12, min(k["fa"] - radius - 0.12, k["cab_back"] - 0.05)
    if g1 - g0 > 0.6:
        for s in (1, -1):
            y = s * (_side_y(caster, 0.5 * (g0 + g1), p.sill + 0.2, s) + 0.03)
            for z in (p.sill + 0.08, p.sill + 0.3):
                mesh.box((0.5 * (g0 + g1), y, z), (g1 - g0, 0.03, 0.07), "steel")
            for x in np.linspace(g0 + 0.05, g1 - 0.05, 3):
                mesh.box((x, y - s * 0.03, p.sill + 0.19), (0.05, 0.06, 0.3), "metal_dark")
    if style == "box_van":
        _box_side_frame(mesh, prof, x0, x1, hw, top, rng)
        if style_rng(p, 34).random() < DEFLECTOR_PROB:
            _roof_deflector(mesh, caster, prof)
        mesh.box((x0 - 0.004, 0.0, 0.5 * (p.box_floor + top)), (0.01, 0.012, top - p.box_floor - 0.1), "trim")
        for s in (1, -1):
            for f in (0.2, 0.5, 0.8):  # door hinges and the locking bars
                mesh.box((x0 - 0.006, s * (hw - 0.08), p.box_floor + f * (top - p.box_floor)), (0.02, 0.08, 0.04),
                         "steel")
            mesh.tube([(x0 - 0.02, s * hw * 0.3, p.box_floor + 0.1), (x0 - 0.02, s * hw * 0.3, top - 0.1)], 0.012,
                      "steel")
        return
    if style == "tanker":
        _tank(mesh, prof, x0, x1, hw, top, rng)
        return
    # dump and stake bodies: side ribs / stakes
    for x in xs:
        for s in (1, -1):
            if style == "dump":
                mesh.box((x, s * (hw + 0.012), 0.5 * (p.box_floor + top)), (0.07, 0.024, top - p.box_floor),
                         "metal_dark")
            else:
                mesh.tube([(x, s * (hw - 0.03), p.box_floor), (x, s * (hw - 0.03), top + 0.45)], 0.025, "steel")
    if style == "dump":
        mesh.box((x1 - 0.06, 0.0, top + 0.2), (0.12, 2 * hw - 0.1, 0.4), "paint")  # headboard / cab guard
        _heap(mesh, x0 + 0.08, x1 - 0.14, hw - 0.06, top, rng.uniform(0.15, 0.45))
    else:
        mesh.box((0.5 * (x0 + x1), 0.0, top + 0.004), (x1 - x0 - 0.1, 2 * hw - 0.12, 0.008), "metal_dark")
        for s in (1, -1):
            mesh.tube([(x0 + 0.2, s * (hw - 0.03), top + 0.40), (x1 - 0.15, s * (hw - 0.03), top + 0.40)], 0.02,
                      "steel")
        mesh.box((x1 - 0.05, 0.0, top + 0.3), (0.06, 2 * hw - 0.1, 0.6), "steel")
        if rng.random() < 0.5:  # a tarpaulin-covered load
            mesh.blob((0.5 * (x0 + x1), 0.0, top + 0.25), (0.8 * (x1 - x0), 2 * hw - 0.3, 0.6), "trim",
                      exponent=5)


def _cab_doors(mesh: Mesh, caster, prof):
    """A truck cab's doors: the panel gap round each (up the pillar behind the side window, along the bottom
    over the front wheel's arch, up to the belt at the front) and a handle recess under the window's rear
    corner. A cab with one smooth flank read as a cube with a window cut in it."""
    p, k = prof.p, prof.keyx
    zc, radius, _ = prof.arch
    x_rear, x_front = k["cab_back"] + 0.06, k["15"] - 0.09
    z_bottom = max(zc + radius + 0.06, p.sill + 0.12)
    z_top = p.roof_z - 0.10
    if x_front - x_rear < 0.6 or p.cowl - z_bottom < 0.12:
        return
    half = GAP / 2
    side_strip(mesh, caster, x_rear - half, x_rear + half, z_bottom, z_top, 0.002, "seam")
    side_strip(mesh, caster, x_front - half, x_front + half, z_bottom, p.cowl, 0.002, "seam")
    side_strip(mesh, caster, x_rear, x_front, z_bottom - half, z_bottom + half, 0.002, "seam")
    side_strip(mesh, caster, x_rear + 0.08, x_rear + 0.26, p.cowl - 0.11, p.cowl - 0.07, 0.004, "trim")


DEFLECTOR_PROB = 0.5  # box vans with a roof air deflector (own stream: the other choices stay as they were)


def _roof_deflector(mesh: Mesh, caster, prof):
    """A box van's roof air deflector: a painted fairing on the cab roof that rises, steep at first and level
    at the end, from behind the windshield's top to just under the box's top, its sides leaning in. Common on
    light box trucks; without it a box van's cab is a step below a blank wall. Clear of the windshield's top
    corners (14, 32), 12 cm ahead of it."""
    p, k = prof.p, prof.keyx
    x_front, x_rear = k["14"] - 0.12, k["cab_back"] + 0.02
    height = prof.box_top - 0.04 - p.roof_z
    if height < 0.15 or x_front - x_rear < 0.5:
        return
    w_base = float(keypoints(p)[14, 1]) - 0.05  # on the roof, inside its edge (the cab's glass leans in)
    w_top = w_base - 0.12
    ts = np.linspace(0.0, 1.0, 17)  # (its stations show as bands on the glossy top at fewer)
    xs = x_front + (x_rear - x_front) * ts
    hit, _, ok = caster.cast([(x, w_base, p.roof_z + 1.0) for x in xs], [(0.0, 0.0, -1.0)] * len(xs))
    if not ok.all() or np.abs(hit[:, 2] - p.roof_z).max() > 0.1:
        return  # not a roof under it
    base = list(hit[:, 2] - 0.01)  # (sunk a centimetre into the roof, crowned or not)
    top = [b + 0.01 + height * np.sin(0.5 * np.pi * t) for b, t in zip(base, ts)]
    verts = []
    for x, zb, zt, t in zip(xs, base, top, ts):
        w = w_base + (w_top - w_base) * min(1.0, 3.0 * t)  # the sides lean in as it rises
        verts += [(x, w_base, zb), (x, w, zt), (x, -w, zt), (x, -w_base, zb)]
    faces = []
    for i in range(len(xs) - 1):
        a, b = 4 * i, 4 * (i + 1)
        faces += [(a, b, b + 1, a + 1), (a + 1, b + 1, b + 2, a + 2), (a + 2, b + 2, b + 3, a + 3)]
    n = 4 * (len(xs) - 1)
    faces.append((n, n + 3, n + 2, n + 1))  # its back, facing the box
    mesh.add(verts, faces, "paint")


BOX_FRAME = 0.05  # width of a box van's aluminium posts and rails (metres)


def _box_side_frame(mesh: Mesh, prof, x0, x1, hw, top, rng):
    """A box van's sides as real ones are built: panels between aluminium posts (a metre apart), or a ribbed
    skin (hat-section ribs 0.3-0.4 m apart), with a rail along the top and the floor. The rails and posts keep
    clear of the rear corner posts' keypoints and the conspicuity tape. A smooth slab read as a toy box."""
    p = prof.p
    lift = 0.006  # as far out as the tape: a prouder frame moved the importer's outer skin (the rear corner by 5 cm)
    ribbed = rng.random() < 0.4
    pitch = rng.uniform(0.3, 0.4) if ribbed else rng.uniform(0.9, 1.2)
    width = 0.03 if ribbed else BOX_FRAME
    a, b = x0 + 0.14, x1 - 0.08
    n = max(int(round((b - a) / pitch)), 1)
    z0, z1 = p.box_floor + 0.17, top - 0.08  # above the tape, below the top rail
    for s in (1, -1):
        y = s * (hw + lift / 2)
        for x in np.linspace(a, b, n + 1)[(1 if ribbed else 0):(n if ribbed else n + 1)]:
            mesh.box((x, y, 0.5 * (z0 + z1)), (width, lift, z1 - z0), "steel")
        mesh.box((0.5 * (a + b), y, top - 0.05), (b - a, lift, 0.07), "steel")
        mesh.box((0.5 * (a + b), y, p.box_floor + 0.03), (b - a, lift, 0.06), "steel")


TAPE_SEGMENT = 0.25  # metres of one red or white stretch of conspicuity tape
TAPE_WIDTH = 0.06


def _tape(mesh: Mesh, start, end, out):
    """Red and white retroreflective tape from `start` to `end` (a line along one axis), standing 5 mm out along
    the axis unit vector `out`, in alternating TAPE_SEGMENT stretches."""
    start, end, out = (np.asarray(v, float) for v in (start, end, out))
    along = end - start
    length = float(np.abs(along).max())
    if length < TAPE_SEGMENT:
        return
    n = int(round(length / TAPE_SEGMENT))
    size = np.full(3, TAPE_WIDTH)
    size[int(np.abs(along).argmax())] = length / n
    size[int(np.abs(out).argmax())] = 0.006
    for i in range(n):
        mesh.box(start + along * (i + 0.5) / n + out * 0.003, size, ("tape_red", "tape_white")[i % 2])


def _conspicuity_tape(mesh: Mesh, prof, x0, x1, hw, top, style):
    """The red and white reflective tape that Chinese (GB 7258) and European (ECE R48) rules require on trucks,
    and that every truck in a traffic camera's view shows: along the cargo body's lower side edges, across its
    rear and the underride guard, and round a box van's rear frame. Clear of the box's edges and corners, where
    the keypoints are, and of the tail lamps (outboard of 0.78 of the rear face's half width, `taillights`)."""
    p = prof.p
    back = (-1.0, 0.0, 0.0)
    guard = x0 + 0.08  # the underride guard's rear face
    _tape(mesh, (guard, -(hw - 0.14), p.tail_bottom - 0.06), (guard, hw - 0.14, p.tail_bottom - 0.06), back)
    z_low = p.box_floor + (0.06 if style != "tanker" else 0.5 * (top - p.box_floor))
    y_low = 0.74 * prof.face_half_width(False)
    _tape(mesh, (x0, -y_low, z_low), (x0, y_low, z_low), back)
    if style == "box_van":
        y, z_top = hw - 0.07, top - 0.07
        _tape(mesh, (x0, -(y - 0.1), z_top), (x0, y - 0.1, z_top), back)
        for s in (1, -1):
            _tape(mesh, (x0, s * y, p.box_floor + 0.2), (x0, s * y, z_top - 0.08), back)
    for s in (1, -1):
        z = p.box_floor + 0.12 if style != "tanker" else z_low
        _tape(mesh, (x0 + 0.12, s * hw, z), (x1 - 0.12, s * hw, z), (0.0, s, 0.0))


def _rear_number(mesh: Mesh, prof, x0, top, style):
    """The plate number painted 2-2.5 times enlarged across the cargo body's rear, as Chinese rules (GB 7258)
    have it on trucks: one quad of kind `rear_number`, which the renderer paints with the identity's plate
    texture (synth/blender/vehicle_materials.py). Over the rear tape's bottom row, inside its side rows and the
    tail lamps; not on a tanker (its subframe is too low: the barrel's dished end stands over it)."""
    if style == "tanker":
        return
    p = prof.p
    z0 = p.box_floor + (0.25 if style == "box_van" else 0.1)  # above the tape along the floor
    height = min(PLATE_SIZE[1] * 2.5, top - z0 - 0.1)  # (a stake body's sides are 0.5-0.7 m)
    width = height * PLATE_SIZE[0] / PLATE_SIZE[1]
    x = x0 - 0.003
    mesh.add([(x, width / 2, z0), (x, -width / 2, z0), (x, -width / 2, z0 + height), (x, width / 2, z0 + height)],
             [(0, 1, 2, 3)], "rear_number")


def _tank(mesh: Mesh, prof, x0, x1, hw, top, rng):
    """A tanker's barrel on the subframe: an elliptic cylinder with dished ends and girth bands, a walkway with
    hand rails and manhole lids on top, a ladder at the rear and a valve cabinet under the barrel."""
    p = prof.p
    ry = hw * rng.uniform(0.9, 0.98)
    rz = min(ry * rng.uniform(0.82, 1.0), 0.5 * (p.box_height - top))
    zc = top + rz - 0.02  # the barrel's belly rests on the subframe
    dome = rng.uniform(0.18, 0.32)
    xa, xb = x0 + 0.06 + dome, x1 - 0.12 - dome  # the cylindrical part, between the dished ends
    metal = rng.random() < 0.5  # polished stainless barrels beside painted ones
    _barrel(mesh, xa, xb, zc, ry, rz, dome, "steel" if metal else "paint")
    for x in np.linspace(xa + 0.15, xb - 0.15, int(rng.integers(3, 5))):  # girth bands
        _barrel(mesh, x - 0.035, x + 0.035, zc, ry + 0.012, rz + 0.012, 0.0, "metal_dark" if metal else "steel")
    z_top = zc + rz
    mesh.box((0.5 * (xa + xb), 0.0, z_top + 0.015), (xb - xa, 0.5, 0.03), "metal_dark")  # walkway
    for x in np.linspace(xa + 0.5, xb - 0.5, int(rng.integers(2, 4))):  # manhole lids
        mesh.tube([(x, 0.0, z_top + 0.02), (x, 0.0, z_top + 0.12)], 0.24, "steel", sides=14)
    for s in (1, -1):  # hand rails on posts along the walkway
        rail_y = s * 0.32
        mesh.tube([(xa + 0.2, rail_y, z_top + 0.45), (xb - 0.2, rail_y, z_top + 0.45)], 0.018, "steel")
        for x in np.linspace(xa + 0.2, xb - 0.2, 5):
            mesh.tube([(x, rail_y, z_top), (x, rail_y, z_top + 0.45)], 0.014, "steel")
    for s in (1, -1):  # rear ladder stiles and rungs
        mesh.tube([(x0 - 0.02, s * 0.22, top + 0.05), (x0 - 0.02, s * 0.22, zc + 0.2),
                   (xa - dome * 0.3, s * 0.22, z_top + 0.05)], 0.018, "steel")
    for z in np.arange(top + 0.3, zc + 0.2, 0.3):
        mesh.tube([(x0 - 0.02, -0.22, z), (x0 - 0.02, 0.22, z)], 0.013, "steel")
    k = prof.keyx
    xm = 0.5 * (k["fa"] + k["ra"]) if "ra" in k else 0.5 * (x0 + x1)
    for s in (1, -1):  # valve / hose cabinets hung under the barrel between the axles
        mesh.box((xm, s * (hw - 0.2), p.box_floor - 0.25), (0.9, 0.36, 0.46), "metal_dark")
        mesh.tube([(xm - 0.3, s * (hw - 0.02), p.box_floor - 0.1), (xm + 0.3, s * (hw - 0.02), p.box_floor - 0.1)],
                  0.045, "steel", sides=8)


def _barrel(mesh: Mesh, xa, xb, zc, ry, rz, dome, mat, sides=28, dome_rings=5):
    """An elliptic cylinder along x from xa to xb (semi-axes ry, rz about (y=0, zc)), closed by ellipsoidal
    dished ends `dome` deep (flat caps when 0)."""
    t = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    rings = []  # (x, scale) from the rear apex to the front apex
    if dome > 0:
        for a in np.linspace(np.pi / 2, 0.0, dome_rings, endpoint=False)[1:]:
            rings.append((xa - dome * np.sin(a), np.cos(a)))
    rings += [(xa, 1.0), (xb, 1.0)]
    if dome > 0:
        for a in np.linspace(0.0, np.pi / 2, dome_rings, endpoint=False)[1:]:
            rings.append((xb + dome * np.sin(a), np.cos(a)))
    verts = [(x, c * ry * np.cos(a), zc + c * rz * np.sin(a)) for x, c in rings for a in t]
    n = len(rings)
    faces = [(i * sides + j, i * sides + (j + 1) % sides, (i + 1) * sides + (j + 1) % sides, (i + 1) * sides + j)
             for i in range(n - 1) for j in range(sides)]
    rear = len(verts)
    verts.append((xa - dome, 0.0, zc))
    front = len(verts)
    verts.append((xb + dome, 0.0, zc))
    faces += [(rear, (j + 1) % sides, j) for j in range(sides)]
    faces += [(front, (n - 1) * sides + j, (n - 1) * sides + (j + 1) % sides) for j in range(sides)]
    mesh.add(verts, faces, mat)


def _heap(mesh: Mesh, x0, x1, hw, z, height, nu=14, nv=8):
    """A dump body's load: a rounded mound over the open top."""
    xs, ys = np.linspace(x0, x1, nu + 1), np.linspace(-hw, hw, nv + 1)
    rng = np.random.default_rng(int(height * 1e4))
    verts = []
    for x in xs:
        for y in ys:
            u, v = 2 * (x - x0) / (x1 - x0) - 1, y / hw
            bump = (1 - u**4) * (1 - v**2) * height * (1 + 0.15 * rng.standard_normal())
            verts.append((x, y, z + 0.01 + max(bump, 0.0)))
    faces = [(i * (nv + 1) + j, (i + 1) * (nv + 1) + j, (i + 1) * (nv + 1) + j + 1, i * (nv + 1) + j + 1)
             for i in range(nu) for j in range(nv)]
    mesh.add(verts, faces, "load")


def _bus_body(mesh: Mesh, caster, prof):
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
        y = _side_y(caster, 0.5 * (a + b), p.cowl, -1.0) + 0.006
        mesh.box((0.5 * (a + b), -y, 0.5 * (p.sill + 0.05 + z_top)), (b - a, 0.01, z_top - p.sill - 0.05), "trim")
        for lo, hi in ((a + 0.04, 0.5 * (a + b) - 0.02), (0.5 * (a + b) + 0.02, b - 0.04)):
            mesh.box((0.5 * (lo + hi), -y - 0.006, 0.5 * (p.sill + 0.35 + z_top - 0.05)),
                     (hi - lo, 0.008, z_top - p.sill - 0.4), "glass")
    # the route sign in the window behind the front door, read by passengers at the stop
    x1 = x_front_door[0] - 0.15
    z1 = z_top - 0.04
    y = _side_y(caster, x1 - 0.5, z1 - 0.1, -1.0) - 0.02
    if y > 0.5:  # (the ray met the body)
        mesh.box((x1 - 0.5, -y, z1 - 0.1), (1.0, 0.012, 0.2), "trim")
        for a, b in led_glyphs(0.9, 0.12, style_rng(p, 25)):
            mesh.box((x1 - 0.05 - 0.5 * (a + b), -y - 0.008, z1 - 0.1), (b - a, 0.006, 0.12), "led")
    if style == "coach":  # luggage bays between the axles, both sides
        xs = np.linspace(k["ra"] + radius + 0.2, k["fa"] - radius - 0.2, 4)
        for s in (1, -1):
            y = _side_y(caster, 0.5 * (xs[0] + xs[-1]), p.sill + 0.4, s) + 0.004
            for a, b in zip(xs[:-1], xs[1:]):
                for z in (p.sill + 0.08, p.cowl - 0.05):
                    mesh.box((0.5 * (a + b), s * y, z), (b - a - 0.05, 0.006, 0.012), "trim")
                for x in (a + 0.03, b - 0.03):
                    mesh.box((x, s * y, 0.5 * (p.sill + p.cowl)), (0.012, 0.006, p.cowl - p.sill - 0.13), "trim")
                mesh.box((0.5 * (a + b), s * (y + 0.004), p.cowl - 0.2), (0.12, 0.01, 0.025), "steel")
    if style == "school":  # black rub stripes along both sides
        for s in (1, -1):
            for z in (p.sill + 0.25, p.cowl - 0.1, p.cowl + p.belt_rise + 0.05):
                y = _side_y(caster, 0.0, z, s) + 0.003
                mesh.box((0.5 * (prof.x_front + prof.x_end) - 0.1, s * y, z), (prof.length - 1.2, 0.006, 0.05),
                         "trim")
    _bus_roof(mesh, caster, prof)


ROOF_FAIRING_PROB = 0.35  # city buses with a long roof fairing over gas cylinders or batteries (own stream)


def _bus_roof(mesh: Mesh, caster, prof):
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


UPRIGHT_WIPER_PROB = 0.4  # buses whose wipers park standing up the glass (own stream: the rest keep their values)
RABBIT_EAR_PROB = {"city": 0.7, "coach": 0.9}  # buses whose mirrors hang forward from the roof (own stream)


def wipers(mesh: Mesh, caster, prof):
    """A truck's or bus's two wipers on its upright windshield, laid on the glass by rays from the front: a
    truck's parked along the base as a car's, a bus's along the base or, on some, standing up the glass from
    pivots under its halves. A bus's 2 m pane with nothing on it read as a black slab."""
    p = prof.p
    y_corner = abs(float(keypoints(p)[15, 1]))
    radius = 0.011 if p.type_name == "truck" else 0.013
    if p.type_name == "bus" and style_rng(p, 35).random() < UPRIGHT_WIPER_PROB:
        length = min(0.9, 0.45 * (p.roof_z - p.cowl))
        lean = np.radians(12.0)  # from upright, towards the middle
        blades = [((s * 0.5 * y_corner, p.cowl + 0.05),
                   (s * (0.5 * y_corner - length * np.sin(lean)), p.cowl + 0.05 + length * np.cos(lean)))
                  for s in (1.0, -1.0)]
    else:
        blades = [((0.06, p.cowl + 0.06), (0.8 * y_corner, p.cowl + 0.10)),
                  ((-0.02, p.cowl + 0.06), (-0.72 * y_corner, p.cowl + 0.10))]
    for (y0, z0), (y1, z1) in blades:
        t = np.linspace(0.0, 1.0, 7)
        ys, zs = y0 + t * (y1 - y0), z0 + t * (z1 - z0)
        origins = np.column_stack([np.full(7, prof.x_front + 1.0), ys, zs])
        hits, normals, ok = caster.cast(origins, np.tile((-1.0, 0.0, 0.0), (7, 1)))
        if ok.all():
            mesh.tube(hits + normals * (radius + 0.004), radius, "trim")


def has_rabbit_ears(p) -> bool:
    """Whether a bus's mirrors hang forward from its roof's front corners (most city buses and coaches)."""
    return p.type_name == "bus" and style_rng(p, 36).random() < RABBIT_EAR_PROB.get(style_of(p), 0.0)


def rabbit_ear_mirrors(mesh: Mesh, caster, prof):
    """A bus's mirrors on arms that leave the body's sides under the roof's front corners, reach forward and
    drop, so that the heads hang in front of the windshield's outer edges, just outside the body (the driver
    sees them through the glass): the two ears a city bus or coach shows in every frontal view."""
    p = prof.p
    x_root, z_root = prof.x_front - 0.3, p.roof_z - 0.35
    hit, _, ok = caster.cast([(x_root, 2.0, z_root)], [(0.0, -1.0, 0.0)])
    ys = float(hit[0, 1]) if ok[0] else p.width / 2
    xf, yh = prof.x_front, prof.body_half_width + 0.13  # the heads' inner edge 2 cm outside the widest body
    for s in (1.0, -1.0):
        arm = [(x_root, ys - 0.02, z_root), (xf - 0.1, ys + 0.07, z_root + 0.04), (xf + 0.28, yh, z_root),
               (xf + 0.38, yh, z_root - 0.22)]
        mesh.tube([(x, s * y, z) for x, y, z in arm], 0.018, "metal_dark")
        centre = (xf + 0.39, s * yh, z_root - 0.44)
        mesh.blob(centre, (0.08, 0.22, 0.42), "trim", exponent=6)
        mesh.box((centre[0] - 0.042, centre[1], centre[2]), (0.004, 0.18, 0.36), "chrome")
