"""The car body loft (synth/vehicles/geometry.py) and its body styles (synth/vehicles/params.py): keypoints on the
surface and mirrored for every type and style, a closed smooth loft, determinism, styles that really differ."""
from __future__ import annotations

import numpy as np
import pytest

from synth.vehicles.geometry import (CREASE_ROWS, DENSE_LAYOUT, N_ROWS, R_BELT, R_GTOP, R_LIGHT, R_REDGE, R_SILL, R_TOP_C,
                                     ROCKER_TUCK, ROW_DENSE, WIDE_D_PILLAR, Profile, keypoints, pillar_material,
                                     side_windows)
from synth.vehicles.loft import loft_body
from synth.vehicles.params import BODY_STYLES, VEHICLE_TYPES, library_plan, model_rng, sample_params, style_cycle

TYPE_STYLES = [(t, s) for t in VEHICLE_TYPES for s in (BODY_STYLES.get(t) or [None])]
CAR_TYPES = [t for t in VEHICLE_TYPES if t not in ("bus", "truck")]  # the loft's styles (heavy ones: parts)


def _params(type_name, style, i=0):
    return sample_params(type_name, np.random.default_rng([41, i, len(type_name)]), body_style=style)


def _edges(part) -> np.ndarray:
    edges = [(f[i], f[(i + 1) % len(f)]) for f in part.faces for i in range(len(f))]
    return np.array(edges)


def _distance_to_edges(points, verts, edges) -> np.ndarray:
    """Distance of each point to the nearest mesh edge (a point on an edge is on the surface)."""
    a, b = verts[edges[:, 0]], verts[edges[:, 1]]
    ab = b - a
    out = []
    for q in points:
        t = np.clip(np.einsum("ij,ij->i", q - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-18), 0, 1)
        out.append(np.min(np.linalg.norm(a + t[:, None] * ab - q, axis=1)))
    return np.array(out)


@pytest.mark.parametrize("type_name,style", TYPE_STYLES)
def test_keypoints_lie_on_the_body_and_are_mirrored(type_name, style):
    for i in range(2):
        p = _params(type_name, style, i)
        kp = keypoints(p)
        np.testing.assert_array_equal(kp[18:], kp[:18] * np.array([1.0, -1.0, 1.0]))
        body = loft_body(Profile(p), 0.06)  # the loft as build_vehicle_mesh makes it, without dressing it (fast)
        # 2..17 (all but the wheel hubs) lie on edges of the body loft: loop vertices or points of a loop (within
        # a millimetre: a keypoint's station may merge with another less than 1.5 mm away)
        dist = _distance_to_edges(np.concatenate([kp[2:18], kp[20:36]]), np.asarray(body.verts), _edges(body))
        assert dist.max() < 1e-3, (type_name, style, i, dist.round(4))


def test_dense_loop_keeps_the_rows_exact_and_rounds_between_them():
    p = _params("sedan", "notchback")
    prof = Profile(p)
    xs = prof.stations()
    rows, dense = prof.half_loop(xs), prof.dense_half_loop(xs)
    assert dense.shape[1] == len(DENSE_LAYOUT) >= N_ROWS + 10
    for r in range(N_ROWS):
        np.testing.assert_array_equal(dense[:, ROW_DENSE[r]], rows[:, r])
    # over the roof (mid-roof station) the loop turns by less than the 35-degree auto-smooth angle between
    # consecutive segments away from the creases: shaded smooth, no facets
    x_roof = (prof.keyx["13"] + prof.keyx["14"]) / 2
    loop = prof.dense_half_loop([x_roof])[0]
    seg = np.diff(loop, axis=0)
    keep = np.linalg.norm(seg, axis=1) > 1e-4
    turn = []
    for d in range(1, len(seg)):
        r = DENSE_LAYOUT[d][0] if DENSE_LAYOUT[d][1] == 0.0 else None
        if keep[d - 1] and keep[d] and r not in CREASE_ROWS and d >= ROW_DENSE[R_BELT] + 1:
            c = seg[d - 1] @ seg[d] / np.linalg.norm(seg[d - 1]) / np.linalg.norm(seg[d])
            turn.append(np.degrees(np.arccos(np.clip(c, -1, 1))))
    assert len(turn) >= 6 and max(turn) < 35.0, np.round(turn, 1)
    # the side profile has no step where the windshield meets the hood: the top's slope changes gradually
    x = np.linspace(prof.keyx["15"] - 0.3, prof.keyx["15"] + 0.3, 121)
    slope = np.degrees(np.arctan(np.gradient(prof.top(x), x)))
    assert np.abs(np.diff(slope)).max() < 8.0


