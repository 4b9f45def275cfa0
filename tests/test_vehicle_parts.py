"""The parts that dress the procedural bodies (synth/vehicles/parts.py, heavy.py, trucks.py, buses.py): present for
the styles that carry them, placed on the body, plates as their own parts, keypoints exact for every bus and truck
style."""
from __future__ import annotations

import contextlib
import functools
from collections import Counter

import numpy as np
import pytest
from scipy.spatial import cKDTree

from synth.vehicles.assemble import build_vehicle_mesh
from synth.vehicles.ends import GRILLE_SHAPES, PLATE_SIZE, car_grille
from synth.vehicles.geometry import (BED_FLOOR, BED_WALL, GAP, R_GTOP, Part, Profile, deck_material, keypoints,
                                     side_windows)
from synth.vehicles.loft import loft_body
from synth.vehicles.heavy import BUS_STYLES, TRUCK_STYLES, style_of
from synth.vehicles.library import mirror_error
from synth.vehicles.params import VEHICLE_TYPES, library_plan, model_rng, sample_params, style_rng
from synth.vehicles.trucks import DUMP_LOADS, STAKE_LOADS, TARPS, _dump_load, _stake_load
from synth.vehicles.parts import (ANTENNA_PROB, RIM_DESIGNS, Caster, Mesh, WrapFace, body_side_trim, merge_parts,
                                  rim_design, rim_ratio)

try:
    import bpy  # noqa: F401  (mathutils comes with it)
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree
except ImportError:  # pragma: no cover
    BVHTree = None

HEAVY = [("truck", s) for s in TRUCK_STYLES] + [("bus", s) for s in BUS_STYLES]


def _mats(part):
    return set(part.materials)


def _bbox(part):
    v = np.asarray(part.verts)
    return v.min(axis=0), v.max(axis=0)


def _verts_of(part, materials):
    """The vertices of a part's faces of these materials."""
    faces = [f for f, m in zip(part.faces, part.materials) if m in materials]
    return np.asarray(part.verts)[np.unique(np.concatenate([list(f) for f in faces]))] if faces else np.zeros((0, 3))


def _only(part, material):
    """A part's faces of one material, as a part of their own."""
    faces = [f for f, m in zip(part.faces, part.materials) if m == material]
    return Part(part.verts, faces, [material] * len(faces))


@functools.lru_cache(maxsize=None)
def _built(type_name, seed, i):
    """Model i of a type under a seed and its parts, built once for the tests that read it (none changes it)."""
    p = sample_params(type_name, model_rng(seed, type_name, i))
    return p, build_vehicle_mesh(p)


@functools.lru_cache(maxsize=None)
def _styled(type_name, style):
    """The heavy vehicle of each body style that the tests below read (built once; none changes it)."""
    p = sample_params(type_name, model_rng(2, type_name, 1), body_style=style)
    return p, build_vehicle_mesh(p)


# The sampled model of each type that the default run checks (the parts, the driver, the lamps on one build);
# make test-all checks the same on further models of each type.
MODEL = (11, 0)


@pytest.mark.parametrize("type_name", VEHICLE_TYPES)
def test_every_type_carries_lamps_grille_plates_mirrors_and_a_cabin(type_name):
    p, parts = _built(type_name, *MODEL)
    assert {"body", "wheels", "details", "cabin", "plate_front", "plate_rear"} <= set(parts)
    details = _mats(parts["details"])
    assert {"reflector", "lens_clear", "lens_amber", "taillight", "grille", "trim"} <= details
    assert {"seat", "dashboard"} <= _mats(parts["cabin"])
    assert {"rubber"} <= _mats(parts["wheels"]) and _mats(parts["wheels"]) & {"chrome", "steel"}
    body_lo, body_hi = _bbox(parts["body"])
    for key, end in (("plate_front", body_hi[0]), ("plate_rear", body_lo[0])):
        part = parts[key]
        assert _mats(part) == {"plate"} and len(part.faces) == 6  # one box: its bounding box is the plate
        lo, hi = _bbox(part)
        size = hi - lo
        assert size[0] < 0.02 and 0.40 <= size[1] <= 0.55 and 0.10 <= size[2] <= 0.20, (key, size)
        assert abs(lo[1] + hi[1]) < 1e-9  # centred
        assert abs((hi[0] if key == "plate_front" else lo[0]) - end) < 0.06  # on the end face, not inside
    # every part is on the vehicle: within half a metre of the body's box (mirrors, stakes), none under ground
    for key, part in parts.items():
        lo, hi = _bbox(part)
        assert np.all(lo >= body_lo - (0.5, 0.5, 0.0) - (0, 0, body_lo[2])) and np.all(hi <= body_hi + 0.5), key
    # each side's lamps mirror the other's (the details are left/right symmetric but for bus doors)
    lamps = np.asarray([v for f, m in zip(parts["details"].faces, parts["details"].materials)
                        if m in ("lens_amber", "reflector") for v in np.asarray(parts["details"].verts)[list(f)]])
    assert np.allclose(np.sort(lamps[:, 1]), np.sort(-lamps[:, 1]), atol=1e-6)
    # cars carry a centre high-mounted stop lamp on the rear window's top, under the roof's edge, behind the cabin
    prof = Profile(p)
    if type_name not in ("bus", "truck"):
        d = parts["details"]
        verts = np.asarray(d.verts)
        red = np.array([verts[list(f)].mean(axis=0) for f, m in zip(d.faces, d.materials) if m == "lens_red"])
        high = red[(np.abs(red[:, 1]) < 0.25) & (red[:, 2] > p.deck)]
        assert len(high) == 6, len(high)  # one box, on the centreline
        assert abs(high[:, 1].mean()) < 1e-6 and prof.keyx["13"] - 0.6 < high[:, 0].mean() < prof.keyx["13"] + 0.05
        assert p.roof_z - 0.15 < high[:, 2].mean() < prof.height - 0.03  # under the roof's top (it arches)
    # the cabin stays inside the body's envelope: seats and dashboard under the glass
    cab = np.asarray(parts["cabin"].verts)
    assert np.all(cab[:, 2] < prof.top(cab[:, 0]) + 0.03)
    assert np.all(np.abs(cab[:, 1]) < p.width / 2)


