"""Vehicle asset library: parameter spaces, keypoints, sidecars (pure) and the Blender side (tiny builds)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from synth.vehicles import AssetError, library_plan, load_asset, load_library, mirror_error, write_sidecar
from synth.vehicles.assemble import build_vehicle_mesh
from synth.vehicles.geometry import Profile, keypoints
from synth.vehicles.params import LIBRARY_COUNTS, VEHICLE_TYPES, model_rng, sample_params
from synth.vocabulary import TYPE_NAMES

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
LABELS = ROOT.parent / "shared" / "data" / "veri_keypoints" / "label_train.csv"


@pytest.fixture(scope="module", autouse=True)
def _empty_blender():
    """The tests below load models into this process's Blender and read their materials by name: start from an
    empty file, so a model another module loaded in the same process does not push these names to ".001"."""
    try:
        import bpy
    except ImportError:  # pragma: no cover
        yield
        return
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


# --- pure: parameters and keypoints -----------------------------------------------------------------------


def test_plan_is_deterministic_and_covers_every_type():
    a, b = library_plan(7), library_plan(7)
    assert [s.params for s in a] == [s.params for s in b]
    assert [s.params for s in library_plan(8)] != [s.params for s in a]
    assert sum(LIBRARY_COUNTS.values()) >= 42 and min(LIBRARY_COUNTS.values()) >= 3
    assert {s.params.type_name for s in a} == set(TYPE_NAMES[1:])
    big = library_plan(7, n=30)
    assert len(big) == 30 and {s.params.type_name for s in big} == set(VEHICLE_TYPES)
    # model i of a type does not depend on how many models are made
    assert big[0].params == library_plan(7, n=60)[0].params


@pytest.mark.parametrize("type_name", VEHICLE_TYPES)
def test_keypoints_follow_the_spec(type_name):
    for i in range(3):
        p = sample_params(type_name, model_rng(11, type_name, i))
        prof = Profile(p)
        kp = keypoints(p)
        assert kp.shape == (36, 3)
        assert mirror_error(kp) < 1e-9
        assert np.all(kp[:18, 1] > 0.2)  # 0-17 on the left (+y)
        # wheel centres: at the axles, wheel-radius high, on the outer hub face
        np.testing.assert_allclose(kp[0], (prof.x_rear_axle, prof.hub_y, p.wheel_radius))
        np.testing.assert_allclose(kp[1], (prof.x_front_axle, prof.hub_y, p.wheel_radius))
        zc, radius, _ = prof.arch
        for wheel, base in ((1, 2), (0, 6)):
            centre = kp[wheel][[0, 2]]
            # upper arch points lie on the arch circle round the wheel centre, front one ahead of the wheel
            for k in (base + 1, base + 2):
                assert abs(np.linalg.norm(kp[k][[0, 2]] - centre) - radius) < 1e-6
            assert kp[base + 1, 0] > centre[0] > kp[base + 2, 0]
            # bottom ends sit on the sill, outside the upper points, at least the arch radius from the axle
            assert kp[base, 0] > kp[base + 1, 0] and kp[base + 3, 0] < kp[base + 2, 0]
            assert abs(kp[base, 2] - kp[base + 3, 2]) < 1e-9 and kp[base, 2] < kp[base + 1, 2]
        # over the fender flares the arch lip is the widest part of the side: the arch points stand out of it
        doors = prof.half_loop([(prof.x_front_axle + prof.x_rear_axle) / 2])[0][:, 0].max()
        assert kp[2:10, 1].min() >= doors + p.arch_flare - 0.009
        assert abs(kp[:, 1].max() - p.width / 2) < 0.009  # `width` is over the flares
        # along the car, front to back: front corners, windshield, roof, rear window, rear corners
        x = kp[:, 0]
        assert x[17] > x[15] > x[14] >= x[13] - 1e-9 and x[13] >= x[12] - 1e-9 > x[10] - 0.2
        assert x[17] > x[1] > x[0] > x[10]
        z = kp[:, 2]
        assert z[14] > z[15] > z[16] > z[17] and z[13] > z[12] and z[11] > z[10]
        assert z[14] > 1.0 and z[0] == p.wheel_radius


def test_mesh_parts_are_well_formed():
    p = sample_params("pickup", model_rng(3, "pickup", 0))
    parts = build_vehicle_mesh(p)
    assert {"body", "wheels", "details"} <= set(parts)  # and the parts of synth/vehicles/parts.py
    for part in parts.values():
        assert len(part.faces) == len(part.materials)
        top = max(max(f) for f in part.faces)
        assert top < len(part.verts) and np.all(np.isfinite(part.verts))
    mats = {m for part in parts.values() for m in part.materials}
    assert {"paint", "glass", "trim", "rubber", "chrome", "reflector", "lens_clear", "taillight", "plate", "interior"} <= mats


# --- pure: sidecars ----------------------------------------------------------------------------------------


def _sidecar(folder: Path, **overrides) -> Path:
    p = sample_params("sedan", model_rng(1, "sedan", 0))
    (folder / "model.blend").parent.mkdir(parents=True, exist_ok=True)
    (folder / "model.blend").write_bytes(b"placeholder")
    kwargs = dict(type_name="sedan", mesh="model.blend", keypoints=keypoints(p), paint_material="paint",
                  colour_policy={"mode": "paintable", "colors": ["red", "blue"]},
                  dimensions={"length": 4.5, "width": 1.8, "height": 1.45}, provenance={"source": "test"})
    kwargs.update(overrides)
    return write_sidecar(folder, **kwargs)


def test_sidecar_round_trip(tmp_path):
    _sidecar(tmp_path / "m1")
    asset = load_asset(tmp_path / "m1")
    assert asset.name == "m1" and asset.type_name == "sedan" and not asset.fixed_color
    assert asset.colors == (5, 6)
    p = sample_params("sedan", model_rng(1, "sedan", 0))
    np.testing.assert_allclose(asset.keypoints, keypoints(p), atol=1e-4)
    _sidecar(tmp_path / "m2", type_name="bus", colour_policy={"mode": "fixed", "color": "yellow"})
    lib = load_library(tmp_path)
    assert [a.name for a in lib] == ["m1", "m2"] and lib[1].fixed_color and lib[1].colors == (1,)


def test_several_directories_are_one_library_and_names_must_not_repeat(tmp_path):
    _sidecar(tmp_path / "shipped" / "b_car")
    _sidecar(tmp_path / "mine" / "a_car", type_name="bus", colour_policy={"mode": "fixed", "color": "yellow"})
    lib = load_library([tmp_path / "shipped", tmp_path / "mine"])
    assert [a.name for a in lib] == ["a_car", "b_car"] and lib[0].type_name == "bus"
    _sidecar(tmp_path / "mine" / "b_car")
    with pytest.raises(AssetError) as err:
        load_library([tmp_path / "shipped", tmp_path / "mine"])
    assert "b_car" in str(err.value) and str(tmp_path / "mine") in str(err.value)


@pytest.mark.parametrize("problem, edit", [
    ("expected 36 keypoints", lambda d: d.update(keypoints=d["keypoints"][:30])),
    ("not a VeRi type", lambda d: d.update(type="tank")),
    ("does not exist", lambda d: d.update(mesh="missing.glb")),
    ("not a VeRi colour", lambda d: d.update(colour_policy={"mode": "fixed", "color": "purple"})),
    ("left (+y)", lambda d: d.update(keypoints=[[x, -y, z] for x, y, z in d["keypoints"]])),
    ("missing field 'keypoints'", lambda d: d.pop("keypoints")),
])
def test_bad_sidecars_name_the_file(tmp_path, problem, edit):
    path = _sidecar(tmp_path / "bad")
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(AssetError) as err:
        load_library(tmp_path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_missing_or_malformed_sidecar(tmp_path):
    (tmp_path / "user_car").mkdir()
    (tmp_path / "user_car" / "car.glb").write_bytes(b"glTF")
    with pytest.raises(AssetError, match="missing sidecar"):
        load_library(tmp_path)
    (tmp_path / "user_car" / "vehicle.yaml").write_text("type: [sedan\n")
    with pytest.raises(AssetError, match="malformed YAML"):
        load_library(tmp_path)


# --- the shipped library -----------------------------------------------------------------------------------


def test_shipped_library_matches_its_generator():
    if not (ASSETS / "sedan_000" / "vehicle.yaml").exists():
        pytest.skip("assets/ not built (cli.py assets build)")
    lib = load_library(ASSETS)
    assert len(lib) >= 42
    per_type = {}
    for asset in lib:
        per_type[asset.type_name] = per_type.get(asset.type_name, 0) + 1
        assert asset.mesh_path.stat().st_size < 1_000_000
        from synth.vehicles.params import VehicleParams

        params = VehicleParams.from_dict(asset.provenance["params"])
        np.testing.assert_allclose(asset.keypoints, keypoints(params), atol=1e-4, err_msg=asset.name)
    assert set(per_type) == set(TYPE_NAMES[1:]) and min(per_type.values()) >= 3


@pytest.mark.slow
def test_full_library_on_the_surface_and_fits_real_labels():
    """Every shipped model: keypoints within 2 cm of its mesh; the whole library fits 300 real label sets."""
    if not (ASSETS / "sedan_000" / "vehicle.yaml").exists():
        pytest.skip("assets/ not built (cli.py assets build)")
    pytest.importorskip("bpy")
    from synth.blender.vehicles import check_asset_surface

    lib = load_library(ASSETS)
    try:
        for asset in lib:
            assert check_asset_surface(asset).max() < 0.02, asset.name
    finally:  # the shipped models' names (sedan_000_paint, ...) would push the tiny library's below to ".001"
        import bpy

        bpy.ops.wm.read_factory_settings(use_empty=True)
    if LABELS.exists():
        import sys

        sys.path.insert(0, str(ROOT / "bench"))
        import keypoint_fit as kf

        labels = kf.select_labels(kf.read_labels(LABELS), 300)
        templates = np.stack([a.keypoints for a in lib])
        fit = kf.run_fit(templates, labels)
        assert fit["median"] < 0.02 and max(fit["per_keypoint_median"]) < 0.035
        assert kf.run_fit(kf.mirrored(templates), labels)["median"] > fit["median"] * 1.2


def test_keypoint_fit_on_real_labels():
    """The library's keypoints mean what VeRi annotators meant: a small sample of real labels fits well, and
    better than the same templates with the sides swapped."""
    if not LABELS.exists():
        pytest.skip("real VeRi keypoint labels not present")
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import keypoint_fit as kf

    labels = kf.select_labels(kf.read_labels(LABELS), 60)
    templates = np.stack([keypoints(s.params) for s in library_plan()[::3]])  # every third model of the plan
    fit = kf.run_fit(templates, labels)
    control = kf.run_fit(kf.mirrored(templates), labels)
    assert fit["median"] < 0.02
    assert control["median"] > fit["median"] * 1.2


def test_pnp_viewpoint_recovers_the_camera():
    """The measurement behind the default azimuth weights (bench/realism.py --fit): fitting a vehicle's own
    keypoints to their projection gives back the camera's azimuth and elevation, all round the vehicle."""
    import sys

    from synth.camera import intrinsics, look_at, project, spherical_position

    sys.path.insert(0, str(ROOT / "bench"))
    import keypoint_fit as kf

    template = keypoints(sample_params("sedan", model_rng(5, "sedan", 0)))
    centre = np.array([0.0, 0.0, template[:, 2].mean()])
    size = 256
    K = intrinsics(kf.FOCAL_FACTORS[1] * size, (size - 1) / 2, (size - 1) / 2)
    for azimuth, elevation in [(8, 9), (40, 24), (100, 15), (170, 12), (205, 27), (300, 7)]:
        Rt = look_at(spherical_position(azimuth, elevation, 14.0) + centre, centre)
        uv, _ = project(K, Rt, template)
        best = kf.best_pose(template[None], uv, np.ones(len(template), bool), size, size)
        got_az, got_el = kf.camera_view(template, best["Rt"])
        assert abs((got_az - azimuth + 180) % 360 - 180) < 1.0, (azimuth, got_az)
        assert abs(got_el - elevation) < 1.0, (elevation, got_el)