@pytest.mark.parametrize("type_name", ["sedan", "suv", "pickup", "van"])
def test_body_loft_is_closed(type_name):
    """Every edge of the body (loft, caps, handles) is shared by exactly two faces once the loft's collapsed
    rows are merged, as the Blender import does."""
    body = loft_body(Profile(_params(type_name, None)), 0.06)  # build_vehicle_mesh's body, without dressing it
    _, ids = np.unique(np.round(np.asarray(body.verts) / 1e-5).astype(np.int64), axis=0, return_inverse=True)
    ids = ids.ravel()
    count = {}
    for f in body.faces:
        loop = [int(ids[v]) for v in f]
        loop = [v for i, v in enumerate(loop) if v != loop[i - 1]]
        if len(set(loop)) < 3:
            continue
        for i in range(len(loop)):
            e = tuple(sorted((loop[i], loop[(i + 1) % len(loop)])))
            count[e] = count.get(e, 0) + 1
    bad = [e for e, n in count.items() if n != 2]
    assert len(bad) <= 0.002 * len(count), (len(bad), len(count))
    assert len(body.faces) == len(body.materials) and np.all(np.isfinite(body.verts))
    assert {"paint", "glass", "trim"} <= set(body.materials)


def test_build_is_deterministic_and_styles_are_recorded():
    a, b = library_plan(2019), library_plan(2019)
    assert [s.params for s in a] == [s.params for s in b]
    styles = {(s.params.type_name, s.params.body_style) for s in library_plan(2019, n=120)}
    for t in CAR_TYPES:
        names = BODY_STYLES[t]
        assert {(t, n) for n in names} <= styles, t
        assert len(names) >= 4 and style_cycle(t)[0] == next(iter(names))
    p = a[0].params
    assert p.to_dict()["body_style"] == p.body_style != ""
    # the body loft as build_vehicle_mesh makes it (its parts' determinism: test_vehicle_parts.py)
    m1, m2 = loft_body(Profile(p), 0.06), loft_body(Profile(p), 0.06)
    np.testing.assert_array_equal(m1.verts, m2.verts)
    assert m1.faces == m2.faces and m1.materials == m2.materials
    with pytest.raises(ValueError, match="body style"):
        sample_params("sedan", np.random.default_rng(0), body_style="limousine_x")


@pytest.mark.parametrize("type_name", CAR_TYPES)
def test_styles_differ_in_shape(type_name):
    """The styles of a type are profile families: averaged over models, every two differ somewhere along the
    side profile (greenhouse top at the same distance from the nose or the tail, or length) by more than 6 cm."""
    d = np.linspace(0.1, 2.0, 20)  # metres from either end
    signature = {}
    for style in BODY_STYLES[type_name]:
        sig = []
        for i in range(6):
            prof = Profile(_params(type_name, style, i))
            sig.append(np.concatenate([prof.top(prof.x_end + d), prof.top(prof.x_front - d), [prof.length]]))
        signature[style] = np.mean(sig, axis=0)
    names = list(signature)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            gap = np.abs(signature[names[i]] - signature[names[j]]).max()
            assert gap > 0.06, (type_name, names[i], names[j], round(gap, 3))


try:
    import bpy
except ImportError:
    bpy = None


