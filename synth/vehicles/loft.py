"""The lofted body of a vehicle as a mesh: the cross-section loops of geometry.Profile joined station to station
(paint, glass, trim, panel gaps), its side windows between the pillars, door handles. Keypoints are vertices of
the same loops (geometry.keypoints), so they lie on this surface by construction; synth/vehicles/assemble.py
dresses it into a whole vehicle. Pure numpy.
"""
from __future__ import annotations

import numpy as np

from synth.vehicles.geometry import (BACK_DEFINED, DENSE_LAYOUT, ROW_DENSE, R_BELT, R_GTOP, R_LEDGE, R_LOW, R_REDGE,
                                     R_SILL, Part, Profile, deck_material, pillar_material, side_windows)
from synth.vehicles.params import style_of, style_rng
from synth.vehicles.parts import Mesh


def loft_body(prof: Profile, spacing: float) -> Part:
    """The lofted body alone (paint, glass, trim, panel gaps), its stations about `spacing` metres apart: the
    surface the keypoints lie on, before synth/vehicles/assemble.py dresses it."""
    xs = prof.stations(spacing)
    half = prof.dense_half_loop(xs)  # (S, D, 2)
    nd = half.shape[1]
    ring_dense = list(range(nd)) + list(range(nd - 2, 0, -1))  # left half bottom to top, then the right half down
    sign = np.array([1.0] * nd + [-1.0] * (nd - 2))
    # each ring edge belongs to the row segment lo -> lo + 1 that its lower dense point starts in
    segment_of = [r for r, _ in DENSE_LAYOUT]
    nr = len(ring_dense)
    verts = np.zeros((len(xs), nr, 3))
    verts[:, :, 0] = xs[:, None]
    verts[:, :, 1] = half[:, ring_dense, 0] * sign
    verts[:, :, 2] = half[:, ring_dense, 1]
    upper = np.array([ring_dense[j] >= ROW_DENSE[R_BELT] for j in range(nr)])
    verts[:, upper] = prof.wrap(verts[:, upper].reshape(-1, 3)).reshape(len(xs), -1, 3)
    verts = verts.reshape(-1, 3)

    k = prof.keyx
    p = prof.p
    windows = side_windows(prof)
    ws_lo, ws_hi = k["14"], k["15"]
    rw_lo, rw_hi = (k["12"], k["13"]) if p.type_name != "truck" else (np.inf, -np.inf)
    if p.type_name == "pickup":
        rw_lo, rw_hi = k["12"], k["13"]
    seams = prof.seams()
    # a bus's window pillars: black behind a continuous glass band on most city buses and coaches (the row of
    # body-coloured posts between dark panes read as piano keys at 100-250 px), painted on school buses
    pillar = "trim"
    if p.type_name == "bus" and (style_of(p) == "school" or style_rng(p, 43).random() < 0.25):
        pillar = "paint"
    deck = deck_material(p) if p.type_name in ("truck", "pickup") else "paint"
    lined = deck == "bed_liner"  # (a liner covers the inner walls too)
    faces, mats = [], []
    for i in range(len(xs) - 1):
        xc = (xs[i] + xs[i + 1]) / 2
        box, bed = bool(prof.is_box(xc)), bool(prof.in_bed(xc))
        for j in range(nr):
            j2 = (j + 1) % nr
            lo = segment_of[min(ring_dense[j], ring_dense[j2])]
            hi = lo + 1
            faces.append((i * nr + j, i * nr + j2, (i + 1) * nr + j2, (i + 1) * nr + j))
            mat = "paint"
            if hi <= R_SILL:
                mat = "trim"  # underbody and wheel wells
            elif box and hi <= R_BELT:
                mat = "metal_dark"  # under a truck's cargo body: the chassis in its shadow, not a painted skirt
            elif bed and (lo >= R_GTOP or (lined and lo == R_LEDGE)):
                mat = deck  # a stake or dump truck's floor, a pickup's
            elif lo == R_LEDGE and hi == R_GTOP and not box and any(w0 < xc < w1 for w0, w1 in windows):
                mat = "glass"
            elif lo == R_LEDGE and hi == R_GTOP and not box and prof.top(xc) - prof.belt(xc) > 0.1:
                mat = pillar if p.type_name in BACK_DEFINED else pillar_material(prof, windows, xc)
            elif lo >= R_GTOP and (ws_lo < xc < ws_hi or rw_lo < xc < rw_hi):
                # a car's windshield and rear window stop at the roof's edge: the strip under it down their
                # sides is the painted A / C pillar that frames them (without it the windshield ran straight
                # into the door glass, one dark band round the cabin); a bus's and truck's glass fills its face
                frame = lo == R_GTOP
                if rw_lo < xc < rw_hi and lo == R_REDGE:
                    # a car's rear window stops 3-4 cm further in (BACKLIGHT_FRAME), at its top corner keypoints:
                    # the C / D pillars seen from behind (its glass ran across the whole roof's width, a glass box
                    # from a rear view)
                    frame = min(ring_dense[j], ring_dense[j2]) - ROW_DENSE[lo] <= 1
                mat = "paint" if frame and p.type_name not in BACK_DEFINED else "glass"
            if mat == "paint" and _in_seam(prof, seams, xc, lo, min(ring_dense[j], ring_dense[j2]) - ROW_DENSE[lo]):
                mat = "seam"
            mats.append(mat)
    # end caps (front reversed so both face outwards after normal recalculation)
    last = len(xs) - 1
    faces.append(tuple(range(nr))[::-1])
    mats.append("paint")
    faces.append(tuple(last * nr + j for j in range(nr)))
    mats.append("paint")
    handles = _door_handles(prof, seams)
    faces += [tuple(len(verts) + i for i in f) for f in handles.faces]
    mats += handles.materials
    return Part(np.concatenate([verts, handles.verts.reshape(-1, 3)]), faces, mats, smooth=True)