@pytest.mark.parametrize("seed,i", [MODEL, pytest.param(13, 0, marks=pytest.mark.slow),
                                    pytest.param(13, 1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("type_name", VEHICLE_TYPES)
def test_a_driver_sits_behind_the_wheel_under_the_roof(type_name, seed, i):
    """Through the windshield a traffic camera sees the driver: a person in the left front seat (left-hand
    drive), head under the roof and behind the windshield's base; passengers only in some models."""
    p, parts = _built(type_name, seed, i)
    prof, cab = Profile(p), parts["cabin"]
    v = np.asarray(cab.verts)
    skin = np.array(sorted({j for f, m in zip(cab.faces, cab.materials) if m == "skin" for j in f}), dtype=int)
    heads = v[skin]
    assert len(heads), f"{type_name} {i}: nobody in the cabin"
    left = heads[heads[:, 1] > 0]
    assert len(left) and left[:, 0].max() < prof.keyx["15"]  # behind the windshield's base
    # under the roof, the face over the dashboard: seen through the windshield
    assert np.all(heads[:, 2] < p.roof_z) and left[:, 2].mean() > p.cowl and left[:, 2].max() > p.cowl + 0.08


def test_accessories_and_rims_vary_with_the_style_seed():
    # the models of the default run's seed: model 0 of each type is already built (_built) for the tests above
    seen_rims, seen = set(), set()
    for i in range(24):
        for type_name in ("suv", "hatchback", "sedan", "estate", "pickup"):
            p, parts = _built(type_name, MODEL[0], i)
            seen_rims.add(rim_design(p))
            details = parts["details"]
            z_top = Profile(p).height  # nothing but rails stands far above the roof
            v = np.asarray(details.verts)
            if type_name in ("suv", "estate") and v[:, 2].max() > p.roof_z + 0.03:
                seen.add("roof_rails")
            if type_name in ("suv", "pickup") and v[:, 0].max() > Profile(p).x_front + 0.05:
                seen.add("bull_bar")
            assert v[:, 2].max() < z_top + 0.12
        if seen_rims == set(RIM_DESIGNS) and {"roof_rails", "bull_bar"} <= seen:
            break
    assert seen_rims == set(RIM_DESIGNS)
    assert {"roof_rails", "bull_bar"} <= seen


def test_rims_come_in_sizes_from_tall_sidewalls_to_thin_ones():
    """Each car's rim has its own size (parts.rim_ratio): over the shipped plan from a 15-inch rim in a tall
    sidewall to an 18-19-inch one in a thin sidewall; the built tyre's inner edge is that rim."""
    ratios = [rim_ratio(spec.params) for spec in library_plan() if spec.params.type_name not in ("bus", "truck")]
    assert min(ratios) < 0.61 and max(ratios) > 0.67
    for type_name in ("sedan", "suv", "hatchback"):
        p, parts = _built(type_name, *MODEL)
        prof, wheels = Profile(p), parts["wheels"]
        v = np.asarray(wheels.verts)
        rubber = v[np.unique([i for f, m in zip(wheels.faces, wheels.materials) if m == "rubber" for i in f])]
        front_left = rubber[(np.abs(rubber[:, 0] - prof.x_front_axle) < 0.5) & (rubber[:, 1] > 0)]
        radius = np.hypot(front_left[:, 0] - prof.x_front_axle, front_left[:, 2] - p.wheel_radius)
        assert abs(radius.min() - rim_ratio(p) * p.wheel_radius) < 2e-3 and radius.max() <= p.wheel_radius + 1e-6


@pytest.mark.parametrize("type_name,style", HEAVY)
def test_heavy_styles_build_their_bodies_with_exact_keypoints(type_name, style):
    p, parts = _styled(type_name, style)
    assert style_of(p) == style
    if type_name == "bus" and style != "school":
        right = [f for f, m in zip(parts["details"].faces, parts["details"].materials) if m == "glass"]
        verts = np.asarray(parts["details"].verts)
        assert right and all(verts[list(f), 1].max() < 0 for f in right)  # doors on the kerb side only
    kp = keypoints(p)
    assert mirror_error(kp) < 1e-9
    if BVHTree is None:
        pytest.skip("bpy not installed")
    # every keypoint on the surface of the built meshes (cabin excluded), within 5 mm
    trees = []
    for key, part in parts.items():
        if key == "cabin":
            continue
        trees.append(BVHTree.FromPolygons(np.asarray(part.verts).tolist(), [list(f) for f in part.faces]))
    dist = [min(t.find_nearest(Vector(q))[3] for t in trees) for q in kp]
    assert max(dist) <= 0.005, (style, np.round(dist, 4))
    # the body's keypoints are on the body itself (the wheel centres on the hubs)
    body = trees[0]
    assert all(body.find_nearest(Vector(q))[3] <= 0.005 for i, q in enumerate(kp) if i not in (0, 1, 18, 19))


def test_truck_cargo_heights_follow_the_style():
    tops = {}
    for style in TRUCK_STYLES:
        p = sample_params("truck", model_rng(4, "truck", 0), body_style=style)
        tops[style] = Profile(p).box_top - p.box_floor
    assert tops["stake"] < tops["dump"] < tops["box_van"]


@pytest.mark.parametrize("style", TRUCK_STYLES)
def test_a_truck_body_stands_on_a_dark_chassis_with_side_guards(style):
    p, parts = _styled("truck", style)
    prof, k = Profile(p), Profile(p).keyx
    body_v = np.asarray(parts["body"].verts)
    # under the cargo body the loft is the chassis in its shadow, not a painted skirt
    under = [m for f, m in zip(parts["body"].faces, parts["body"].materials)  # the loft's quads (not its end caps)
             if len(f) == 4 and body_v[list(f), 0].max() < k["box_front"]
             and p.sill + 0.02 < body_v[list(f), 2].mean() < p.box_floor - 0.02]
    assert under and "paint" not in under, set(under)
    # steel rails outboard of the side between the wheels
    v = np.asarray(parts["details"].verts)
    rails = [v[list(f)] for f, m in zip(parts["details"].faces, parts["details"].materials) if m == "steel"]
    _, radius, _ = prof.arch
    side = float(prof.half_width(0.5 * (k["fa"] + k["ra"])))
    guards = [r for r in rails if np.all((r[:, 0] > k["ra"] + radius) & (r[:, 0] < k["fa"] - radius))
              and np.abs(r[:, 1]).min() > side and r[:, 2].max() < p.box_floor]
    assert len(guards) >= 4 * 6  # two rails a side, six faces each


@pytest.mark.parametrize("style", TRUCK_STYLES)
def test_a_truck_wears_red_and_white_tape_along_its_sides_and_across_its_rear(style):
    """Conspicuity tape (GB 7258, ECE R48) as traffic cameras see it on every truck: alternating red and white
    stretches along both sides of the cargo body and across the rear and the underride guard, on the body's
    surface, clear of the keypoints and of the tail lamps."""
    p, parts = _styled("truck", style)
    prof, kp = Profile(p), keypoints(p)
    details = parts["details"]
    v = np.asarray(details.verts)
    boxes = {m: [] for m in ("tape_red", "tape_white")}
    for f, m in zip(details.faces, details.materials):
        if m in boxes:
            boxes[m].append(v[list(f)])
    assert len(boxes["tape_red"]) > 6 * 8 and len(boxes["tape_white"]) > 6 * 8  # (six faces a stretch)
    tape = np.concatenate([np.concatenate(b) for b in boxes.values()])
    hw = float(prof.half_width(0.5 * (prof.x_end + prof.keyx["box_front"])))
    for s in (1, -1):  # along each side, most of the cargo body's length
        side = tape[np.abs(tape[:, 1] - s * hw) < 0.01]
        assert np.ptp(side[:, 0]) > 0.7 * (prof.keyx["box_front"] - prof.x_end)
    rear = tape[tape[:, 0] < prof.x_end + 0.1]
    assert np.ptp(rear[:, 1]) > hw and len(np.unique(np.round(rear[:, 2], 2))) >= 4  # body and guard rows
    assert cKDTree(tape).query(kp)[0].min() > 0.04  # no keypoint under the tape
    lamps = np.concatenate([v[list(f)] for f, m in zip(details.faces, details.materials) if m == "taillight"])
    rear_tape = np.array([b.mean(axis=0) for bs in boxes.values() for b in bs if b[:, 0].max() < prof.x_end + 0.01])
    for s in (1, -1):  # each side's lamp cluster
        lamp = lamps[lamps[:, 1] * s > 0]
        inside = np.all((rear_tape > lamp.min(axis=0) - 0.01) & (rear_tape < lamp.max(axis=0) + 0.01), axis=1)
        assert not inside.any(), "tape over a tail lamp"


@pytest.mark.parametrize("style", TRUCK_STYLES)
def test_a_truck_cab_shows_its_doors_and_a_box_van_its_posts_and_rails(style):
    """A truck cab's flank carries the door's panel gaps (up behind the side window, along the bottom over the
    front arch, up to the belt at the front) and a handle; a box van's sides carry aluminium posts (or ribs)
    between a top and a floor rail, standing proud of the side, clear of the keypoints and the tape."""
    p, parts = _styled("truck", style)
    prof, k, kp = Profile(p), Profile(p).keyx, keypoints(p)
    details = parts["details"]
    v = np.asarray(details.verts)
    faces = [(v[list(f)], m) for f, m in zip(details.faces, details.materials)]
    cab = [q for q, m in faces if m == "seam" and q[:, 0].min() > k["cab_back"] and q[:, 0].max() < k["15"]]
    for s in (1, -1):
        side = np.concatenate([q for q in cab if np.all(q[:, 1] * s > 0.8 * p.width / 2)])
        upright = {round(float(q[:, 0].mean()), 2) for q in cab
                   if np.all(q[:, 1] * s > 0) and np.ptp(q[:, 2]) > 0.01 and np.ptp(q[:, 0]) < 0.02}
        assert len(upright) == 2, "front and rear door edges"
        assert np.ptp(side[:, 0]) > 0.6 and side[:, 2].min() > prof.arch[0] + prof.arch[1]  # over the arch
        handle = [q for q, m in faces if m == "trim" and np.all(q[:, 1] * s > 0.8 * p.width / 2)
                  and np.all((q[:, 0] > k["cab_back"]) & (q[:, 0] < k["cab_back"] + 0.4))
                  and np.all(np.abs(q[:, 2] - p.cowl) < 0.15)]
        assert handle
    hw = float(prof.half_width(0.5 * (prof.x_end + k["box_front"])))
    frame = [q for q, m in faces if m == "steel" and q[:, 2].min() >= p.box_floor - 1e-6
             and prof.x_end + 0.02 < q[:, 0].min() and q[:, 0].max() < k["box_front"] and np.abs(q[:, 1]).min() > hw - 0.05]
    if style != "box_van":
        assert not [q for q in frame if np.ptp(q[:, 2]) > 1.0]  # (a stake body's stakes are tubes, not posts)
        return
    pts = np.concatenate(frame)
    assert np.all(np.abs(pts[:, 1]) >= hw - 1e-6) and np.abs(pts[:, 1]).max() < hw + 0.02  # proud of the side
    for s in (1, -1):
        mine = [q for q in frame if np.all(q[:, 1] * s > hw + 0.005)]  # each post's and rail's outer face
        posts = {round(float(q[:, 0].mean()), 3) for q in mine if np.ptp(q[:, 2]) > 0.5 * (prof.box_top - p.box_floor)}
        rails = {round(float(q[:, 2].mean()), 3) for q in mine if np.ptp(q[:, 0]) > 0.8 * (k["box_front"] - prof.x_end)}
        assert len(posts) >= 3 and len(rails) == 2
    assert cKDTree(pts).query(kp)[0].min() > 0.08
    tape = np.concatenate([q for q, m in faces if m in ("tape_red", "tape_white")])
    assert cKDTree(pts).query(tape)[0].min() > 0.005  # the tape is not behind a rail


def test_half_the_box_vans_carry_a_roof_deflector_on_the_cab_clear_of_the_keypoints():
    """A painted fairing on a box van's cab roof, from behind the windshield's top to under the box's top: on
    about half of them (its own stream), seated on the roof, within the cab's width and length, clear of the
    keypoints; none on the other styles."""
    from synth.vehicles.trucks import DEFLECTOR_PROB

    with_one = 0
    for i in range(8):
        p = sample_params("truck", model_rng(5, "truck", i), body_style="box_van")
        prof, k = Profile(p), Profile(p).keyx
        details = build_vehicle_mesh(p)["details"]
        v = np.asarray(details.verts)
        fairing = [v[list(f)] for f, m in zip(details.faces, details.materials)
                   if m == "paint" and v[list(f)][:, 2].min() > p.roof_z - 0.1]
        wanted = style_rng(p, 34).random() < DEFLECTOR_PROB and prof.box_top - 0.04 - p.roof_z >= 0.15
        assert bool(fairing) == wanted, i
        if not fairing:
            continue
        with_one += 1
        q = np.concatenate(fairing)
        assert k["cab_back"] < q[:, 0].min() and q[:, 0].max() < k["14"] - 0.1
        assert abs(q[:, 2].min() - p.roof_z) < 0.05 and q[:, 2].max() < prof.box_top
        assert q[:, 2].max() - p.roof_z > 0.1 and np.abs(q[:, 1]).max() < p.width / 2 - 0.1
        assert cKDTree(q).query(keypoints(p))[0].min() > 0.05
    assert 0 < with_one < 8
    drawn = [style_rng(sample_params("truck", model_rng(6, "truck", i), body_style="box_van"), 34).random()
             for i in range(200)]
    assert 0.4 < np.mean(np.array(drawn) < DEFLECTOR_PROB) < 0.6
    for style in ("dump", "stake", "tanker"):
        p, parts = _styled("truck", style)
        v = np.asarray(parts["details"].verts)
        assert not [f for f, m in zip(parts["details"].faces, parts["details"].materials)
                    if m == "paint" and v[list(f)][:, 2].min() > p.roof_z - 0.1
                    and v[list(f)][:, 0].min() > Profile(p).keyx["cab_back"]]  # (a dump body's cab guard is behind)


@pytest.mark.parametrize("style", TRUCK_STYLES)
def test_a_truck_carries_its_number_enlarged_on_the_rear_of_its_body(style):
    """GB 7258: a truck's plate number painted 2-2.5 times enlarged on its cargo body's rear (not on a tanker's
    low subframe): one quad in plate proportions on the rear face, clear of keypoints, tape and lamps."""
    p, parts = _styled("truck", style)
    prof, kp = Profile(p), keypoints(p)
    details = parts["details"]
    v = np.asarray(details.verts)
    quads = [v[list(f)] for f, m in zip(details.faces, details.materials) if m == "rear_number"]
    if style == "tanker":
        assert not quads
        return
    assert len(quads) == 1
    q = quads[0]
    width, height = np.ptp(q[:, 1]), np.ptp(q[:, 2])
    assert width / height == pytest.approx(PLATE_SIZE[0] / PLATE_SIZE[1])
    assert 2.0 * PLATE_SIZE[0] <= width <= 2.5 * PLATE_SIZE[0] + 1e-9 and abs(q[:, 1].mean()) < 1e-9
    assert np.all(np.abs(q[:, 0] - prof.x_end) < 0.005) and q[:, 2].min() > p.box_floor + 0.09  # over the tape
    assert q[:, 2].max() < prof.box_top
    assert cKDTree(q).query(kp)[0].min() > 0.3
    others = np.concatenate([v[list(f)] for f, m in zip(details.faces, details.materials)
                             if m in ("tape_red", "tape_white", "taillight") and v[list(f)][:, 0].max() < prof.x_end])
    inside = np.all((others[:, 1:] > q[:, 1:].min(axis=0)) & (others[:, 1:] < q[:, 1:].max(axis=0)), axis=1)
    assert not inside.any()


@pytest.mark.parametrize("style", BUS_STYLES)
def test_a_bus_shows_its_route_on_lit_signs_and_its_rear_an_engine_door(style):
    """What a traffic camera reads on a bus besides its shape: LED destination signs (glowing glyphs on a black
    panel) over the windshield, at the top of the rear window and behind the first kerb-side window; tall rear
    lamp columns; and on city buses and coaches the engine door outlined by its panel gap, with its vents."""
    p, parts = _styled("bus", style)
    prof, kp = Profile(p), keypoints(p)
    details = parts["details"]
    v = np.asarray(details.verts)

    def faces(kind):
        return [v[list(f)] for f, m in zip(details.faces, details.materials) if m == kind]

    glyphs = np.array([f.mean(axis=0) for f in faces("led")])
    high = glyphs[:, 2] > p.roof_z - 0.45
    front = glyphs[high & (glyphs[:, 0] > prof.x_front - 0.6)]
    rear = glyphs[high & (glyphs[:, 0] < prof.x_end + 0.6)]
    side = glyphs[~high]
    assert len(front) + len(rear) == high.sum()  # (five faces a glyph)
    for sign, n in ((front, 5), (rear, 2)):  # glyphs in a row high on the end, over the windows' tops
        assert len(sign) >= 5 * n and np.ptp(sign[:, 2]) < 0.2
    assert np.ptp(front[:, 1]) > 1.0  # the destination: several words across the bus
    assert len(side) >= 5 * 3 and side[:, 1].max() < 0 and side[:, 2].min() > p.cowl  # on the kerb side only
    assert np.all(side[:, 1] > -float(prof.half_width(side[:, 0].mean())))  # behind the glass
    assert cKDTree(np.concatenate(faces("led"))).query(kp)[0].min() > 0.05
    lamps = np.concatenate(faces("taillight"))
    assert np.ptp(lamps[lamps[:, 1] > 0][:, 2]) > 0.45
    seams = faces("seam")
    if style == "school":
        assert not seams
    else:  # the engine door's outline: across the rear, under the rear window, round a grille
        door = np.concatenate(seams)
        assert np.all(door[:, 0] < prof.x_end + 0.1) and np.ptp(door[:, 1]) > 1.2 and door[:, 2].max() < p.deck


@pytest.mark.parametrize("style", BUS_STYLES)
def test_through_a_bus_s_windshield_the_camera_sees_seats_grab_poles_and_a_light_ceiling(style):
    """Behind a bus's glass: yellow grab poles by the aisle and seat backs down the bus, under a light ceiling
    where the roof is at full height (the shell's inside had shown one dark band); all of it inside the body."""
    p, parts = _styled("bus", style)
    prof = Profile(p)
    cabin = parts["cabin"]
    # a raised camera's rays, 20 degrees down, from the windshield's lower half (the caster looks 2.5 m ahead)
    down = np.array([-np.cos(np.radians(20)), 0.0, -np.sin(np.radians(20))])
    ys, zs = np.meshgrid(np.linspace(-0.9, 0.9, 19), np.linspace(p.cowl + 0.2, 0.5 * (p.cowl + p.roof_z), 8))
    seen = _first_hit_materials(cabin, np.column_stack([np.full(ys.size, prof.x_front - 0.3), ys.ravel(),
                                                        zs.ravel()]), down)
    assert {"cabin_pole", "bus_seat"} <= set(seen), Counter(seen)
    v = np.asarray(cabin.verts)
    ceiling = np.array([v[list(f)].mean(axis=0) for f, m in zip(cabin.faces, cabin.materials) if m == "cabin_lining"])
    assert ceiling[:, 2].min() > p.roof_z - 0.15 and np.ptp(ceiling[:, 0]) > 0.7 * prof.length
    assert np.all(np.abs(v[:, 1]) <= np.asarray(prof.half_width(v[:, 0]))) and np.all(v[:, 2] < prof.top(v[:, 0]))



def test_a_tanker_carries_its_barrel_on_the_subframe_within_the_body_width():
    p, parts = _styled("truck", "tanker")
    prof = Profile(p)
    details = parts["details"]
    verts = np.asarray(details.verts)
    cargo = verts[(verts[:, 0] > prof.x_end) & (verts[:, 0] < prof.keyx["box_front"]) & (verts[:, 2] > prof.box_top)]
    assert len(cargo), "nothing stands on the tanker's subframe"
    # the barrel rises well above the subframe, no higher than the sampled body height (+ rails and lids)
    assert cargo[:, 2].max() > prof.box_top + 1.5
    assert cargo[:, 2].max() < p.box_height + 0.6
    half_width = float(prof.half_width(0.5 * (prof.x_end + prof.keyx["box_front"])))
    assert np.abs(cargo[:, 1]).max() <= half_width + 0.02


@pytest.mark.parametrize("type_name", [t for t in VEHICLE_TYPES if t not in ("bus", "truck")])
def test_a_car_s_wipers_lie_on_the_windshield_along_its_base_clear_of_the_corners(type_name):
    p, parts = _built(type_name, *MODEL)
    kp = keypoints(p)
    trim = _verts_of(parts["details"], {"trim"})
    base_x, corner_y = kp[15, 0], abs(kp[15, 1])
    wiper = trim[(np.abs(trim[:, 0] - base_x) < 0.12) & (trim[:, 2] > kp[15, 2] - 0.01)
                 & (np.abs(trim[:, 1]) < 0.9 * corner_y)]  # (the mirrors' bases stand further out)
    assert np.ptp(wiper[:, 1]) > corner_y  # across most of the glass, both sides of the middle
    assert wiper[:, 1].max() > 0.5 * corner_y and wiper[:, 1].min() < -0.5 * corner_y
    assert np.abs(wiper[:, 1]).max() < 0.85 * corner_y  # clear of the corners' keypoints
    glass = _surface_samples(_only(parts["body"], "glass"), near=wiper)
    assert cKDTree(glass).query(wiper)[0].max() < 0.025  # resting on the glass
    assert wiper[:, 2].max() < kp[15, 2] + 0.12  # low on it, along the base


def test_car_sides_carry_door_mouldings_and_a_van_s_sliding_door_rail():
    """Over the shipped plan: a share of the cars wear a protective moulding along their doors (between the
    first and last door seams, below the beltline), every MPV and van with a sliding door its rail under the
    rear quarter window; both lie on the body's sides, mirrored, clear of the keypoints."""
    moulded, railed, sliding = 0, 0, 0
    cars = [spec.params for spec in library_plan() if spec.params.type_name not in ("bus", "truck")]
    for p in cars:
        prof = Profile(p)
        body = loft_body(prof, 0.06)
        mesh = Mesh()
        body_side_trim(mesh, Caster(body), prof, style_rng(p, 26))
        v = np.asarray(mesh.verts)
        seams, windows = prof.seams(), side_windows(prof)
        has_rail = p.type_name in ("mpv", "van") and len(windows) >= 3
        sliding += has_rail
        if not mesh.faces:
            assert not has_rail
            continue
        assert np.allclose(np.sort(v[:, 1]), np.sort(-v[:, 1]), atol=1e-6)  # both sides alike
        assert cKDTree(v).query(keypoints(p))[0].min() > 0.03
        side = np.sign(v[:, 1])  # on the skin: a ray in from the side meets the body just under each vertex
        hit, _, ok = Caster(body).cast(v * (1, 0, 1) + np.outer(side, (0, 3.0, 0)), np.outer(-side, (0, 1.0, 0)))
        assert ok.all() and np.abs(hit[:, 1] - v[:, 1]).max() < 0.008
        rail = v[v[:, 0] < seams["door_b"][0] + 1e-6] if has_rail else v[:0]
        if has_rail and len(rail):
            railed += 1
            assert np.all(rail[:, 2] < prof.belt(rail[:, 0]) - 0.03) and rail[:, 0].min() >= windows[0][0]
        moulding = v[v[:, 2] < 0.5 * (p.sill + prof.belt(v[:, 0]))]
        if len(moulding):
            moulded += 1
            doors = [x for n in ("door_front", "door_b", "door_rear") if n in seams for x in seams[n]]
            assert min(doors) < moulding[:, 0].min() and moulding[:, 0].max() < max(doors)
    assert railed == sliding > 0
    assert 0.15 * len(cars) < moulded < 0.6 * len(cars)


def test_wheel_centres_are_hub_vertices():
    for type_name in ("sedan", "truck", "bus"):
        p, parts = _built(type_name, *MODEL)
        verts = np.asarray(parts["wheels"].verts)
        kp = keypoints(p)
        for k in (0, 1, 18, 19):
            assert np.min(np.linalg.norm(verts - kp[k], axis=1)) < 1e-6
            # nothing of the wheel stands outboard of the hub face near the centre
            near = np.linalg.norm(verts[:, [0, 2]] - kp[k][[0, 2]], axis=1) < 0.04
            assert np.all(np.abs(verts[near, 1]) <= abs(kp[k][1]) + 1e-6)


def _first_hit_materials(part, origins, direction):
    """The material each ray meets first on `part` ('' where it meets nothing)."""
    hit_at = {}
    for mat in set(part.materials):
        pts, _, ok = Caster(_only(part, mat)).cast(origins, np.broadcast_to(direction, origins.shape))
        hit_at[mat] = np.where(ok, np.linalg.norm(pts - origins, axis=1), np.inf)
    names = sorted(hit_at)
    dist = np.stack([hit_at[m] for m in names])
    first = np.array(names, dtype=object)[dist.argmin(axis=0)]
    return np.where(np.isfinite(dist.min(axis=0)), first, "")


@pytest.mark.parametrize("design", [d if i == 0 else pytest.param(d, marks=pytest.mark.slow)  # one by default
                                    for i, d in enumerate(d for d in RIM_DESIGNS if d != "steel_hubcap")])
def test_a_rims_windows_show_the_brake_disc_not_a_black_hole(design):
    """Looking straight at a car's wheel, the rim reads as metal: between the spokes the grey brake disc and its
    calliper, not the black barrel (thin arms on black read as a toy's star wheel at traffic-camera sizes)."""
    for seed in range(200):
        p = sample_params("sedan", model_rng(seed, "sedan", 0))
        if rim_design(p) == design:
            break
    parts = build_vehicle_mesh(p)
    prof, kp = Profile(p), keypoints(p)
    rim = 0.64 * p.wheel_radius
    hub = kp[0]  # the left rear wheel's centre (on the hub face)
    rng = np.random.default_rng(0)
    rho, t = rim * np.sqrt(rng.uniform(0.4**2, 0.75**2, 4000)), rng.uniform(0, 2 * np.pi, 4000)
    origins = np.stack([hub[0] + rho * np.cos(t), np.full_like(t, hub[1] + 0.3), hub[2] + rho * np.sin(t)], axis=1)
    first = _first_hit_materials(parts["wheels"], origins, np.array([0.0, -1.0, 0.0]))
    assert np.all(first != ""), "every ray within the rim meets the wheel"
    assert np.mean(first == "metal_dark") < 0.15, design  # the calliper only
    assert np.mean(first == "steel") > 0.2  # the disc (or steel spokes), seen through the windows
    assert np.mean(np.isin(first, ["chrome", "steel"])) > 0.75
    # the calliper grips the disc on the side towards the middle of the car (ahead of the rear axle)
    dark = first == "metal_dark"
    assert hub[0] == pytest.approx(prof.x_rear_axle) and dark.any() and np.mean(np.cos(t[dark]) > 0) > 0.8


def _surface_samples(part, n=200_000, seed=0, near=None):
    """Points spread over a part's polygons (fan triangles), for nearest-surface distances; `near`: only the
    polygons within 10 cm of these points' bounding box (denser samples where the distances are taken)."""
    v = np.asarray(part.verts)
    tris = np.array([[v[f[0]], v[f[i]], v[f[i + 1]]] for f in part.faces for i in range(1, len(f) - 1)])
    if near is not None:
        lo, hi = np.min(near, axis=0) - 0.1, np.max(near, axis=0) + 0.1
        tris = tris[np.all((tris.max(axis=1) >= lo) & (tris.min(axis=1) <= hi), axis=1)]
    area = 0.5 * np.linalg.norm(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]), axis=1)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(tris), n, p=area / area.sum())
    a, b = rng.random((2, n, 1))
    flip = (a + b) > 1
    a, b = np.where(flip, 1 - a, a), np.where(flip, 1 - b, b)
    t = tris[pick]
    return t[:, 0] + a * (t[:, 1] - t[:, 0]) + b * (t[:, 2] - t[:, 0])