def _check_styles_on_the_blender_surface(type_styles, tmp_path):
    """Blender's BVH of each saved model (after merging and normal fixes) has every keypoint within 5 mm."""
    from synth.blender.vehicle_mesh import write_model
    from synth.blender.vehicles import check_asset_surface
    from synth.vehicles import load_asset
    from synth.vehicles.params import ModelSpec

    for type_name, style in type_styles:
        spec = ModelSpec(f"{type_name}_{style}", _params(type_name, style), 41, 0, None)
        asset = load_asset(write_model(spec, tmp_path))
        dist = check_asset_surface(asset, tol=0.005)
        assert dist.max() < 0.005, (spec.name, dist.max())


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_car_shapes_on_the_blender_surface(tmp_path):
    """A notchback, an open bed and a tall van through Blender (the export path is the same for every type and
    style; every style's keypoints are checked on the loft itself by test_keypoints_lie_on_the_body_and_are_mirrored,
    the shipped library's through Blender by tests/test_assets.py, every style's by the slow test below)."""
    _check_styles_on_the_blender_surface([(t, next(iter(BODY_STYLES[t]))) for t in ("sedan", "pickup", "van")],
                                         tmp_path)
    assert R_TOP_C == N_ROWS - 1


@pytest.mark.slow
@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_every_style_on_the_blender_surface(tmp_path):
    _check_styles_on_the_blender_surface([(t, s) for t, s in TYPE_STYLES if t in CAR_TYPES], tmp_path)  # heavy: parts


@pytest.mark.parametrize("type_name", CAR_TYPES)
def test_plan_view_is_curved(type_name):
    """Cars are curved in plan (Profile.plan): the nose and tail bow out at the centreline past their corners, the
    corners wrap round inside the bounding box's corner by their radius, the sides camber in towards the ends,
    and the greenhouse has tumblehome. The lower corner keypoints sit on that outline (the other keypoints' place on the loft:
    test_keypoints_lie_on_the_body_and_are_mirrored)."""
    for style in BODY_STYLES[type_name]:
        p = _params(type_name, style)
        prof = Profile(p)
        assert prof.plan is not None
        xs = prof.stations()  # the loft's vertices (the body's loops, left half) without dressing it: fast
        loops = prof.dense_half_loop(xs)
        v = np.concatenate([np.repeat(xs, loops.shape[1])[:, None], loops.reshape(-1, 2)], axis=1)
        paint = v
        for end, sgn in (("front", 1.0), ("rear", -1.0)):
            e = prof.plan[end]
            x_tip = prof.x_front if sgn > 0 else prof.x_end
            # the bow: the tip at the centreline stands out of the section 20 cm in from the side by most of the
            # sag, and the sag is 2-12 cm over the half width
            assert 0.02 <= e["sag"] <= 0.12 and 0.12 <= e["rc"] <= 0.36, (style, end, e)
            # the bow: at the corner circle's start the outline is behind the tip by most of the sag there
            y_in = e["w"] - e["rc"]
            assert _depth_at(prof, y_in, sgn > 0) > 0.9 * e["sag"] * (y_in / e["w"]) ** 2
            # the mesh follows it: the loft's widest point 1 cm behind the tip is well inside the side, and
            # nothing of the body comes nearer the bounding box's corner than (sqrt 2 - 1) times the radius
            near = v[np.abs(v[:, 0] - x_tip) < 0.01]
            assert np.abs(near[:, 1]).max() < e["w"] - e["rc"], (style, end)
            gap = np.hypot(np.abs(paint[:, 0] - x_tip), e["w"] - np.abs(paint[:, 1]))
            assert gap.min() > 0.9 * (np.sqrt(2) - 1) * e["rc"], (style, end, gap.min())
        # side camber: the middle of the side is wider than near the ends
        xm = 0.5 * (prof.x_front_axle + prof.x_rear_axle)
        mid = prof.half_loop([xm])[0][:, 0].max()
        assert mid - float(prof.side_half_width(prof.x_front - prof.plan["front"]["dc"])) > 0.5 * p.side_camber
        # tumblehome: the roof edge is well inside the beltline
        loop = prof.half_loop([0.5 * (prof.keyx["13"] + prof.keyx["14"])])[0]
        assert loop[R_BELT, 0] - loop[R_TOP_C - 2, 0] > 0.08
        # the lower corners lie on the plan's corner circle (the R_SILL row is 8 mm inside the outline)
        kp = keypoints(p)
        for i, end in ((17, "front"), (10, "rear")):
            e = prof.plan[end]
            x_tip = prof.x_front if end == "front" else prof.x_end
            assert abs(abs(kp[i, 0] - x_tip) - e["d_apex"]) < 1e-6
            side = float(prof.side_half_width(kp[i, 0]) + prof.flare(kp[i, 0])) - 0.008  # the R_SILL row
            assert abs(kp[i, 1] - side * e["y_apex"] / e["w"]) < 1e-6
        # every other keypoint on the loft: test_keypoints_lie_on_the_body_and_are_mirrored


