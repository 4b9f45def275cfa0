"""Trucks: what stands on the loft of a truck (geometry.Profile makes the envelope with the keypoints on it: the
cab and the cargo box's rear corners): the cab's doors, bumper and roof deflector, the cargo bodies (box van with
its frame, dump body with its load, stake body, tanker), the chassis, conspicuity tape and the rear number.
Discrete choices come from the model's style seed (own streams). Pure numpy.
"""
from __future__ import annotations

import numpy as np

from synth.vehicles.ends import PLATE_SIZE
from synth.vehicles.geometry import BED_FLOOR, BED_WALL, GAP, R_GTOP, R_LEDGE, keypoints
from synth.vehicles.params import pick, style_of, style_rng
from synth.vehicles.parts import EndFace, Mesh, disc, rect, side_strip, side_y


BUMPER_DEPTH = 0.04  # how far a truck's bumper stands out of the cab's face (metres)
BUMPER_FINISHES = (("trim", 0.45), ("metal_dark", 0.3), ("steel", 0.25))  # black plastic, dark grey, bright steel


def bumper(mesh: Mesh, front: EndFace, p, hwf: float, plate_z: float):
    """A truck's bumper: a bar standing BUMPER_DEPTH out of the face across its width (a lit top edge, a shadow
    under it), the plate in a recess in its middle, a fog lamp near each end; black plastic, dark grey or bright
    steel (own stream). It stops short of the face's corners, so the lower corner keypoints stay on show."""
    rng = style_rng(p, 37)
    finish = pick(rng, BUMPER_FINISHES)
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


def lamp_height(p, z_top: float) -> float:
    """A truck's headlight clusters' height: 0.2-0.27 m (real light trucks' lamps are 40-50 cm wide clusters;
    at 0.16 m they read as a toy's), stopping 4 cm over the bumper's highest top."""
    return float(min(style_rng(p, 45).uniform(0.20, 0.27), z_top - (p.nose_bottom + 0.36)))


def badge(mesh: Mesh, front: EndFace, p, z_top: float):
    """The maker's chrome badge on a truck's face, over the middle of the grille's top."""
    rng = style_rng(p, 46)
    width, height = rng.uniform(0.16, 0.3), rng.uniform(0.07, 0.12)
    zc = z_top - 0.6 * height
    outline = disc(0.0, zc, 0.5 * width, 0.5 * height, 16) if rng.random() < 0.5 else \
        rect(-0.5 * width, 0.5 * width, zc - 0.5 * height, zc + 0.5 * height)
    front.prism(mesh, outline, 0.006, 0.016, "chrome", mirror=False)


def body(mesh: Mesh, caster, prof):
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
    _cab_steps(mesh, caster, prof)
    if style_rng(p, 47).random() < MARKER_LAMP_PROB:
        _roof_marker_lamps(mesh, caster, prof)
    _conspicuity_tape(mesh, prof, x0, x1, hw, top, style)
    _rear_number(mesh, prof, x0, top, style)
    for s in (1, -1):
        mesh.box((0.5 * (x0 + k["fa"]), s * hw * 0.5, p.box_floor - 0.22), (k["fa"] - x0, 0.12, 0.2), "metal_dark")
    # side under-run guards between the wheels: two bright rails on brackets, out of the chassis' shadow
    _, radius, _ = prof.arch
    g0, g1 = k["ra"] + radius + 0.12, min(k["fa"] - radius - 0.12, k["cab_back"] - 0.05)
    if g1 - g0 > 0.6:
        for s in (1, -1):
            y = s * (side_y(caster, 0.5 * (g0 + g1), p.sill + 0.2, s) + 0.03)
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
        _dump_load(mesh, prof, style_rng(p, 49))
    else:
        for s in (1, -1):
            mesh.tube([(x0 + 0.2, s * (hw - 0.03), top + 0.40), (x1 - 0.15, s * (hw - 0.03), top + 0.40)], 0.02,
                      "steel")
        floor = p.box_floor + BED_FLOOR
        mesh.box((x1 - 0.05, 0.0, 0.5 * (floor + top + 0.6)), (0.06, 2 * hw - 0.1, top + 0.6 - floor), "steel")
        _stake_load(mesh, k["bed_rear"] + 0.08, k["bed_front"] - 0.05, hw - 0.01 - BED_WALL, floor, top,
                    style_rng(p, 44))


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


def _cab_steps(mesh: Mesh, caster, prof):
    """The step under a truck cab's door, ahead of the front wheel (a cab-over's door opens over it): a black tread
    standing out of the flank, on brackets; clear of the arch's and the face's keypoints."""
    p, k = prof.p, prof.keyx
    zc, radius, _ = prof.arch
    x_rear = k["fa"] + radius + 0.08
    x_front = min(x_rear + 0.4, k["17"] - 0.12)
    if x_front - x_rear < 0.12:
        return
    z = p.sill + 0.02
    for s in (1, -1):
        y = side_y(caster, 0.5 * (x_front + x_rear), p.sill + 0.15, s)
        if y == 0.0:
            continue
        mesh.box((0.5 * (x_front + x_rear), s * (y + 0.03), z), (x_front - x_rear, 0.16, 0.035), "trim")
        for x in (x_rear + 0.05, x_front - 0.05):
            mesh.box((x, s * (y - 0.01), z + 0.08), (0.04, 0.1, 0.16), "metal_dark")


MARKER_LAMP_PROB = 0.6  # trucks with amber marker lamps on the cab roof (own stream)


