"""One whole vehicle: the lofted body (geometry.py) dressed with its parts (parts.py and ends.py for every vehicle,
heavy.py, trucks.py and buses.py for buses' and trucks' bodies). The module above them all, so none of them
imports it back.
Pure numpy: `build_vehicle_mesh` returns plain arrays; synth/blender/vehicle_mesh.py turns them into bpy data.
"""
from __future__ import annotations

from synth.vehicles import buses, heavy
from synth.vehicles.geometry import Part, Profile
from synth.vehicles.loft import loft_body
from synth.vehicles.params import VehicleParams, style_rng
from synth.vehicles.ends import (GRILLES, badge, car_grille, car_headlights, car_rear_panels, car_taillights,
                                 lower_intake, plate, plate_frame)
from synth.vehicles.parts import (BIG, Caster, EndFace, Mesh, WrapFace, bed_wheel_humps, belt_chrome, body_side_trim,
                                  bull_bar, cabin, high_brake_light, lower_cabin, merge_parts, mirrors, roof_rails,
                                  shark_fin, spoiler, wheel, wipers)


def build_vehicle_mesh(params: VehicleParams, spacing: float = 0.06, wheel_segments: int = 32) -> dict[str, Part]:
    """All parts of one vehicle: body (paint, glass, trim), then what dresses it (synth/vehicles/parts.py):
    wheels, details, cabin, plate_front, plate_rear. Keys become object names."""
    prof = Profile(params)
    body = loft_body(prof, spacing)
    return {"body": body, **dress(prof, body, wheel_segments)}


