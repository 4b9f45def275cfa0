"""Heavy vehicles: a bus's or truck's ends (lamps, grille, bumper) and windshield wipers, and the dispatch to
their bodies: synth/vehicles/trucks.py (cab details, cargo bodies) and synth/vehicles/buses.py (doors, windows,
signs, roof, cabin, mirrors).

A truck's or bus's style is `VehicleParams.body_style` (TRUCK_STYLES / BUS_STYLES; "" picks one from the
style seed, as models built before the styles existed). The loft (geometry.Profile) makes the outer envelope
with the keypoints on it (the box's rear corners); these modules add what stands on it. Pure numpy.
"""
from __future__ import annotations

import numpy as np

from synth.vehicles import buses, trucks
from synth.vehicles.params import BUS_STYLES, TRUCK_STYLES, style_of, style_rng  # noqa: F401 (heavy.style_of)
from synth.vehicles.ends import grille, headlights, taillights
from synth.vehicles.geometry import keypoints
from synth.vehicles.parts import EndFace, Mesh


def ends(mesh: Mesh, front: EndFace, rear: EndFace, prof, hwf: float, hwe: float) -> tuple[float, float]:
    """Lamps, grille and bumpers of a bus or truck front and rear; returns the plates' heights."""
    p = prof.p
    z_lamp = p.hood_front - 0.03 if p.type_name == "truck" else p.hood_front - 0.02
    if p.type_name == "truck":
        y_lamp = headlights(mesh, front, p, hwf, z_lamp, trucks.lamp_height(p, z_lamp))
        grille(mesh, front, p, y_lamp - 0.08, p.hood_front - 0.42, p.hood_front - 0.05, "bars", "chrome")
        trucks.badge(mesh, front, p, p.hood_front - 0.05)
        plate_front = p.nose_bottom + 0.14
        trucks.bumper(mesh, front, p, hwf, plate_front)
    else:
        headlights(mesh, front, p, hwf, z_lamp)
        grille(mesh, front, p, hwf * 0.45, p.nose_bottom + 0.12, p.nose_bottom + 0.30, "bars", "trim")
        plate_front = p.nose_bottom + 0.40
        buses.front_signs(mesh, front, p, hwf)
    taillights(mesh, rear, p, hwe, p.tail_upper - 0.05)
    rear.patch(mesh, -hwe * 0.95, hwe * 0.95, p.tail_bottom + 0.03, p.tail_bottom + 0.15, 0.006, "metal_dark",
               nu=10, nv=1, mirror=False)
    if p.type_name == "bus":
        buses.rear_details(mesh, rear, p, hwe)
    return plate_front, p.tail_bottom + (0.25 if p.type_name == "truck" else 0.22)


def body_details(mesh: Mesh, caster, prof):
    if prof.p.type_name == "truck":
        trucks.body(mesh, caster, prof)
    else:
        buses.body(mesh, caster, prof)


UPRIGHT_WIPER_PROB = 0.4  # buses whose wipers park standing up the glass (own stream: the rest keep their values)


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