@pytest.mark.parametrize("type_name", CAR_TYPES)
def test_the_wings_narrow_towards_the_lamps_and_the_bumper_corners_stand_proud(type_name):
    """At the nose the hood and the wings follow a rounder plan than the bumper (Profile.upper_plan): 10 cm
    behind the tip the beltline edge stands 4 cm or more further in from the bumper's line than along the
    sides, the rows in between blend, and from the front corner's stations back past its corner circle both
    plans are the side's again. (One plan at every height made the nose a soap bar from above.)"""
    for style in BODY_STYLES[type_name]:
        prof = Profile(_params(type_name, style))
        xm = 0.5 * (prof.x_front_axle + prof.x_rear_axle)
        x_near = prof.x_front - 0.10
        step = lambda x: prof.half_loop([x])[0][R_SILL, 0] - prof.half_loop([x])[0][R_BELT, 0]  # noqa: E731
        assert step(x_near) - step(xm) * float(prof.plan_scale(x_near)) > 0.04, style
        loop = prof.half_loop([x_near])[0]
        assert loop[R_BELT, 0] < loop[R_LIGHT, 0] < loop[R_SILL, 0]
        behind = prof.x_front - prof.upper_plan["dc"] - 0.01
        assert np.allclose(prof.row_plan_scale(behind), prof.plan_scale(behind))
        # the tail keeps one plan
        x_tail = prof.x_end + 0.10
        assert np.allclose(prof.row_plan_scale(x_tail), prof.plan_scale(x_tail))


@pytest.mark.parametrize("type_name", CAR_TYPES)
def test_doors_fall_in_from_the_character_line_to_a_tucked_rocker(type_name):
    """Between the wheels a car's side is widest at its character line and curves in to the sill (the rocker
    faces the road, as real ones do); round the arches the flare's lip keeps its place (the arch keypoints)."""
    p = _params(type_name, None)
    prof = Profile(p)
    xm = 0.5 * (prof.x_front_axle + prof.x_rear_axle)
    loop = prof.half_loop([xm])[0]
    assert loop[R_LIGHT, 0] - loop[R_SILL, 0] > 0.9 * ROCKER_TUCK
    assert loop[R_LIGHT, 0] >= loop[:R_LIGHT + 1, 0].max() - 1e-9
    kp = keypoints(p)
    for k in range(2, 10):  # the arch points: on the untucked lip
        x = kp[k, 0]
        lip = float(prof.side_half_width(x) + prof.flare(x)) - 0.008
        assert float(prof.rocker_tuck(x)) == 0.0 and abs(kp[k, 1] - lip * prof.plan_scale(x)) < 1e-6


def _depth_at(prof, y, front):
    """How far from its tip the end's outline reaches half width y (inverse of Profile._end_outline)."""
    e = prof.plan["front" if front else "rear"]
    d = np.linspace(0, e["dc"], 4001)
    return float(np.interp(y, prof._end_outline(e, d), d))