def _in_seam(prof: Profile, seams: dict, xc: float, lo: int, sub: int) -> bool:
    """Whether the loft face of segment `lo` (dense sub-strip `sub`) at station midpoint xc is a panel gap: a
    door edge down the side, the hood's or trunk lid's edge across the top, their edges along the top's sides
    (the hood-seam strip of SEGMENT_PARAMS)."""
    k = prof.keyx
    inside = {name for name, (x0, x1) in seams.items() if x0 < xc < x1}
    if inside & {"door_front", "door_b", "door_rear"} and R_LOW <= lo < R_BELT:
        return True
    if inside & {"hood_front", "trunk"} and lo >= R_BELT:
        return True
    if lo == R_REDGE and sub == 1 and seams:
        if seams["hood_front"][0] > xc > k["15"] + 0.04:
            return True
        if "trunk" in seams and seams["trunk"][0] > xc > k["11"] + 0.03:
            return True
    return False


def _door_handles(prof: Profile, seams: dict) -> Part:
    """A handle near the rear edge of each door, both sides, standing 7 mm out of the door skin: body-coloured
    on most cars, chrome or black plastic on the rest (a model's style seed picks)."""
    p = prof.p
    mesh = Mesh()
    material = ("paint", "chrome", "trim")[int(style_rng(p, 41).choice(3, p=(0.6, 0.25, 0.15)))]
    edges = [seams[name][0] for name in ("door_b", "door_rear") if name in seams]
    if "door_front" in seams and not edges:
        edges = [prof.keyx["13"] + 0.15]
    for x_edge in edges:
        x = x_edge + 0.17
        y = float(prof.half_width(x)) - 0.25 * p.shoulder + 0.004
        z = float(prof.belt(x)) - 0.075
        for sgn in (1, -1):
            mesh.box((x, sgn * y, z), (0.13, 0.022, 0.026), material)
    return mesh.part()