@pytest.mark.parametrize("seed,i", [MODEL, pytest.param(4, 1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("type_name", ["sedan", "hatchback", "suv", "mpv", "van", "pickup"])
def test_car_lamps_wrap_round_the_corners_and_sit_on_the_body(type_name, seed, i):
    p, parts = _built(type_name, seed, i)
    prof = Profile(p)
    v = np.asarray(parts["details"].verts)
    mats = np.array(parts["details"].materials)
    faces = parts["details"].faces
    for kinds, front in ((("lens_amber", "reflector"), True), (("taillight",), False)):
        idx = sorted({i for f, m in zip(faces, mats) if m in kinds for i in f})
        lamp = v[idx]
        lamp = lamp[(lamp[:, 0] > 0) == front]
        assert len(lamp), f"{type_name}: no {'head' if front else 'tail'} lamp"
        # round the corner: the cluster reaches past the flat end face onto the wing / quarter panel
        assert np.abs(lamp[:, 1]).max() > prof.face_half_width(front) + 0.02, (type_name, front)
        # and stands on the body (lenses are lifted at most 11 mm off it)
        dist, _ = cKDTree(_surface_samples(parts["body"], near=lamp)).query(lamp)
        assert np.percentile(dist, 99) < 0.02, (type_name, front, dist.max())


def test_car_grilles_come_as_bands_shields_and_slots():
    """A car's upper grille in each shape real fronts show (ends.GRILLE_SHAPES): a band as tall as the lamps, a
    shield whose bottom drops in a trapezoid towards the bumper intake (lowest in the middle, clear of the
    intake), a slot a few centimetres tall; the pattern's bars stay inside the opening."""
    p = sample_params("sedan", model_rng(MODEL[0], "sedan", MODEL[1]))
    prof = Profile(p)
    face = WrapFace(Caster(loft_body(prof, 0.06)), prof, True)
    z_top, g_bot, intake_top, half = prof.cap_front_z - 0.015, prof.cap_front_z - 0.13, p.nose_bottom + 0.2, 0.35
    seen = set()
    for seed in range(20):
        mesh = Mesh()
        bottom = car_grille(mesh, face, p, half, z_top, g_bot, intake_top, "bars", "chrome",
                            np.random.default_rng(seed))
        v = np.asarray(mesh.verts)
        base = np.concatenate([v[list(f)] for f, m in zip(mesh.faces, mesh.mats) if m == "grille"])
        bars = np.concatenate([v[list(f)] for f, m in zip(mesh.faces, mesh.mats) if m == "chrome"])
        middle, sides = base[np.abs(base[:, 1]) < 0.05], base[np.abs(base[:, 1]) > half - 0.03]
        drop, height = sides[:, 2].min() - middle[:, 2].min(), np.ptp(base[:, 2])
        assert bottom == pytest.approx(sides[:, 2].min(), abs=1e-3)
        if drop > 0.05:
            seen.add("shield")
            assert middle[:, 2].min() >= intake_top + 0.05 - 1e-3
        else:
            assert abs(drop) < 0.005
            seen.add("slot" if height < 0.07 else "band")
            assert height > 0.03
        assert bars[:, 2].min() > base[:, 2].min() - 0.013 and np.abs(bars[:, 1]).max() < half + 0.013
    assert seen == set(GRILLE_SHAPES)


@pytest.mark.parametrize("type_name", ["sedan", "hatchback", "estate", "suv", "mpv", "van", "pickup"])
def test_a_car_tail_reads_as_panels_and_both_ends_carry_a_badge(type_name):
    """A car's tail reads as panels, not one moulding: the bumper's shut line (a panel gap) runs from the centre
    round both corners onto the quarter panels below the tail lamps; the tailgate's or lid's edges rise beside
    the lamps; a chrome badge sits on each end's centreline."""
    p, parts = _built(type_name, *MODEL)
    prof = Profile(p)
    d = parts["details"]
    verts, mats = np.asarray(d.verts), np.array(d.materials)
    centres = np.array([verts[list(f)].mean(axis=0) for f in d.faces])
    seam = centres[(mats == "seam") & (centres[:, 0] < prof.x_rear_axle)]
    assert len(seam)
    lamps = centres[(mats == "taillight") & (centres[:, 2] > seam[:, 2].min() + GAP)]
    line = seam[np.abs(seam[:, 2] - seam[:, 2].min()) < GAP]  # the lowest: the bumper's
    assert np.abs(line[:, 1]).min() < 0.05 and line[:, 1].max() > prof.face_half_width(False) + 0.1
    assert np.allclose(np.sort(line[:, 1]), np.sort(-line[:, 1]), atol=1e-6)
    assert line[:, 2].max() < lamps[:, 2].min() and line[:, 2].min() > p.tail_bottom + 0.15
    upright = seam[seam[:, 2] > line[:, 2].max() + 0.05]  # the tailgate's or lid's sides
    assert len(upright) and np.all(np.abs(upright[:, 1]) < prof.face_half_width(False))
    narrow = np.array([np.abs(verts[list(f), 1]).max() < 0.07 for f in d.faces])  # (not a grille bar's)
    for front in (True, False):
        chrome = centres[(mats == "chrome") & narrow & ((centres[:, 0] > 0) == front)]
        assert len(chrome) >= 16, front  # the badge: a 16-sided prism


def test_the_caster_fans_every_polygon_about_its_centroid_in_order():
    """The ray caster's triangles (built a polygon length at a time): a triangle as it is, an n-gon as n
    triangles (centroid, v[i], v[i+1]), polygon after polygon (the casts' ties go to the first)."""
    rng = np.random.default_rng(0)
    verts = rng.normal(size=(40, 3))
    faces = [tuple(rng.choice(40, n, replace=False).tolist()) for n in (4, 3, 5, 4, 6, 3, 4, 8, 5)]
    expected = []
    for f in faces:
        if len(f) == 3:
            expected.append(verts[list(f)])
            continue
        c = verts[list(f)].mean(axis=0)
        expected += [np.stack([c, verts[f[i]], verts[f[(i + 1) % len(f)]]]) for i in range(len(f))]
    caster = Caster(Part(verts, faces, ["paint"] * len(faces)))
    np.testing.assert_array_equal(caster.tris, np.array(expected))
    hit, normal, ok = caster.cast(verts[list(faces[1])].mean(axis=0) + (0.0, 0.0, 1.0), (0.0, 0.0, -1.0))
    assert ok[0] and abs(np.linalg.norm(normal[0]) - 1) < 1e-9


def test_parts_are_deterministic():
    p, a = _built("suv", *MODEL)  # built by an earlier test of this module (or now, if run alone): built again
    b = build_vehicle_mesh(p)
    for key in a:
        assert np.array_equal(a[key].verts, b[key].verts) and a[key].faces == b[key].faces
        assert a[key].materials == b[key].materials


@contextlib.contextmanager
def _studio(tmp_path, p, name: str, width: int, height: int, samples: int):
    """Model `p` written to tmp_path and loaded into the contact sheet's studio scene (synth/blender/
    vehicle_sheet.py) at width x height, `samples` per pixel without the denoiser. Yields (scene, camera, root,
    asset, render): render(name) writes the camera's view to tmp_path and returns it as float32 BGR. Removes
    the vehicle and the scene afterwards."""
    import bpy
    import cv2

    from synth.blender.vehicle_mesh import write_model
    from synth.blender.vehicle_sheet import _setup_scene, _window_scene
    from synth.blender.vehicles import load_vehicle, remove_vehicle
    from synth.vehicles.library import load_asset
    from synth.vehicles.params import ModelSpec

    asset = load_asset(write_model(ModelSpec(name, p, 0, 0, None), tmp_path))
    scene, cam = _setup_scene(width, height, samples)
    scene.cycles.use_denoising = False
    root = load_vehicle(asset, scene.collection)

    def render(image_name):
        scene.render.filepath = str(tmp_path / f"{image_name}.png")
        with _window_scene(scene):
            bpy.ops.render.render(write_still=True, scene=scene.name)
        return cv2.imread(scene.render.filepath).astype(np.float32)

    try:
        yield scene, cam, root, asset, render
    finally:
        remove_vehicle(root)
        for obj in list(scene.collection.objects):
            bpy.data.objects.remove(obj)
        bpy.data.scenes.remove(scene)


@pytest.mark.blender
@pytest.mark.skipif(BVHTree is None, reason="bpy not installed")
def test_each_part_shows_in_a_render(tmp_path):
    """Front three-quarter view of an SUV: hiding the details, the cabin, a plate or the wheels changes pixels
    (so the part is on the outside of the body, where the camera sees it)."""
    from synth.blender.vehicle_sheet import _place_camera
    from synth.blender.vehicle_materials import material_kind
    from synth.blender.vehicles import REFERENCE_RGB, set_body_color

    p = sample_params("suv", model_rng(3, "suv", 0))
    with _studio(tmp_path, p, "suv_t", 160, 120, 4) as (scene, cam, root, asset, render):
        _place_camera(cam, asset, 30.0, 15.0, 160, 120)
        scene.cycles.seed = 1
        full = render("full")
        shown = {}
        for key in ("details", "cabin", "plate_front", "wheels"):
            obj = next(o for o in root.children if o.name.split(".")[1] == key)
            obj.hide_render = True
            shown[key] = np.abs(render(key) - full).max(axis=2) > 12  # same seed: the rest renders identically
            obj.hide_render = False
            assert shown[key].sum() >= 8, key
        # panel gaps on a white body: darker than the paint round them, far lighter than black trim
        set_body_color(root, asset, REFERENCE_RGB["white"], force=True)
        body = next(o for o in root.children if o.name.split(".")[1] == "body")
        slots = {material_kind(s.material): s for s in body.material_slots}
        white = render("white")

        def with_seams_as(kind):
            seam = slots["seam"].material
            slots["seam"].material = slots[kind].material
            try:
                return render(f"seams_{kind}")
            finally:
                slots["seam"].material = seam

        as_paint, as_trim = with_seams_as("paint"), with_seams_as("trim")
        gaps = np.abs(as_paint - white).max(axis=2) > 12
        assert gaps.sum() >= 8
        paint, seam, trim = (im[gaps].mean() for im in (as_paint, white, as_trim))
        # (a gap is under a pixel here: each pixel mixes it with the paint beside it)
        assert paint - trim > 20 and min(paint - seam, seam - trim) > 0.25 * (paint - trim), (paint, seam, trim)
        # the windshield has its own transmission (pamtri_glass: side and rear panes, windshield): raising one
        # lightens its panes only, the windshield's over the front plate, the side windows' further back
        def with_glass(sides, windshield):
            for obj in root.children:
                obj["pamtri_glass"] = [sides, windshield, 0.0]
            return render(f"glass_{sides}_{windshield}")

        dim = with_glass(0.05, 0.05)
        clear_windshield = (with_glass(0.05, 0.9) - dim).max(axis=2) > 12
        clear_sides = (with_glass(0.9, 0.05) - dim).max(axis=2) > 12
        assert clear_windshield.sum() >= 30 and clear_sides.sum() >= 30, (clear_windshield.sum(), clear_sides.sum())
        assert (clear_windshield & clear_sides).sum() < 0.1 * min(clear_windshield.sum(), clear_sides.sum())
        column = {name: np.argwhere(mask)[:, 1].mean() for name, mask in
                  (("windshield", clear_windshield), ("sides", clear_sides), ("plate", shown["plate_front"]))}
        assert abs(column["windshield"] - column["plate"]) + 15 < abs(column["sides"] - column["plate"]), column


@pytest.mark.blender
@pytest.mark.skipif(BVHTree is None, reason="bpy not installed")
def test_a_truck_rear_shows_its_plate_number_enlarged_and_reading_left_to_right(tmp_path):
    """Seen from behind, the box van's enlarged rear number is the identity's plate texture, the right way round
    (its pixels, rectified, match the plate far better than the plate mirrored)."""
    import bpy
    import cv2
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from synth.appearance import plate_texture
    from synth.blender.vehicle_sheet import _place_camera
    from synth.blender.vehicles import REFERENCE_RGB, plain_look, set_look

    p = sample_params("truck", model_rng(2, "truck", 1), body_style="box_van")
    parts = build_vehicle_mesh(p)
    v = np.asarray(parts["details"].verts)
    quad = next(v[list(f)] for f, m in zip(parts["details"].faces, parts["details"].materials) if m == "rear_number")
    width, height = 320, 240
    with _studio(tmp_path, p, "truck_t", width, height, 4) as (scene, cam, root, asset, render):
        white = REFERENCE_RGB["white"]
        set_look(root, asset, white)
        _place_camera(cam, asset, 180.0, 6.0, width, height)
        image = cv2.cvtColor(render("rear").astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        bpy.context.view_layer.update()
        corners = []
        for q in quad:  # (+y, low), (-y, low), (-y, high), (+y, high): seen from behind, left low first
            c = world_to_camera_view(scene, cam, Vector(q.tolist()))
            corners.append((c.x * width, (1 - c.y) * height))
        size = (176, 56)
        target = np.float32([(0, size[1]), (size[0], size[1]), (size[0], 0), (0, 0)])
        warp = cv2.getPerspectiveTransform(np.float32(corners), target)
        seen = cv2.warpPerspective(image, warp, size)
        plate = cv2.cvtColor(plate_texture(plain_look(asset, white)), cv2.COLOR_RGB2GRAY).astype(np.float32)
        plate = cv2.resize(plate, size, interpolation=cv2.INTER_AREA)

        def corr(a, b):  # on the characters' strokes, not on the render's noise (4 samples, no denoiser)
            a, b = (cv2.GaussianBlur(im, (0, 0), 2.0) for im in (a, b))
            a, b = a - a.mean(), b - b.mean()
            return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

        assert np.ptp(seen) > 60  # dark characters on a light ground
        right, mirrored = corr(seen, plate), corr(seen, plate[:, ::-1])
        assert right > 0.4 and right > mirrored + 0.2, (right, mirrored)  # (0.57 and 0.17 when written)


@pytest.mark.blender
@pytest.mark.skipif(BVHTree is None, reason="bpy not installed")
def test_a_bus_s_destination_sign_glows_amber_over_its_windshield(tmp_path):
    """Front view of a city bus: giving the LED glyphs the black trim's material darkens pixels at the top of
    the windshield, and those pixels are amber in the full render (lit glyphs, not a painted strip)."""
    from synth.blender.vehicle_sheet import _place_camera
    from synth.blender.vehicle_materials import material_kind

    p = sample_params("bus", model_rng(2, "bus", 1), body_style="city")
    with _studio(tmp_path, p, "bus_t", 200, 150, 4) as (scene, cam, root, asset, render):
        scene.cycles.seed = 1
        _place_camera(cam, asset, 0.0, 8.0, 200, 150)
        full = render("full")[..., ::-1]  # RGB
        details = next(o for o in root.children if o.name.split(".")[1] == "details")
        slots = {material_kind(s.material): s for s in details.material_slots}
        led = slots["led"].material
        slots["led"].material = slots["trim"].material
        dark = render("dark")[..., ::-1]
        slots["led"].material = led
        glyphs = (full - dark).max(axis=2) > 25
        assert glyphs.sum() >= 10, glyphs.sum()
        high = glyphs & (np.arange(full.shape[0]) < 0.45 * full.shape[0])[:, None]
        assert high.sum() >= 0.8 * glyphs.sum()  # over the windshield, high on the front (the rest: sampling noise)
        r, g, b = full[high].mean(axis=0)
        assert r > 120 and r > 1.4 * g > 1.4 * b, (r, g, b)


@pytest.mark.blender
@pytest.mark.skipif(BVHTree is None, reason="bpy not installed")
def test_glossy_paint_mirrors_the_clouds_and_diffuse_light_stays_smooth(tmp_path):
    """A black car seen from above under a cloudy sky: its clear coat mirrors the clouds (the world shows them to
    glossy rays, synth/blender/sky.py), so its paint brightens in patches, while the matte ground, lit by
    diffuse rays that see no clouds, hardly changes."""
    from synth.blender.sky import set_sky
    from synth.blender.vehicle_sheet import _place_camera
    from synth.blender.vehicles import REFERENCE_RGB, set_body_color

    p = sample_params("sedan", model_rng(3, "sedan", 0))
    with _studio(tmp_path, p, "sedan_t", 160, 120, 8) as (scene, cam, root, asset, render_view):
        scene.cycles.seed = 1
        ground = next(o for o in scene.collection.objects if o.name.startswith("ground"))
        ground.active_material.node_tree.nodes["Principled BSDF"].inputs["Roughness"].default_value = 1.0
        ground.active_material.node_tree.nodes["Principled BSDF"].inputs["Specular IOR Level"].default_value = 0.0
        set_body_color(root, asset, REFERENCE_RGB["black"], force=True)
        _place_camera(cam, asset, 30.0, 45.0, 160, 120)

        def render(name, cover):
            set_sky(scene, (0.8, 0.85, 0.9), (0.35, 0.5, 0.85), (0.25, 0.25, 0.25), 0.0, 0.9, cloud_cover=cover,
                    cloud_rgb=(2.5, 2.5, 2.5))
            return render_view(name).mean(axis=2)

        clear, cloudy = render("clear", 0.0), render("cloudy", 0.8)
        set_body_color(root, asset, REFERENCE_RGB["white"], force=True)
        paint = np.abs(render("white", 0.0) - clear) > 40  # the paint's pixels (not the glass: it has its own sky)
        lift = cloudy - clear
        assert paint.sum() > 300 and (lift[paint] > 15).sum() > 0.05 * paint.sum()  # patches of mirrored cloud
        border = np.ones_like(paint)
        border[8:-8, 8:-8] = False  # the matte ground round the car
        assert np.abs(lift[border]).mean() < 0.1 * np.abs(lift[paint]).mean()


@functools.lru_cache(maxsize=None)
def _shipped(name):
    """A model of the shipped library plan and its parts (built once; none of the tests changes them)."""
    p = next(spec.params for spec in library_plan() if spec.name == name)
    return p, build_vehicle_mesh(p)


@pytest.mark.parametrize("name,upright", [("truck_001", False), ("bus_000", False), ("bus_002", True)])
def test_a_truck_s_or_bus_s_wipers_lie_on_its_windshield_parked_along_the_base_or_standing_up(name, upright):
    """Trucks and buses carry two wipers on their upright windshields (a bus's 2 m pane with nothing on it read
    as a black slab): on the glass, both halves of it, clear of the corners' keypoints; parked along the base,
    or on some buses standing up the glass from pivots under its halves."""
    from synth.vehicles.heavy import UPRIGHT_WIPER_PROB

    p, parts = _shipped(name)
    assert (p.type_name == "bus" and style_rng(p, 35).random() < UPRIGHT_WIPER_PROB) == upright
    kp = keypoints(p)
    corner_y = abs(kp[15, 1])
    trim = _verts_of(parts["details"], {"trim"})
    # on the windshield's plane: above its base, under the sign, off the centre pillar, inside the corners
    glass_x = kp[15, 0] - (trim[:, 2] - p.cowl) / np.tan(np.radians(p.ws_rake))
    wiper = trim[(np.abs(trim[:, 0] - glass_x) < 0.05) & (trim[:, 2] > p.cowl + 0.02) & (trim[:, 2] < p.roof_z - 0.35)
                 & (np.abs(trim[:, 1]) > 0.04) & (np.abs(trim[:, 1]) < corner_y)]
    assert len(wiper), "no wipers on the windshield"
    assert wiper[:, 1].max() > 0.3 * corner_y and wiper[:, 1].min() < -0.3 * corner_y  # one on each half
    assert np.abs(wiper[:, 1]).max() < 0.85 * corner_y  # clear of the corners' keypoints
    glass = _surface_samples(_only(parts["body"], "glass"), near=wiper)
    assert cKDTree(glass).query(wiper)[0].max() < 0.035  # resting on the glass (a 13 mm tube, 4 mm off it)
    rise = np.ptp(wiper[:, 2])
    assert (rise > 0.5) if upright else (rise < 0.12)


@pytest.mark.parametrize("name,ears", [("bus_000", True), ("bus_003", False)])
def test_city_buses_and_coaches_hang_their_mirrors_forward_from_the_roof_clear_of_the_keypoints(name, ears):
    """Most city buses and coaches carry their mirrors on arms from the roof's front corners, the heads
    hanging in front of the windshield's outer edges just outside the body (the two ears of every frontal view);
    others keep door mirrors at the windshield's base. The heads stay outside the columns of the front
    keypoints, so the labels of a frontal view are unchanged."""
    from synth.vehicles.buses import has_rabbit_ears

    p, parts = _shipped(name)
    assert has_rabbit_ears(p) == ears
    prof = Profile(p)
    kp = keypoints(p)
    heads = _verts_of(parts["details"], {"chrome", "trim", "metal_dark"})
    ahead = heads[heads[:, 0] > prof.x_front + 0.2]
    if not ears:
        assert len(ahead) == 0
        return
    assert ahead[:, 1].max() > 0 > ahead[:, 1].min()  # both sides
    assert np.abs(ahead[:, 1]).min() > np.abs(kp[[14, 15, 32, 33], 1]).max()  # outside the keypoints' columns
    assert np.all((ahead[:, 2] > p.cowl + 0.3) & (ahead[:, 2] < p.roof_z))  # by the windshield's upper half
    assert np.abs(ahead[:, 1]).max() < p.width / 2 + 0.3


@pytest.mark.parametrize("name", ["truck_000", "truck_001"])
def test_a_truck_s_bumper_stands_out_of_its_face_with_the_plate_in_a_recess_and_fog_lamps(name):
    """A truck's bumper is a bar standing out of the cab's face across its width (a thin flat patch read as a
    painted stripe), in one of its finishes, with a recess for the plate and a fog lamp near each end; it stops
    inside the face's lower corners, whose keypoints stay on show."""
    from synth.vehicles.trucks import BUMPER_DEPTH, BUMPER_FINISHES

    p, parts = _shipped(name)
    prof, kp = Profile(p), keypoints(p)
    details = parts["details"]
    low = lambda v: v[(v[:, 2] < p.nose_bottom + 0.35) & (v[:, 0] > prof.x_front - 0.1)]  # noqa: E731
    finishes = [m for m, _ in BUMPER_FINISHES if len(low(_verts_of(details, {m})))]
    bar = np.concatenate([low(_verts_of(details, {m})) for m in finishes])
    face_x = prof.x_front
    proud = bar[bar[:, 0] > face_x + BUMPER_DEPTH - 0.01]
    assert len(proud) and proud[:, 1].max() > 0.8 * abs(kp[17, 1]) and proud[:, 1].min() < -0.8 * abs(kp[17, 1])
    assert np.abs(proud[:, 1]).max() < abs(kp[17, 1])  # inside the lower corners
    assert proud[:, 2].min() > kp[17, 2]
    plate = np.asarray(parts["plate_front"].verts)
    assert plate[:, 0].max() < proud[:, 0].max()  # the plate stands back in its recess
    in_front_of_plate = proud[(np.abs(proud[:, 1]) < 0.2) & (proud[:, 2] > plate[:, 2].min())]
    assert len(in_front_of_plate) == 0  # nothing covers it
    fog = _verts_of(details, {"lens_clear"})
    fog = fog[(fog[:, 2] < proud[:, 2].max()) & (fog[:, 0] > face_x + BUMPER_DEPTH)]
    assert fog[:, 1].max() > 0.4 * abs(kp[17, 1]) and fog[:, 1].min() < -0.4 * abs(kp[17, 1])


@pytest.mark.parametrize("name,fairing", [("bus_000", True), ("bus_001", False), ("bus_003", False)])
def test_a_bus_roof_carries_hatches_and_its_style_s_units_inside_the_roof_corners(name, fairing):
    """A raised camera sees a bus's roof more than any other face: two escape hatches (a painted lid in a black
    seal) on every bus, an air conditioning unit on city buses and coaches, on some city buses a long fairing
    from behind the windshield; all on the centreline, inside the roof corners' keypoints, none on another."""
    from synth.vehicles.buses import ROOF_FAIRING_PROB

    p, parts = _shipped(name)
    prof, kp = Profile(p), keypoints(p)
    assert (style_of(p) == "city" and style_rng(p, 38).random() < ROOF_FAIRING_PROB) == fairing
    corner_y = min(abs(kp[14, 1]), abs(kp[13, 1]))
    d = parts["details"]
    verts = np.asarray(d.verts)
    on_roof = [(m, verts[list(f)]) for f, m in zip(d.faces, d.materials)
               if verts[list(f)][:, 2].min() > p.roof_z - 0.05 and abs(verts[list(f)][:, 1]).max() < corner_y]
    seals = np.array([v.mean(axis=0) for m, v in on_roof if m == "trim"])
    # the seals' boxes, one per hatch: their centres cluster in two places along x
    xs = np.unique(np.round(seals[:, 0], 1))
    assert len(seals) and np.ptp(seals[:, 0]) > 2.0 and len(xs) >= 2
    units = np.concatenate([v for m, v in on_roof if m == "paint"])
    lengths = np.ptp(units[:, 0])
    if style_of(p) == "school":
        assert np.ptp(units[:, 2]) < 0.1  # the hatches' lids only
    else:
        assert units[:, 2].max() > p.roof_z + p.roof_crown + 0.15  # a unit stands on the roof
    if fairing:
        assert lengths > 5.0 and units[:, 0].max() > prof.x_front - 1.0  # from just behind the windshield
    # nothing over the roof corners' keypoints
    every = np.asarray(d.verts)
    high = every[every[:, 2] > p.roof_z + 0.02]
    near = high[np.abs(high[:, 1]) > corner_y - 0.02]
    assert len(near) == 0 or np.all(np.linalg.norm(near[:, None, :] - kp[None, [13, 14, 31, 32]], axis=2) > 0.1)


@pytest.mark.parametrize("name", ["bus_000", "bus_003"])
def test_riders_sit_in_a_share_of_a_bus_s_seats_on_both_sides(name):
    """A bus in traffic carries people: riders sit in 15-60 % of its seats (a share per model), on both sides,
    each on a seat (their heads over the seat rows), besides the driver; an empty bus was a tell."""
    from synth.vehicles.buses import RIDER_SHARE

    p, parts = _shipped(name)
    cabin = parts["cabin"]
    verts = np.asarray(cabin.verts)
    def centre(kind):
        return np.array([verts[list(f)].mean(axis=0) for f, m in zip(cabin.faces, cabin.materials) if m == kind])

    def clusters(points, radius=0.3):  # seats and heads stand 0.8 m apart along the bus, 1.1 m across
        found = []
        for c in points[:, :2]:
            if not any(np.linalg.norm(c - f) < radius for f in found):
                found.append(c)
        return np.array(found)

    heads = clusters(centre("hair"))
    cushions = np.array([verts[list(f)].mean(axis=0) for f, m in zip(cabin.faces, cabin.materials)
                         if m == "bus_seat" and np.ptp(verts[list(f)][:, 2]) < 1e-9])  # level faces: cushions'
    n_seats = len(clusters(cushions))
    riders = len(heads) - 1  # the driver
    assert n_seats >= 10 and RIDER_SHARE[0] * n_seats * 0.5 <= riders <= RIDER_SHARE[1] * n_seats * 1.5 + 1, \
        (riders, n_seats)
    others = heads[np.abs(heads[:, 0] - heads[:, 0].max()) > 0.5]
    assert (others[:, 1] > 0).any() and (others[:, 1] < 0).any()


def test_a_share_of_the_cars_carry_a_chrome_moulding_along_the_side_windows_base():
    """Over the shipped plan: saloons most, a share of the cars wear a chrome strip along their side windows'
    base (the bright line that catches the sky on real saloons and SUVs): on both sides, along the beltline
    under the windows, between the windshield's and the rear window's bottom corners, on the body."""
    from synth.vehicles.parts import BELT_CHROME_PROB, belt_chrome

    cars = [spec.params for spec in library_plan() if spec.params.type_name not in ("bus", "truck")]
    chromed = 0
    for p in cars[::3]:
        prof = Profile(p)
        body = loft_body(prof, 0.06)
        mesh = Mesh()
        belt_chrome(mesh, Caster(body), prof, style_rng(p, 40))
        part = mesh.part()
        if not part.faces:
            continue
        chromed += 1
        v = np.asarray(part.verts)
        kp = keypoints(p)
        assert set(part.materials) == {"chrome"}
        assert np.allclose(np.sort(v[:, 1]), np.sort(-v[:, 1]), atol=1e-6)  # both sides, mirrored
        belt = np.asarray(prof.belt(v[:, 0]), float)
        assert np.all(np.abs(v[:, 2] - belt) < 0.03)  # along the beltline
        assert v[:, 0].max() < kp[15, 0] and v[:, 0].min() > min(kp[12, 0], kp[11, 0])  # between the glass corners
        assert cKDTree(_surface_samples(body, near=v)).query(v)[0].max() < 0.02  # on the body
    share = chromed / len(cars[::3])
    assert 0.1 < share < 0.6, share
    assert min(BELT_CHROME_PROB.values()) > 0.15  # saloons, estates, SUVs and MPVs more often than the rest


@pytest.mark.parametrize("style", ["stake", "dump"])
def test_a_stake_or_dump_truck_s_bed_is_open_down_to_its_floor_inside_its_sides(style):
    """Seen from above, a stake or dump body is sides round a floor (the loft's own surface: rays down the middle
    of the bed meet the deck at its floor height), not a lid at the top of the sides; its tailgate keeps the
    rear corner keypoints on its top."""
    p, parts = _styled("truck", style)
    prof, k = Profile(p), Profile(p).keyx
    floor = p.box_floor + BED_FLOOR
    xs = np.linspace(k["bed_rear"] + 0.1, k["bed_front"] - 0.1, 12)
    ys = np.linspace(-1, 1, 7) * (float(prof.half_width(0.5 * (xs[0] + xs[-1]))) - BED_WALL - 0.06)
    origins = np.array([(x, y, prof.box_top + 0.5) for x in xs for y in ys])  # (within the caster's reach)
    down = np.array([0.0, 0.0, -1.0])
    first = _first_hit_materials(parts["body"], origins, down)
    assert set(first) == {deck_material(p)}, Counter(first)
    hits, _, ok = Caster(parts["body"]).cast(origins, np.broadcast_to(down, origins.shape))
    assert ok.all() and np.allclose(hits[:, 2], floor, atol=1e-3)
    # the sides stand 0.35 m or more over the floor at the full body width: rays across the bed at that height
    # meet the paint of a side from either way
    for s in (1, -1):
        across = np.array([(x, s * 2.0, floor + 0.35) for x in xs])
        hits, _, ok = Caster(_only(parts["body"], "paint")).cast(across, np.broadcast_to((0.0, -s, 0.0), (len(xs), 3)))
        assert ok.all() and np.all(np.abs(hits[:, 1]) > np.asarray(prof.half_width(xs)) - 0.015)
    # the rear corner keypoints on the tailgate's top, behind the bed
    kp = keypoints(p)
    assert np.all(kp[[13, 31], 0] < k["bed_rear"]) and np.allclose(kp[[13, 31], 2], prof.box_top, atol=0.02)


def test_a_dump_body_s_load_fills_it_wall_to_wall_heaped_in_the_middle_or_leaves_it_empty():
    p, parts = _styled("truck", "dump")
    prof, k = Profile(p), Profile(p).keyx
    floor, top = p.box_floor + BED_FLOOR, prof.box_top
    paint = Caster(_only(parts["body"], "paint"))
    seen = set()
    for seed in range(30):
        mesh = Mesh()
        _dump_load(mesh, prof, np.random.default_rng(seed))
        part = mesh.part()
        if not part.faces:
            seen.add("")
            continue
        kind, = set(part.materials)
        seen.add(kind)
        v = np.asarray(part.verts)
        # from the tailgate to the headboard, its edges a centimetre into the inner walls
        assert v[:, 0].min() < k["bed_rear"] and v[:, 0].max() > k["bed_front"]
        edge = v[np.abs(v[:, 1]) == np.abs(v[:, 1]).max()]
        assert edge[:, 2].max() < top  # the rim stands round it
        middle = v[np.abs(v[:, 1]) < 0.2]
        assert middle[:, 2].max() > edge[:, 2].min() + 0.1 and v[:, 2].min() > floor + 0.3 * (top - floor)
        # every left edge vertex is inside the wall: a ray from inside the bed at its height meets the wall's inner
        # face inboard of it (no gap between the load and the wall)
        left = edge[edge[:, 1] > 0]
        hits, _, ok = paint.cast(left * (1.0, 0.0, 1.0), np.broadcast_to((0.0, 1.0, 0.0), left.shape))
        assert ok.all() and np.all(hits[:, 1] < left[:, 1])
    assert seen == {name for name, _ in DUMP_LOADS}


def test_stake_loads_are_nothing_a_roped_tarpaulin_or_stacked_cartons_all_inside_the_bed():
    seen = {}
    for seed in range(40):
        mesh = Mesh()
        _stake_load(mesh, -2.0, 1.5, 1.0, 1.2, 1.8, np.random.default_rng(seed))
        part = mesh.part()
        kinds = set(part.materials)
        kind = ("empty" if not kinds else "tarp" if kinds & set(TARPS) else "goods")
        seen.setdefault(kind, part)
        if kinds:
            v = np.asarray(part.verts)
            assert v[:, 0].min() >= -2.05 and v[:, 0].max() <= 1.55 and np.abs(v[:, 1]).max() <= 1.05
    assert set(seen) == {name for name, _ in STAKE_LOADS}
    tarp = seen["tarp"]
    cloth = _verts_of(tarp, TARPS)
    assert cloth[:, 2].max() > 1.8 + 0.2  # the load stands over the sides
    assert "trim" in _mats(tarp)  # the ropes across it
    goods = seen["goods"]
    boxes = _verts_of(goods, ("cardboard", "deck_wood"))
    assert abs(boxes[:, 2].min() - 1.2) < 0.02 and len(goods.faces) >= 6 * 4  # on the floor, several of them


def test_truck_cabs_carry_amber_roof_lamps_on_a_share_door_steps_and_a_badge_clear_of_the_keypoints():
    with_lamps = 0
    for i in range(10):
        p, parts = _built("truck", 5, i)
        prof, k = Profile(p), Profile(p).keyx
        kp = keypoints(p)
        details = parts["details"]
        amber = _verts_of(details, ("lens_amber",))
        roof = amber[amber[:, 2] > p.roof_z - 0.05]
        if len(roof):
            with_lamps += 1
            # across the cab's front edge, behind the windshield's top corners and 8 cm or more from them
            assert np.all((roof[:, 0] < k["14"]) & (roof[:, 0] > k["14"] - 0.2))
            assert cKDTree(roof).query(kp[[14, 32]])[0].min() > 0.08
        # a black step under each door, ahead of the front wheel, clear of the arch's and the face's keypoints
        trim = _verts_of(details, ("trim",))
        _, radius, _ = prof.arch
        steps = trim[(trim[:, 2] < p.sill + 0.05) & (trim[:, 0] > k["fa"] + radius) & (trim[:, 0] < k["17"] - 0.1)]
        assert (steps[:, 1] > 0).any() and (steps[:, 1] < 0).any()
        assert cKDTree(steps).query(kp[[2, 3, 17, 20, 21, 35]])[0].min() > 0.04
        # the maker's badge on the face's middle
        chrome = _verts_of(details, ("chrome",))
        badge = chrome[(chrome[:, 0] > prof.x_front - 0.05) & (np.abs(chrome[:, 1]) < 0.16)
                       & (chrome[:, 2] > p.hood_front - 0.2)]
        assert len(badge) and badge[:, 0].max() > prof.x_front  # standing out of the face
    assert 2 <= with_lamps <= 9


def test_a_pickup_bed_shows_its_wheel_houses_on_a_floor_lined_in_black_or_painted():
    kinds = [deck_material(sample_params("pickup", model_rng(11, "pickup", i))) for i in range(20)]
    assert 0.3 < kinds.count("bed_liner") / len(kinds) < 0.8
    for floor_kind in ("bed_liner", "paint"):  # one pickup of each
        p, parts = _built("pickup", 11, kinds.index(floor_kind))
        prof, k = Profile(p), Profile(p).keyx
        # straight down into the bed: the floor, or over the rear wheel a wheel house standing on it
        y_wall, z_floor = prof.half_loop([prof.x_rear_axle])[0][R_GTOP]
        x_mid = 0.5 * (k["bed_rear"] + k["bed_front"])
        origins = np.array([(x_mid, 0.0, z_floor + 1.0), (prof.x_rear_axle, y_wall - 0.1, z_floor + 1.0),
                            (prof.x_rear_axle, 0.1 - y_wall, z_floor + 1.0)])
        want = np.array([prof.half_loop([x_mid])[0][R_GTOP][1], z_floor + 0.1, z_floor + 0.1])
        bed = merge_parts([parts["body"], parts["details"]])
        hits, _, ok = Caster(bed).cast(origins, np.tile((0.0, 0.0, -1.0), (3, 1)))
        assert ok.all() and np.all(hits[:, 2] > want - 0.005), (floor_kind, hits[:, 2], want)
        # (the floor's material alone meets the rays where the whole does: it is what they meet first)
        own, _, own_ok = Caster(_only(bed, floor_kind)).cast(origins, np.tile((0.0, 0.0, -1.0), (3, 1)))
        assert own_ok.all() and np.allclose(own, hits, atol=1e-6)


def test_a_share_of_the_cars_carry_a_shark_fin_antenna_on_the_roof_ahead_of_the_rear_window():
    drawn = [style_rng(p, 54).random() < ANTENNA_PROB
             for p in (sample_params(t, model_rng(11, t, i)) for t in ("sedan", "suv", "hatchback") for i in range(10))]
    assert 0.3 < np.mean(drawn) < 0.8
    models = (_built(t, 11, 0) for t in ("sedan", "suv", "hatchback", "estate", "mpv"))
    p, parts = next((p, parts) for p, parts in models if style_rng(p, 54).random() < ANTENNA_PROB)
    k = Profile(p).keyx
    v = np.asarray(parts["details"].verts)
    fin = v[(np.abs(v[:, 1]) < 0.05) & (v[:, 0] > k["13"]) & (v[:, 0] < k["13"] + 0.45) & (v[:, 2] > p.roof_z - 0.1)]
    assert len(fin) >= 8
    assert 0.04 < fin[:, 2].max() - fin[:, 2].min() < 0.09  # a fin a few centimetres tall on the roof
    assert cKDTree(fin).query(keypoints(p)[[13, 14, 31, 32]])[0].min() > 0.2