def test_bus_window_pillars_are_black_behind_the_glass_band_except_on_school_buses():
    """Most city buses and coaches show one dark band of glass (black pillars); school buses paint theirs."""
    def pillar_faces(p):
        prof = Profile(p)
        body = loft_body(prof, 0.06)
        windows = side_windows(prof)
        xs = [0.5 * (a[1] + b[0]) for a, b in zip(windows[:-1], windows[1:])]  # pillar centres
        verts = np.asarray(body.verts)
        mats = []
        for face, mat in zip(body.faces, body.materials):
            centre = verts[list(face)].mean(0)
            if any(abs(centre[0] - x) < 0.02 for x in xs) and prof.belt(x=centre[0]) + 0.3 < centre[2] < p.roof_z - 0.3:
                mats.append(mat)
        return set(mats)

    kinds = {style: [pillar_faces(_params("bus", style, i)) for i in range(8)] for style in ("city", "coach", "school")}
    for style in ("city", "coach"):
        assert sum(m == {"trim"} for m in kinds[style]) >= 4, kinds[style]
        assert all(m in ({"trim"}, {"paint"}) for m in kinds[style])
    assert all(m == {"paint"} for m in kinds["school"]), kinds["school"]


@pytest.mark.parametrize("type_name", CAR_TYPES)
def test_panels_arch_and_the_glass_wraps_round_the_cabin(type_name):
    """Real panels are stamped convex and glass wraps round the cabin (Profile.bows, glass_wrap,
    greenhouse_taper): in side view the roof and the hood stand above their straight panels by their bows;
    from above, the windshield's middle stands ahead of its sides and the rear window's behind them, and the roof
    narrows towards its rear. Their keypoints stay on the surface: test_keypoints_lie_on_the_body_and_are_mirrored."""
    for style in BODY_STYLES[type_name]:
        prof = Profile(_params(type_name, style))
        k, bows = prof.keyx, prof.bows
        p = prof.p
        for a, b, curve, straight, bow in ((k["14"], k["13"], prof.top, p.roof_z, bows["roof"]),
                                           (k["16"], k["15"], prof.belt, 0.5 * (p.hood_front + p.cowl), bows["hood"])):
            rise = float(curve(0.5 * (a + b))) - straight  # over the straight panel (the fillets end short of it)
            assert bow >= 0.01 and abs(rise - bow) < 1e-3, (style, bow, rise)
        body = loft_body(prof, 0.06)
        v = np.asarray(body.verts)
        glass = v[np.unique([i for f, m in zip(body.faces, body.materials) if m == "glass" for i in f])]
        front, rear = prof.glass_wrap
        # at the windshield's base and the rear window's top (over a short deck its base wraps less)
        y_pillar = prof.half_loop([k["15"], k["13"]])[:, R_GTOP, 0]  # the side windows' tops there
        for wrap, sgn, yp, x_edge in ((front, 1.0, y_pillar[0], k["15"]), (rear, -1.0, y_pillar[1], k["13"])):
            near = glass[np.abs(glass[:, 0] - x_edge) < 0.3]  # (both edges are the panes' foremost points)
            u = np.abs(near[:, 1]) / yp
            middle, sides = near[u < 0.1, 0].max(), near[(u > 0.6) & (u < 0.75), 0].max()
            assert 0.02 <= wrap <= 0.15 and sgn * (middle - sides) > 0.4 * wrap, (style, wrap, middle - sides)
        # the roof's edge stands in by the taper at its rear and not at its front, the body under it keeps its width
        untapered = Profile(p)
        untapered.__dict__["greenhouse_taper"] = 0.0
        inset = untapered.half_loop([k["14"], k["13"]]) - prof.half_loop([k["14"], k["13"]])
        assert prof.greenhouse_taper >= 0.01 and np.allclose(inset[:, :R_GTOP], 0.0), style
        np.testing.assert_allclose(inset[:, R_GTOP:R_REDGE + 1, 0], [[0.0, 0.0], [prof.greenhouse_taper] * 2],
                                   atol=2e-3)