def test_side_facing_test_tells_which_side_the_camera_sees():
    """The split behind bench/realism.py's facing table: read off the 2D keypoints alone, a side faces the camera
    exactly when the camera is on the outer side of the plane of its arch points; and the split rates recompose
    the overall visible rates."""
    import sys

    from synth.camera import intrinsics, look_at, project, spherical_position
    from synth.vocabulary import VIS_OCCLUDED, VIS_VISIBLE

    sys.path.insert(0, str(ROOT / "bench"))
    import facing

    template = keypoints(sample_params("suv", model_rng(5, "suv", 1)))
    centre = np.array([0.0, 0.0, template[:, 2].mean()])
    K = intrinsics(300.0, 127.5, 127.5)
    views = [(a, e) for a in range(0, 360, 7) for e in (6, 20, 35)]
    labels = []
    for azimuth, elevation in views:
        position = spherical_position(azimuth, elevation, 10.0) + centre
        uv, _ = project(K, look_at(position, centre), template)
        labels.append(np.column_stack([uv, np.full(len(uv), VIS_OCCLUDED)]))
        for side, offset in facing.SIDE_OFFSET.items():
            quad = template[[k + offset for k in facing.ARCH_QUAD]]
            normal = np.cross(quad[1] - quad[0], quad[3] - quad[0])
            normal *= np.sign(normal[1]) * (1 if side == "left" else -1)  # outwards
            distance = (position - quad.mean(0)) @ normal / np.linalg.norm(normal)
            if abs(distance) > 0.05:  # the quad is not quite flat: leave views that graze its plane
                assert facing.side_facing(labels[-1][None], side)[0] == float(distance > 0), (side, azimuth)
    labels = np.stack(labels)
    rng = np.random.default_rng(0)
    labels[:, :, 2] = np.where(rng.random(labels.shape[:2]) < 0.6, VIS_VISIBLE, VIS_OCCLUDED)
    split = facing.split_rates(labels)
    assert split["samples"] == len(views)
    assert 0.3 < split["left"]["share_facing"] < 0.7
    np.testing.assert_allclose(facing.recompose(split), (labels[:, :, 2] == VIS_VISIBLE).mean(0), atol=1e-12)