def _roof_marker_lamps(mesh: Mesh, caster, prof):
    """Three amber identification lamps across the middle of the cab roof's front edge (ECE R48 / FMVSS 108),
    and on half of those a clearance lamp near each corner: small bright marks that tell a truck's cab at a
    glance. 10 cm behind the windshield's top, inside its corners (14, 32)."""
    p, k = prof.p, prof.keyx
    x = k["14"] - 0.10
    corner = abs(float(keypoints(p)[14, 1]))
    ys = [-0.3, 0.0, 0.3]
    if style_rng(p, 48).random() < 0.5:
        ys += [-(corner - 0.12), corner - 0.12]
    hit, _, ok = caster.cast([(x, y, p.roof_z + 1.0) for y in ys], [(0.0, 0.0, -1.0)] * len(ys))
    for (hx, hy, hz), good in zip(hit, ok):
        if good and abs(hz - p.roof_z) < 0.15:
            mesh.box((hx, hy, hz + 0.02), (0.05, 0.09, 0.05), "metal_dark")
            mesh.box((hx + 0.028, hy, hz + 0.025), (0.012, 0.08, 0.035), "lens_amber")


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


STAKE_LOADS = (("empty", 0.3), ("tarp", 0.35), ("goods", 0.35))  # what an open stake bed carries
TARPS = ("tarp_blue", "tarp_green", "tarp_grey")


def _stake_load(mesh: Mesh, xa, xb, half, floor, top, rng):
    """A stake bed's load, from `floor` between xa (rear) and xb, within +-`half`: nothing (the floor shows), a
    tarpaulin over a load standing above the sides with ropes across it, or stacked crates and cartons."""
    kind = pick(rng, STAKE_LOADS)
    if kind == "tarp":
        length = rng.uniform(0.6, 0.95) * (xb - xa)
        height = top - floor + rng.uniform(0.25, 0.7)
        xc = xb - 0.5 * length
        mesh.blob((xc, 0.0, floor), (length, 2 * half - 0.04, 2 * height), str(rng.choice(TARPS)), exponent=6,
                  nu=16, nv=10)
        # (the blob's lower half is under the floor: the tarp hangs straight down to it)
        for x in np.linspace(xc - 0.4 * length, xc + 0.4 * length, int(rng.integers(2, 5))):
            mesh.tube([(x, -half, top), (x, -0.8 * half, floor + height), (x, 0.8 * half, floor + height),
                       (x, half, top)], 0.012, "trim")
    elif kind == "goods":
        size = rng.uniform(0.4, 0.6)
        nx, ny = max(1, int((xb - xa) * rng.uniform(0.5, 0.95) / size)), max(1, int(2 * half / size))
        cell = (2 * half) / ny
        base = int(rng.integers(1, 3))
        for i in range(nx):
            for j in range(ny):
                for level in range(int(np.clip(base + rng.integers(-1, 2), 0, 3))):  # stacks, a little askew
                    dims = (size * rng.uniform(0.85, 0.97), cell * rng.uniform(0.85, 0.97), size * 0.98)
                    centre = (xb - (i + 0.5) * size + rng.uniform(-0.02, 0.02), -half + (j + 0.5) * cell,
                              floor + (level + 0.5) * size)
                    a = rng.uniform(-0.06, 0.06)
                    yaw = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
                    mesh.box(centre, dims, "cardboard" if rng.random() < 0.7 else "deck_wood", rot=yaw)


DUMP_LOADS = (("", 0.2), ("load", 0.35), ("load_sand", 0.25), ("load_gravel", 0.2))  # "": empty


def _dump_load(mesh: Mesh, prof, rng, nu: int = 16, nv: int = 10):
    """A dump body's load: soil, sand or gravel filled to 35-95 % of the sides' height, heaped in the middle
    (up to half a metre, over the rim on some), its edges meeting the inner walls, the headboard and the
    tailgate; or nothing, on one in five, the steel floor showing."""
    p, k = prof.p, prof.keyx
    kind = pick(rng, DUMP_LOADS)
    if not kind:
        return
    floor, top = p.box_floor + BED_FLOOR, prof.box_top
    level = floor + rng.uniform(0.35, 0.95) * (top - floor)
    level = min(level, top - 0.02)
    height = rng.uniform(0.15, 0.5)
    xa, xb = k["bed_rear"] - 0.005, k["bed_front"] + 0.005  # into the tailgate and the headboard
    xs = np.linspace(xa, xb, nu + 1)
    loops = prof.half_loop(xs)
    y_top, y_floor = loops[:, R_LEDGE, 0], loops[:, R_GTOP, 0]
    edge = y_floor + (y_top - y_floor) * (level - floor) / (top - floor) + 0.01  # into the inner wall
    bumps = 1 + 0.12 * rng.standard_normal((nu + 1, nv + 1))
    verts = []
    for i, x in enumerate(xs):
        u = 2 * (x - xa) / (xb - xa) - 1
        for j, v in enumerate(np.linspace(-1.0, 1.0, nv + 1)):
            bump = (1 - u**4) * (1 - v**2) * height * bumps[i, j]
            verts.append((x, v * edge[i], level + max(bump, 0.0)))
    faces = [(i * (nv + 1) + j, (i + 1) * (nv + 1) + j, (i + 1) * (nv + 1) + j + 1, i * (nv + 1) + j + 1)
             for i in range(nu) for j in range(nv)]
    mesh.add(verts, faces, kind)