def dress(prof, body: Part, wheel_segments: int = 32) -> dict[str, Part]:
    """The parts of one vehicle besides its body: wheels, details (lamps, grilles, mirrors, accessories, the
    opaque lower cabin), cabin (seats, dashboard: kinds "seat" / "dashboard"), and the two plates."""
    p, k = prof.p, prof.keyx
    big = p.type_name in BIG
    caster = Caster(body)
    rng = style_rng(p, 5)
    mesh, inside = Mesh(), Mesh()
    wheels = merge_parts([wheel(prof, x, left, wheel_segments) for x in (prof.x_front_axle, prof.x_rear_axle)
                          for left in (True, False)], smooth=True)
    if big:  # flat ends, charted along x
        front, rear = EndFace(caster, prof.x_front, True), EndFace(caster, prof.x_end, False)
        hwf, hwe = prof.face_half_width(True), prof.face_half_width(False)
        plate_front_z, plate_rear_z = heavy.ends(mesh, front, rear, prof, hwf, hwe)
        heavy.body_details(mesh, caster, prof)
        heavy.wipers(mesh, caster, prof)
    else:
        # a car's ends are charted round their corners, so lamps and vents wrap onto the wings
        front, rear = WrapFace(caster, prof, True), WrapFace(caster, prof, False)
        hwf, hwe = front.s_at(60.0), rear.s_at(60.0)
        z_top = prof.cap_front_z - 0.015
        s_lamp = car_headlights(mesh, front, prof, style_rng(p, 1))
        g_bot = z_top - rng.uniform(0.08, 0.15)
        pattern = GRILLES[int(rng.integers(len(GRILLES)))]
        surround = "chrome" if rng.random() < 0.4 else "trim"
        zi = p.nose_bottom + rng.uniform(0.04, 0.07)
        intake_top = max(min(zi + rng.uniform(0.12, 0.20), g_bot - 0.06), zi + 0.06)
        # (its shape from its own stream: the draws above and below keep their values)
        g_bot = car_grille(mesh, front, p, s_lamp - 0.04, z_top, g_bot, intake_top, pattern, surround,
                           style_rng(p, 27))
        lower_intake(mesh, front, p, hwf * rng.uniform(0.5, 0.75), zi, intake_top, GRILLES[int(rng.integers(3))],
                     style_rng(p, 6))
        front.patch(mesh, -hwf * 0.9, hwf * 0.9, p.nose_bottom + 0.015, p.nose_bottom + 0.04, 0.003, "trim",
                    nu=10, nv=1, mirror=False)
        plate_front_z = min(0.5 * (zi + intake_top) + 0.03, g_bot - 0.08)  # on the intake, as most are mounted
        tall = p.type_name in ("suv", "mpv", "van")
        lamps = car_taillights(mesh, rear, prof, style_rng(p, 2), tall)
        plate_rear_z = min(p.tail_bottom + 0.26, prof.cap_rear_z - 0.22)
        # the dark lower valance (diffuser) under the rear bumper
        z_valance = p.tail_bottom + rng.uniform(0.06, 0.11)
        rear.patch(mesh, -hwe * 0.92, hwe * 0.92, p.tail_bottom + 0.01, z_valance, 0.003, "trim", nu=12, nv=1,
                   mirror=False)
        # (own streams: the draws of the parts above and below keep their values)
        car_rear_panels(mesh, rear, prof, style_rng(p, 8), lamps, plate_rear_z, z_valance)
        badge(mesh, front, 0.5 * (g_bot + z_top - 0.01), style_rng(p, 9), height=0.8 * (z_top - 0.01 - g_bot))
        if p.type_name in ("suv", "estate", "mpv") and rng.random() < 0.5:
            roof_rails(mesh, caster, prof)
        if p.type_name in ("hatchback", "sedan") and rng.random() < 0.35:
            spoiler(mesh, caster, prof)
        if p.type_name in ("suv", "pickup") and rng.random() < 0.3:
            bull_bar(mesh, front, p, hwf)
        if p.type_name == "pickup":
            bed_wheel_humps(mesh, prof)
        high_brake_light(mesh, caster, prof, style_rng(p, 7))
        shark_fin(mesh, caster, prof, style_rng(p, 54))
        wipers(mesh, caster, prof)
        body_side_trim(mesh, caster, prof, style_rng(p, 26))
        belt_chrome(mesh, caster, prof, style_rng(p, 40))
    for face, z in ((front, plate_front_z), (rear, plate_rear_z)):
        plate_frame(mesh, face, z)
    if buses.has_rabbit_ears(p):
        buses.rabbit_ear_mirrors(mesh, caster, prof)
    else:
        mirrors(mesh, caster, prof, big)
    # the cabin seen through the glass, and the opaque block below the beltline
    if p.type_name == "truck":
        x0, x1 = k["cab_back"] + 0.05, k["15"] - 0.05
    else:
        x0, x1 = max(k["12"], k["13"] - 0.3) + 0.05, k["15"] - 0.05
    # (under the roof at its narrowest over the cabin, its rear end: the greenhouse tapers towards the rear)
    hwi = (prof.body_half_width - p.shoulder - p.glass_inset - p.tumble * (p.roof_z - p.cowl) - 0.03
           - float(prof.taper(x0)))
    if p.type_name == "bus":
        buses.bus_seats(inside, prof, x0, x1, hwi)
    elif x1 > x0 and hwi > 0.2:
        rows = {"truck": 1, "mpv": 3, "van": 3}.get(p.type_name, 2)
        if p.type_name == "pickup" and k["13"] - k["14"] > -1.0:
            rows = 1
        cabin(inside, prof, x1, x0, hwi, rows)
        # the headliner under the roof, between the windshield's top and the rear window's
        xh, xr = min(x1, k["14"] - 0.05), x0 if p.type_name == "truck" else max(x0, k["13"] + 0.05)
        if xh > xr:
            inside.box((0.5 * (xr + xh), 0.0, p.roof_z - 0.05), (xh - xr, 2 * hwi - 0.1, 0.03), "interior")
    lower_cabin(mesh, prof, x0, x1)
    return {"wheels": wheels, "details": mesh.part(), "cabin": inside.part(),
            "plate_front": plate(front, plate_front_z), "plate_rear": plate(rear, plate_rear_z)}