# --- Blender side ------------------------------------------------------------------------------------------

try:
    import bpy
except ImportError:  # the pure tests above still run
    bpy = None


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory):
    """Three models of the nine-model plan of seed 5, written by the builder's own write_model (what
    build_library(out, seed=5, n=9) writes for them, without building the six others)."""
    from synth.blender.vehicle_mesh import write_model
    from synth.vehicles.params import library_plan

    out = tmp_path_factory.mktemp("models")
    keep = {"sedan_000", "truck_000", "pickup_000"}
    for spec in library_plan(5, 9):
        if spec.name in keep:
            write_model(spec, out)
    assert {p.name for p in out.iterdir()} == keep
    return out


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_keypoints_on_the_surface(tiny_library):
    from synth.blender.vehicles import check_asset_surface

    for asset in load_library(tiny_library):
        dist = check_asset_surface(asset, tol=0.02)
        assert dist.max() < 0.02, asset.name


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_wheel_centres_are_the_wheel_hubs(tiny_library):
    from synth.blender.vehicles import load_vehicle, remove_vehicle

    asset = load_library(tiny_library)[0]
    root = load_vehicle(asset)
    try:
        wheels = next(o for o in root.children if ".wheels" in o.name)
        verts = np.array([v.co for v in wheels.data.vertices])
        for k in (0, 1, 18, 19):
            assert np.min(np.linalg.norm(verts - asset.keypoints[k], axis=1)) < 1e-3
    finally:
        remove_vehicle(root)


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_build_is_deterministic_and_resumes(tiny_library, tmp_path):
    from synth.blender.vehicles import build_library, load_vehicle, remove_vehicle

    again = tmp_path / "again"
    # model i of a type depends only on (seed, type, i): the one-model plan's sedan_000 is the nine-model plan's
    build_library(again, seed=5, n=1, progress=False)
    a = load_asset(tiny_library / "sedan_000")
    b = load_asset(again / "sedan_000")
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    ra, rb = load_vehicle(a), load_vehicle(b)
    try:
        for oa, ob in zip(sorted(ra.children, key=lambda o: o.name), sorted(rb.children, key=lambda o: o.name)):
            va = np.array([v.co for v in oa.data.vertices])
            vb = np.array([v.co for v in ob.data.vertices])
            np.testing.assert_array_equal(va, vb)
    finally:
        remove_vehicle(ra)
        remove_vehicle(rb)
    stamp = (again / "sedan_000" / "model.blend").stat().st_mtime_ns
    build_library(again, seed=5, n=1, progress=False)  # complete models are kept
    assert (again / "sedan_000" / "model.blend").stat().st_mtime_ns == stamp


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_load_twice_and_paint(tiny_library):
    from synth.blender.vehicles import BODY_COLOR_PROP, load_vehicle, remove_vehicle, set_body_color

    asset = load_asset(tiny_library / "sedan_000")
    r1, r2 = load_vehicle(asset), load_vehicle(asset)
    try:
        assert r1 is not r2 and r1.location.length == 0
        body1 = next(o for o in r1.children if o.name.startswith("sedan_000.body"))
        body2 = next(o for o in r2.children if o.name.startswith("sedan_000.body"))
        assert body1.data is body2.data  # mesh data shared
        set_body_color(r1, asset, (0.5, 0.0, 0.0))
        set_body_color(r2, asset, (0.0, 0.0, 0.5))
        assert tuple(body1[BODY_COLOR_PROP]) == (0.5, 0.0, 0.0) and tuple(body2[BODY_COLOR_PROP]) == (0.0, 0.0, 0.5)
        paint = bpy.data.materials[asset.paint_materials[0]]
        attr = paint.node_tree.nodes["pamtri_body_color"]
        assert attr.attribute_name == BODY_COLOR_PROP and attr.outputs["Color"].is_linked
        glass = [m for m in body1.data.materials if m.name.endswith("_glass")]
        assert glass and glass[0].get("pamtri_see_through")
    finally:
        remove_vehicle(r1)
        remove_vehicle(r2)


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
@pytest.mark.parametrize("fmt", ["obj", "glb", "fbx"])
def test_user_model_with_sidecar(tiny_library, tmp_path, fmt):
    """A user's model (OBJ / GLB / FBX) with a sidecar loads; keypoints off the surface are refused, naming the file."""
    from synth.blender.vehicles import check_asset_surface, load_vehicle, remove_vehicle

    asset = load_asset(tiny_library / "pickup_000")
    root = load_vehicle(asset)
    folder = tmp_path / "user" / "my_pickup"
    folder.mkdir(parents=True)
    bpy.ops.object.select_all(action="DESELECT")
    for obj in root.children:
        obj.select_set(True)
    if fmt == "obj":
        bpy.ops.wm.obj_export(filepath=str(folder / "car.obj"), export_selected_objects=True, forward_axis="X",
                              up_axis="Z", export_materials=True)
    elif fmt == "glb":
        bpy.ops.export_scene.gltf(filepath=str(folder / "car.glb"), use_selection=True, export_format="GLB")
    else:
        bpy.ops.export_scene.fbx(filepath=str(folder / "car.fbx"), use_selection=True)
    remove_vehicle(root)
    sidecar = yaml.safe_load((tiny_library / "pickup_000" / "vehicle.yaml").read_text())
    sidecar.update(name="my_pickup", mesh=f"car.{fmt}", provenance={"source": "test export", "licence": "CC0"})
    (folder / "vehicle.yaml").write_text(yaml.safe_dump(sidecar))
    user = load_library(tmp_path / "user")[0]
    assert check_asset_surface(user).max() < 0.02
    copy = load_vehicle(user)
    assert any(o.type == "MESH" for o in copy.children_recursive)
    remove_vehicle(copy)
    # a second folder with the same mesh and one keypoint 10 cm off: refused on first load, naming the file
    bad = tmp_path / "bad" / "my_pickup"
    shutil.copytree(folder, bad)
    moved = dict(sidecar)
    moved["keypoints"] = [[x, y, z + (0.1 if i == 14 else 0.0)] for i, (x, y, z) in enumerate(sidecar["keypoints"])]
    (bad / "vehicle.yaml").write_text(yaml.safe_dump(moved))
    with pytest.raises(AssetError) as err:
        load_vehicle(load_library(tmp_path / "bad")[0])
    assert str(bad / "vehicle.yaml") in str(err.value) and "14 left_windshield_top" in str(err.value)


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_projection_matches_blender(tiny_library):
    """The contact sheet's K, [R|t] (synth/camera.py) put keypoints where Blender's own camera projection does."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from synth.blender.vehicle_sheet import _place_camera, camera_matrices
    from synth.camera import project

    asset = load_asset(tiny_library / "truck_000")
    scene = bpy.context.scene
    w, h = 320, 200
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = w, h, 100
    cam = bpy.data.objects.new("t_cam", bpy.data.cameras.new("t_cam"))
    scene.collection.objects.link(cam)
    try:
        _place_camera(cam, asset, 40.0, 15.0, w, h)
        bpy.context.view_layer.update()
        K, Rt = camera_matrices(cam, w, h)
        uv, depth = project(K, Rt, asset.keypoints)
        for kp, (u, v) in zip(asset.keypoints, uv):
            ndc = world_to_camera_view(scene, cam, Vector(kp))
            # Blender's normalised view coordinates: pixel edges at 0 and 1, y up
            assert abs(ndc.x * w - 0.5 - u) < 0.5 and abs((1 - ndc.y) * h - 0.5 - v) < 0.5
        assert np.all(depth > 0)
    finally:
        bpy.data.objects.remove(cam)


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_contact_sheet_tiny(tiny_library, tmp_path):
    import cv2

    from synth.blender.vehicle_sheet import contact_sheet

    assets = [load_asset(tiny_library / "sedan_000")]
    out = contact_sheet(assets, tmp_path / "sheet.png", views=((30.0, 10.0),), width=96, height=64, samples=1,
                        progress=False)
    img = cv2.imread(str(out))
    assert img.shape == (64, 96, 3)
    assert img.std() > 10  # something was rendered and drawn, not a blank frame


@pytest.mark.blender
@pytest.mark.skipif(bpy is None, reason="bpy not installed")
def test_hollow_user_model_shows_nothing_through_its_windows(tiny_library, tmp_path):
    """A user's model is often a hollow shell with glass and no cabin. Seen from the front-left through the
    windshield, the far side's sill, wheel-arch bottoms and rear corner are then reached from inside the body;
    a person sees seats and dashboard there, so they must not count as visible (the near side's must), while
    the far side's window corners, which a person does see through the glass, still may."""
    from synth.blender.vehicles import load_vehicle, remove_vehicle
    from synth.label_checks import label_keypoints
    from synth.scene import RenderConfig
    from synth.vocabulary import VIS_VISIBLE

    asset = load_asset(tiny_library / "sedan_000")
    root = load_vehicle(asset)
    folder = tmp_path / "user" / "hollow_sedan"
    folder.mkdir(parents=True)
    bpy.ops.object.select_all(action="DESELECT")
    shell = [o for o in root.children if not o.name.startswith("sedan_000.details")]  # no cabin, seats, mirrors
    assert len(shell) < len(root.children)
    for obj in shell:
        obj.select_set(True)
    bpy.ops.export_scene.gltf(filepath=str(folder / "car.glb"), use_selection=True, export_format="GLB")
    remove_vehicle(root)
    sidecar = yaml.safe_load((tiny_library / "sedan_000" / "vehicle.yaml").read_text())
    sidecar.update(name="hollow_sedan", mesh="car.glb", provenance={"source": "test export", "licence": "CC0"})
    (folder / "vehicle.yaml").write_text(yaml.safe_dump(sidecar))

    config = RenderConfig()
    config.image.size = 96
    config.occluders.prob = config.occlusion2d.prob = config.image.truncation_prob = 0.0
    config.viewpoint.azimuth, config.viewpoint.azimuth_weights = (8.0, 25.0), ()
    config.viewpoint.elevation = (15.0, 28.0)
    keypoints, _, views = label_keypoints(tmp_path / "user", 100, 0, config, count=16, workers=1, progress=False)
    codes = keypoints[..., 2]
    assert np.all((views[:, 0] % 360 > 7) & (views[:, 0] % 360 < 26))
    far_low, near_low, far_window = [23, 24, 27, 28], [2, 5, 6, 9], [30, 31, 32]
    assert (codes[:, far_low] == VIS_VISIBLE).sum() == 0
    assert (codes[:, near_low] == VIS_VISIBLE).mean() > 0.8
    assert (codes[:, far_window] == VIS_VISIBLE).mean() > 0.5