@pytest.mark.parametrize("type_name", CAR_TYPES)
def test_a_car_s_windshield_and_rear_window_are_framed_by_painted_pillars(type_name):
    """Down the sides of a car's windshield and rear window runs the painted A / C pillar (the strip under the
    roof's edge): the glass stops at the roof edge's row, and paint stands between it and the door glass on both
    sides (without it the windshield ran straight into the side windows)."""
    prof = Profile(_params(type_name, None))
    k = prof.keyx
    body = loft_body(prof, 0.06)
    v = np.asarray(body.verts)
    for x0, x1 in ((k["14"], k["15"]), (k["12"], k["13"])):
        lo, hi = x0 + 0.25 * (x1 - x0), x1 - 0.25 * (x1 - x0)  # the pane's middle half, clear of its fillets
        for mat in ("glass", "paint"):
            faces = [f for f, m in zip(body.faces, body.materials) if m == mat]
            c = np.array([v[list(f)].mean(axis=0) for f in faces])
            c = c[(c[:, 0] > lo) & (c[:, 0] < hi) & (c[:, 2] > prof.belt(c[:, 0]) + 0.1)]
            section = prof.half_loop(c[:, 0])
            edge, top = section[:, R_REDGE, 0], section[:, R_GTOP, 0]  # the roof's edge, the door glass's top
            between = (np.abs(c[:, 1]) > edge + 1e-3) & (np.abs(c[:, 1]) < top - 1e-3)
            if mat == "glass":  # the pane stops at the roof's edge, the door glass below the glass top
                assert not between.any(), type_name
            else:  # the pillar: paint between them, on both sides
                assert (c[between, 1] > 0).sum() >= 3 and (c[between, 1] < 0).sum() >= 3, type_name


def test_car_pillars_black_at_the_b_pillar_on_most_body_coloured_behind_it_round_a_framed_backlight():
    """A car's B pillar is blacked out on most, its C / D pillars body colour on most (every pillar black had
    made the cabin one band of glass); an estate's, SUV's, MPV's or van's rearmost pillar is 18 cm or more of
    sheet metal, and its backlight stops 4 cm or more inside the roof's edge, framed by paint."""
    b_black = rear_paint = 0
    n = 0
    for type_name in ("sedan", "suv", "mpv", "estate", "van"):
        for i in range(12):
            prof = Profile(sample_params(type_name, model_rng(7, type_name, i)))
            windows = side_windows(prof)
            if len(windows) < 2:
                continue
            n += 1
            b_black += pillar_material(prof, windows, 0.5 * (windows[-1][0] + windows[-2][1])) == "trim"
            rear_paint += pillar_material(prof, windows, windows[0][0] - 0.02) == "paint"
            if type_name in WIDE_D_PILLAR:
                assert windows[0][0] - prof.keyx["12"] >= 0.18 - 1e-9
    assert 0.5 < b_black / n < 0.9 and 0.7 < rear_paint / n < 0.99, (b_black, rear_paint, n)
    for type_name in WIDE_D_PILLAR:
        prof = Profile(_params(type_name, None))
        k = prof.keyx
        body = loft_body(prof, 0.06)
        v = np.asarray(body.verts)
        lo, hi = k["12"] + 0.25 * (k["13"] - k["12"]), k["13"] - 0.25 * (k["13"] - k["12"])
        for mat in ("glass", "paint"):
            c = np.array([v[list(f)].mean(axis=0) for f, m in zip(body.faces, body.materials) if m == mat])
            c = c[(c[:, 0] > lo) & (c[:, 0] < hi) & (c[:, 2] > prof.belt(c[:, 0]) + 0.1)]
            edge = prof.half_loop(c[:, 0])[:, R_REDGE, 0]
            frame = (np.abs(c[:, 1]) > edge - 0.04) & (np.abs(c[:, 1]) < edge)
            if mat == "glass":
                assert len(c) and not frame.any(), type_name
            else:
                assert (c[frame, 1] > 0).sum() >= 2 and (c[frame, 1] < 0).sum() >= 2, type_name
