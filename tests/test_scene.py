"""The renderer's pure half: config, identity plan, seeded sampler, camera math, backgrounds, compositing."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synth import camera, compose
from synth.backgrounds import FrameSource, BackgroundError, procedural_background, road_style
from synth.identities import IdentityConfig, plan_identities
from synth.render import parse_shard, shard_units
from synth.occlusion import Occlusion2DConfig, Patch2D, sample_patches
from synth.scene import RenderConfig, sample_scene, sample_seed
from synth.vocabulary import VIS_OCCLUDED, VIS_VISIBLE


@dataclass
class FakeModel:
    name: str
    type_id: int
    colors: tuple
    fixed_color: bool
    dimensions: dict


def paper_library():
    models = [FakeModel(f"m{i:02d}", 1 + i % 9, tuple(range(1, 11)), False,
                        {"length": 4.5, "width": 1.8, "height": 1.5}) for i in range(40)]
    models += [FakeModel("bus", 7, (1,), True, {"length": 11, "width": 2.5, "height": 3.2}),
               FakeModel("truck", 8, (6,), True, {"length": 8, "width": 2.4, "height": 3.0})]
    return models


def test_identity_plan_reproduces_the_papers_set():
    plan = plan_identities(paper_library(), 41000, seed=3)
    assert len(plan.identities) == 402
    counts = np.bincount(plan.sample_identity, minlength=402)
    fixed = [i.vehicle_id for i in plan.identities if i.model_name in ("bus", "truck")]
    assert sorted(counts[fixed].tolist()) == [500, 500]
    assert set(np.delete(counts, fixed).tolist()) == {100}
    # one exact paint per identity, a shade of its colour name
    red = [i.paint_rgb for i in plan.identities if i.color_id == 5]
    assert all(r > 3 * max(g, b) for r, g, b in red)
    assert len(set(red)) == len(red)


def test_long_vehicles_are_seen_from_far_enough_for_a_real_field_of_view():
    """The camera stands at least `min_distance_lengths` vehicle lengths away (a bus from farther than a car);
    a car's distance is drawn as before."""
    models = paper_library()
    plan = plan_identities(models, 400, seed=1)
    config = RenderConfig()
    seen = {}
    for i in range(400):
        s = sample_scene(config, plan, models, 1, i)
        length = models[s.identity.model_index].dimensions["length"]
        assert s.distance >= max(config.viewpoint.distance[0], length) - 1e-9
        seen.setdefault(length, []).append(s.distance)
    assert min(seen[11]) >= 11 and min(seen[4.5]) < 9  # cars still come close
    config.viewpoint.min_distance_lengths = 0.0
    for i in range(20):  # nothing else moves: a car's distance is the same draw without the rule
        a, b = sample_scene(RenderConfig(), plan, models, 1, i), sample_scene(config, plan, models, 1, i)
        if models[a.identity.model_index].dimensions["length"] < 7:
            assert a.distance == b.distance and a.azimuth == b.azimuth


def test_identity_plan_uneven_n_and_holdout():
    plan = plan_identities(paper_library()[:3], 101, seed=0, config=IdentityConfig(holdout_fraction=0.2))
    assert plan.num_samples == 101
    counts = np.bincount(plan.sample_identity)
    assert counts.max() - counts.min() <= 1
    held = {i.vehicle_id for i in plan.identities if i.held_out}
    assert len(held) == 6
    train_ids = set(plan.sample_identity[plan.splits["train"]].tolist())
    test_ids = set(plan.sample_identity[np.concatenate([plan.splits["query"], plan.splits["gallery"]])].tolist())
    assert train_ids.isdisjoint(test_ids) and test_ids == held
    assert sum(len(v) for v in plan.splits.values()) == 101


def test_sampler_is_a_pure_function_of_config_seed_index():
    models = paper_library()
    config = RenderConfig()
    plan = plan_identities(models, 500, seed=7)
    a = sample_scene(config, plan, models, 7, 123, num_backgrounds=5).to_dict()
    b = sample_scene(config, plan, models, 7, 123, num_backgrounds=5).to_dict()
    c = sample_scene(config, plan, models, 7, 124, num_backgrounds=5).to_dict()
    assert a == b
    assert a != c
    assert sample_seed(7, 123) != sample_seed(8, 123)
    # ranges are respected
    lo, hi = config.viewpoint.elevation
    for i in range(200):
        s = sample_scene(config, plan, models, 7, i)
        assert lo <= s.elevation <= hi and 0 <= s.azimuth < 360
        assert config.image.native_size[0] - 1 <= s.native_size <= config.image.native_size[1] + 1
        for occ in s.occluders:  # occluders stand outside the vehicle's footprint
            assert abs(occ.position[0]) > 2.25 or abs(occ.position[1]) > 0.9


def test_config_yaml_round_trip_and_unknown_keys(tmp_path):
    config = RenderConfig()
    config.viewpoint.elevation = (10.0, 20.0)
    path = config.save(tmp_path / "c.yaml")
    again = RenderConfig.from_yaml(path)
    assert again.viewpoint.elevation == (10.0, 20.0)
    assert again.to_dict() == config.to_dict()
    (tmp_path / "bad.yaml").write_text("viewpoint: {elevaton: [1, 2]}\n")
    with pytest.raises(ValueError, match="elevaton"):
        RenderConfig.from_yaml(tmp_path / "bad.yaml")


def test_blender_camera_parameters_reproduce_K():
    K = camera.intrinsics(173.2, 40.3, 77.9)
    p = camera.blender_camera_params(K, 96, 96)
    back = camera.intrinsics_from_blender(p["lens"], p["sensor_width"], 24.0, p["sensor_fit"], p["shift_x"],
                                          p["shift_y"], 96, 96)
    np.testing.assert_allclose(back, K, atol=1e-9)


def test_ground_points_are_where_pixel_rays_meet_the_road():
    Rt = camera.look_at(camera.spherical_position(30, 10, 12), np.array([0.0, 0.0, 0.7]), roll_deg=2)
    K = camera.intrinsics(120, 100, 100)  # wide: the horizon is in the picture
    on_road = np.random.default_rng(0).uniform(-5, 5, (30, 3)) * [1, 1, 0]
    uv, _ = camera.project(K, Rt, on_road)
    points, down = camera.ground_points(K, Rt, uv)
    assert down.all()
    np.testing.assert_allclose(points, on_road, atol=1e-9)
    top_row = np.stack([np.arange(0, 200, 10) + 0.5, np.full(20, 0.5)], -1)  # sky above the horizon
    assert not camera.ground_points(K, Rt, top_row)[1].any()


def test_extrinsics_round_trip_and_projection():
    Rt = camera.look_at(camera.spherical_position(30, 20, 12), np.array([0.1, -0.2, 0.7]), roll_deg=3)
    M = camera.blender_matrix_world(Rt)
    np.testing.assert_allclose(camera.rt_from_blender_matrix_world(M), Rt, atol=1e-9)
    # the aim point projects to the principal point
    K = camera.intrinsics(500, 100, 80)
    uv, depth = camera.project(K, Rt, np.array([[0.1, -0.2, 0.7]]))
    np.testing.assert_allclose(uv[0], [100, 80], atol=1e-9)
    eye = camera.spherical_position(30, 20, 12)
    assert depth[0] == pytest.approx(np.linalg.norm(eye - [0.1, -0.2, 0.7]), rel=1e-9)
    np.testing.assert_allclose(camera.camera_centre(Rt), eye, atol=1e-9)
    # a crop then resample equals projecting with the crop's K
    Kc = camera.crop_intrinsics(K, 20.5, 10.5, 100, 256)
    pts = np.random.default_rng(0).normal(0, 1, (20, 3))
    uv_full = camera.project(K, Rt, pts)[0]
    expected = (uv_full - [20.5, 10.5]) * 2.56 - 0.5
    np.testing.assert_allclose(camera.project(Kc, Rt, pts)[0], expected, atol=1e-9)
    np.testing.assert_allclose(camera.rescale_points(camera.project(camera.rescale_intrinsics(Kc, 256, 100), Rt,
                                                                   pts)[0], 100, 256), expected, atol=1e-9)



def test_segment_box_entry_finds_where_a_segment_enters_a_box():
    lo, hi = np.array([0.0, -1.0, 0.0]), np.array([2.0, 1.0, 1.0])
    assert camera.segment_box_entry([-2.0, 0.0, 0.5], [4.0, 0.0, 0.5], lo, hi) == pytest.approx(1 / 3)
    assert camera.segment_box_entry([1.0, 0.0, 0.5], [9.0, 0.0, 0.5], lo, hi) == 0.0  # starts inside
    assert camera.segment_box_entry([-2.0, 0.0, 0.5], [-0.1, 0.0, 0.5], lo, hi) is None  # stops short
    assert camera.segment_box_entry([-2.0, 0.0, 2.0], [4.0, 0.0, 1.5], lo, hi) is None  # passes above
    # a line of sight descending past the top face enters it where it crosses z = 1
    t = camera.segment_box_entry([1.0, 5.0, 6.0], [1.0, -5.0, -4.0], lo, hi)
    assert t == pytest.approx(0.5)


@pytest.mark.parametrize("type_name", ["sedan", "hatchback", "suv", "pickup", "bus", "truck"])
def test_lower_cabin_box_lies_inside_the_body_below_the_windows(type_name):
    """The box that stops rays behind the glass: no keypoint inside it (they are on the outside), the window
    corners on or above its top, the sill-line keypoints beside it, and it fits inside the body's plan."""
    from synth.vehicles.geometry import Profile, keypoints
    from synth.vehicles.library import lower_cabin_box
    from synth.vehicles.params import model_rng, sample_params

    for i in range(3):
        params = sample_params(type_name, model_rng(3, type_name, i))
        kps = keypoints(params)
        lo, hi = lower_cabin_box(kps)
        assert np.all(hi > lo)
        inside = np.all((kps > lo + 1e-9) & (kps < hi - 1e-9), axis=1)
        assert not inside.any(), np.flatnonzero(inside)
        assert np.all(kps[[12, 13, 14, 15, 30, 31, 32, 33], 2] >= hi[2] - 1e-9)
        assert np.all(np.abs(kps[[2, 5, 6, 9, 20, 23, 24, 27], 1]) > hi[1])
        prof = Profile(params)
        xs = np.linspace(lo[0], hi[0], 50)
        assert np.all(prof.half_width(xs) > hi[1])


def test_frame_vehicle_puts_the_box_inside_with_margins_or_truncates():
    models = paper_library()
    plan = plan_identities(models, 50, seed=1)
    config = RenderConfig()
    hull = np.array([[x, y, z] for x in (-2.25, 2.25) for y in (-0.9, 0.9) for z in (0.0, 1.5)])
    for i in range(50):
        s = sample_scene(config, plan, models, 1, i)
        f = camera.frame_vehicle(s, hull, 256)
        box = camera.box_of(camera.project(f["K"], f["Rt"], hull)[0])
        trunc = camera.truncation_of(box, 256)
        if s.truncation_side < 0:
            assert trunc == 0.0 and box[0] >= -0.5 and box[3] <= 255.5
            assert max(box[2] - box[0], box[3] - box[1]) > 256 / 1.4
        else:
            assert trunc == pytest.approx(s.truncation, abs=1e-6)
        assert f["render_size"] == min(s.native_size, 256)


def test_procedural_background_is_deterministic_and_looks_like_a_road():
    Rt = camera.look_at(camera.spherical_position(40, 25, 15), np.array([0, 0, 0.7]))
    K = camera.intrinsics(600, 63.5, 63.5)
    a = procedural_background(K, Rt, 128, 5.0, key=11, seed=2)
    b = procedural_background(K, Rt, 128, 5.0, key=11, seed=2)
    c = procedural_background(K, Rt, 128, 5.0, key=12, seed=2)
    assert a.shape == (128, 128, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01
    assert 0.03 < a.mean() < 0.9 and a.std() > 0.01  # not blank


def test_stripes_coverage_is_the_exact_box_filter():
    """Road markings and joints are integrated over each pixel's footprint (distant lines a fraction of a pixel
    wide were drawn dotted by point sampling): the coverage equals a dense average over the footprint."""
    from synth.backgrounds import _band
    from synth.facades import box_stripes

    rng = np.random.default_rng(0)
    x, half = rng.uniform(-20, 20, 200), rng.uniform(0.001, 3.0, 200)
    fine = np.linspace(-1, 1, 20001)
    for period, width in ((0.6, 0.02), (12.7, 3.8)):
        dense = (np.mod(x[:, None] + fine * half[:, None], period) < width).mean(axis=1)
        np.testing.assert_allclose(box_stripes(x, period, width, half), dense, atol=2e-3)
    dense = (np.abs(x[:, None] + fine * half[:, None] - 1.5) < 0.07).mean(axis=1)
    np.testing.assert_allclose(_band(x, 1.5, 0.07, half), dense, atol=2e-3)


def test_metered_exposure_brings_the_road_to_the_same_brightness():
    from synth.scene import metered_exposure

    sky = (0.5, 0.55, 0.6)
    def road(sun, elevation, sky_strength):
        stops = metered_exposure(sun, elevation, sky_strength, sky)
        el = np.radians(elevation)
        metered = 0.5 * np.sin(el) + 0.5 * (2 / np.pi) * np.cos(el)  # road and upright faces, half each
        irradiance = sun * metered + np.pi * sky_strength * np.mean(sky)
        return irradiance * 2.0 ** stops
    assert road(6.0, 70.0, 0.3) == pytest.approx(np.pi, rel=1e-6)  # a strong high sun is stopped down
    assert road(2.5, 25.0, 0.4) == pytest.approx(np.pi, rel=1e-6)
    assert metered_exposure(6.0, 70.0, 0.3, sky) < 0 < metered_exposure(2.2, 12.0, 0.12, sky)
    assert metered_exposure(0.0, 30.0, 0.001, sky) == 1.0  # held within -1.5..+1 stops


def test_lanes_carry_an_oil_strip_down_their_middle():
    from synth.backgrounds import _ground_colour, _road_textures, road_style

    style = {**road_style(3), "lanes_left": 1, "lanes_right": 1, "lane_offset": 0.0, "centre_yellow": False,
             "crosswalk": False, "wheel_paths": 0.0}
    u = np.linspace(0, 40, 4000)
    fine = np.full_like(u, 0.01)
    textures = _road_textures(style["texture_seed"])

    def lane(w, oil):
        return _ground_colour({**style, "oil": oil}, u, np.full_like(u, w), (fine,) * 4, *textures).mean()
    centre, aside = style["lane_width"], style["lane_width"] - 1.3  # the left lane's middle, and 1.3 m off it
    assert lane(centre, 0.14) < 0.93 * lane(centre, 0.0)  # ~14 % darker at the middle
    assert lane(aside, 0.14) > 0.99 * lane(aside, 0.0)  # and nothing off it


def test_white_balance_errors_run_blue_to_amber_not_magenta():
    from synth.scene import _white_balance_gains

    rng = np.random.default_rng(0)
    logs = np.log([_white_balance_gains(rng.normal(0, 0.07, 3)) for _ in range(2000)])
    red_blue = np.corrcoef(logs[:, 0], logs[:, 2])[0, 1]
    assert red_blue < -0.8, red_blue  # red up with blue down (warmer) and the reverse
    # magenta (red and blue both up against green) stays small next to the blue-amber spread
    magenta = 0.5 * (logs[:, 0] + logs[:, 2]) - logs[:, 1]
    assert magenta.std() < 0.5 * (logs[:, 0] - logs[:, 2]).std()


def test_frame_source_names_a_bad_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(BackgroundError, match="broken.jpg"):
        FrameSource([bad]).crop(0, 0.5, (0.5, 0.5), False, 64)


def test_2d_patch_hides_keypoints_under_it():
    box = np.array([20.0, 20.0, 100.0, 80.0])
    patch = Patch2D("rect", (0.0, 0.0), (0.5, 0.5), 0.0, "flat", (1.0, 0.0, 0.0), 0)
    image = np.zeros((128, 128, 3), np.float32)
    out, mask = compose.paste_patches(image, [patch], box, lambda s: image)
    keypoints = np.array([[60.0, 50.0, VIS_VISIBLE], [25.0, 25.0, VIS_VISIBLE], [60.0, 50.0, VIS_OCCLUDED]])
    new = compose.occlude_keypoints(keypoints, mask)
    assert new[:, 2].tolist() == [VIS_OCCLUDED, VIS_VISIBLE, VIS_OCCLUDED]
    assert out[50, 60, 0] > 0.5 and out[25, 25, 0] == 0.0


def test_2d_patches_reach_in_from_the_picture_edge_in_muted_colours():
    """A pasted occluder goes on out of the picture on the side it enters from (a pole, a pedestrian, a car in
    front), and a flat one is a muted, lit surface, not a saturated sheet of paint."""
    rng = np.random.default_rng(3)
    box, size = np.array([30.0, 40.0, 100.0, 90.0]), 128
    patches = [p for _ in range(60) for p in sample_patches(Occlusion2DConfig(prob=1.0), rng)]
    assert {p.side for p in patches} == {0, 1, 2, 3}
    for p in patches:
        mask = compose.patch_mask(p, box, size)
        edge = [mask[:, 0], mask[0, :], mask[:, -1], mask[-1, :]][p.side]
        assert edge.any(), p
        c = np.asarray(p.color)
        assert (c.max() - c.min()) <= 0.41 * c.max() + 1e-9 and 0.1 < c.max() < 0.85, c
    flat = compose.occluder_fill((0.5, 0.4, 0.3), 64, seed=1, softness=0.7)
    assert flat.std(axis=(0, 1)).min() > 0.01  # lit and grained
    np.testing.assert_allclose(flat.mean(axis=(0, 1)), (0.5, 0.4, 0.3), rtol=0.25)


def test_camera_sharpening_draws_halos_along_edges():
    img = np.full((32, 32, 3), 0.3, np.float32)
    img[:, 16:] = 0.6  # a vertical edge
    fx = {"blur_sigma": 0.0, "motion_length": 0.0, "motion_angle": 0.0, "noise_sigma": 0.0, "jpeg_quality": 0,
          "gains": (1.0, 1.0, 1.0), "gamma": 1.0, "contrast": 1.0, "seed": 1, "sharpen_sigma": 1.2}
    plain = compose.camera_effects(img, {**fx, "sharpen": 0.0}).astype(int)
    sharp = compose.camera_effects(img, {**fx, "sharpen": 1.0}).astype(int)
    row, plain_row = sharp[16, :, 1], plain[16, :, 1]
    assert row[16] > plain_row[16] + 10 and row[15] < plain_row[15] - 10  # overshoot and undershoot at the edge
    assert np.abs(row[:8] - plain_row[:8]).max() <= 1 and np.abs(row[-8:] - plain_row[-8:]).max() <= 1  # flat stays


def test_camera_effects_are_seeded():
    img = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    fx = {"blur_sigma": 0.8, "motion_length": 3.0, "motion_angle": 30.0, "noise_sigma": 3.0, "jpeg_quality": 50,
          "gains": (1.05, 1.0, 0.95), "gamma": 1.1, "contrast": 0.9, "seed": 5}
    a, b = compose.camera_effects(img, fx), compose.camera_effects(img, fx)
    assert a.dtype == np.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a, b)


def test_camera_saturation_mutes_colour_and_keeps_greys():
    img = np.zeros((16, 16, 3), np.float32)
    img[:8] = (0.9, 0.6, 0.05)  # a yellow
    img[8:] = 0.4  # a grey
    plain = {"blur_sigma": 0.0, "motion_length": 0.0, "motion_angle": 0.0, "noise_sigma": 0.0, "jpeg_quality": 0,
             "gains": (1.0, 1.0, 1.0), "gamma": 1.0, "contrast": 1.0, "seed": 0}
    full = compose.camera_effects(img, {**plain, "saturation": 1.0}).astype(int)
    muted = compose.camera_effects(img, {**plain, "saturation": 0.6}).astype(int)
    chroma = lambda x: x.max(-1) - x.min(-1)  # noqa: E731
    assert chroma(muted[:8]).mean() < 0.7 * chroma(full[:8]).mean()
    np.testing.assert_array_equal(muted[8:], full[8:])
    plan, models = plan_identities(paper_library(), 50, seed=0), paper_library()  # planned once, not per sample
    samples = [sample_scene(RenderConfig(), plan, models, 0, i) for i in range(50)]
    saturation = [s.effects["saturation"] for s in samples]
    assert min(saturation) >= 0.6 and max(saturation) <= 1.0 and np.std(saturation) > 0.05


def test_shard_units_and_parse_shard(tmp_path):
    plan = plan_identities(paper_library()[:2], 45, seed=0, config=IdentityConfig(holdout_fraction=0.3))
    units = shard_units(plan, 10, tmp_path)
    covered = np.sort(np.concatenate([u.samples for u in units]))
    np.testing.assert_array_equal(covered, np.arange(45))
    assert units[0].path.name == "train-00000.h5"
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_occluders_are_roadside_things_and_other_library_vehicles():
    models = paper_library()
    config = RenderConfig()
    config.occluders.prob, config.occluders.max_count = 1.0, 2
    plan = plan_identities(models, 400, seed=3)
    seen = {}
    for i in range(400):
        s = sample_scene(config, plan, models, 3, i)
        own = s.identity.model_index
        half_l = models[own].dimensions["length"] / 2
        half_w = models[own].dimensions["width"] / 2
        for occ in s.occluders:
            seen[occ.kind] = seen.get(occ.kind, 0) + 1
            x, y = np.abs(occ.position)
            if occ.kind == "vehicle":  # another model of the library, standing clear of this one's footprint
                assert occ.model != own and 0 <= occ.model < len(models)
                other = models[occ.model].dimensions
                assert occ.size == (other["length"], other["width"], other["height"])
                assert x > half_l + other["length"] / 2 or y > half_w + other["width"] / 2
            elif occ.kind == "railing":  # runs along the road, beside the vehicle
                assert y > half_w and min(abs(occ.yaw) % 180, 180 - abs(occ.yaw) % 180) < 15
            else:
                assert occ.model == -1
    assert set(seen) == {"pole", "sign", "vehicle", "railing", "vegetation"}, seen
    config.occluders.kinds = {"pole": 1.0, "lamp post": 1.0}
    with pytest.raises(ValueError, match="occluders.kinds.*lamp post"):
        sample_scene(config, plan, models, 3, 0)


def test_lens_blur_softens_edges_and_keeps_light():
    step = np.zeros((16, 16, 3), np.float32)
    step[:, 8:] = 1.0
    assert compose.lens_blur(step, 0.0) is step
    soft = compose.lens_blur(step, 0.5)
    assert 0.05 < soft[8, 7, 0] < 0.5 < soft[8, 8, 0] < 0.95  # the pixels either side of the edge mix
    np.testing.assert_allclose(soft[8, 2:14].sum(), step[8, 2:14].sum(), rtol=1e-3)
    assert RenderConfig().effects.lens_blur > 0


def test_traffic_neighbours_stand_in_lanes_behind_the_vehicle_and_in_its_crop():
    models = paper_library()
    config = RenderConfig()
    config.traffic.prob, config.traffic.max_count, config.occluders.prob = 1.0, 2, 0.0
    plan = plan_identities(models, 200, seed=5)
    counts = []
    for i in range(200):
        s = sample_scene(config, plan, models, 5, i)
        neighbours = [o for o in s.occluders if o.kind == "vehicle"]
        counts.append(len(neighbours))
        cam = s.camera_position[:2]
        assert len({o.model for o in neighbours} | {s.identity.model_index}) == len(neighbours) + 1
        for o in neighbours:
            assert np.hypot(*(np.asarray(o.position) - cam)) > np.hypot(*cam)  # never in front of the vehicle
            assert abs(o.position[1]) < 0.01 or 3.2 <= abs(o.position[1]) <= 3.8  # its lane or the next
            assert o.size[0] == models[o.model].dimensions["length"]
    assert 0.5 < np.mean([c > 0 for c in counts]) and max(counts) == 2
    config.traffic.prob = 0.0
    assert not any(sample_scene(config, plan, models, 5, i).occluders for i in range(50))


def test_lane_arrows_are_painted_in_the_lanes_pointing_along_the_road(monkeypatch):
    import synth.backgrounds as backgrounds

    key = next(k for k in range(500) if backgrounds.road_style(k)["arrows"])
    style = backgrounds.road_style(key)
    middle = style["arrow_u"] + style["arrow_length"] / 2
    Rt = camera.look_at(np.array([middle, style["lane_offset"], 14.0]), np.array([middle, style["lane_offset"], 0.0]))
    K = camera.intrinsics(600.0, 64.0, 64.0)  # 128 px over ~3 m of road straight down, the road along +x
    painted = procedural_background(K, Rt, 128, 0.0, key=key, seed=0)
    monkeypatch.setattr(backgrounds, "road_style", lambda k: {**style, "arrows": False})
    bare = procedural_background(K, Rt, 128, 0.0, key=key, seed=0)
    brighter = painted.mean(-1) - bare.mean(-1) > 0.15
    rows, cols = np.nonzero(brighter)
    assert 200 < brighter.sum() < 0.3 * brighter.size  # an arrow, not the whole road
    world_per_px = 14.0 / 600.0
    # the arrow lies along the road: image axes here are the road's across (rows or cols) and along
    spans = sorted([np.ptp(rows), np.ptp(cols)])
    assert spans[1] * world_per_px > 2.5 and spans[0] * world_per_px < 0.8


def _ground_view(key, centre, size, height, span=None, target=None, monkeypatch=None, **changes):
    """procedural_background of road style `key` (its road along +x) from a camera at `centre` (u, w in the
    road's frame: w from the lanes' centre line) `height` m up, looking straight down over `span` metres or at
    `target` (u, w); with `changes` to the style. Returns the image and each pixel's ground point (u, w)."""
    import synth.backgrounds as backgrounds

    style = road_style(key)  # (this module's own: the one a test may have patched is backgrounds.road_style)
    if changes:
        monkeypatch.setattr(backgrounds, "road_style", lambda k: {**style, **changes})
    offset = style["lane_offset"]
    eye = np.array([centre[0], centre[1] + offset, height])
    aim = np.array([centre[0], centre[1] + offset, 0.0]) if target is None else np.array([*target, 0.0]) + [0, offset, 0]
    Rt = camera.look_at(eye, aim)
    K = camera.intrinsics(size * height / span if span else size * 1.0, size / 2, size / 2)
    image = backgrounds.procedural_background(K, Rt, size, 0.0, key=key, seed=0)
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    rays = camera.pixel_rays(K, Rt, np.stack([xs, ys], -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rays[..., 2] < 0, -height / rays[..., 2], np.nan)
    return image, eye[0] + t * rays[..., 0], eye[1] + t * rays[..., 1] - offset


def _pavement_edge(style):
    """w of the right-hand kerb's outer edge (the pavement runs on from there to more negative w)."""
    return -(0.5 + style["lanes_right"]) * style["lane_width"] - style["kerb"]


def test_pavement_slabs_differ_in_tone_from_slab_to_slab():
    """Seen from above, a pavement of square slabs steps in tone at each joint (each slab its own tone, a few
    replaced ones well off): the difference between strips on either side of a joint is several times that
    between strips as far apart inside one slab. One tone for every slab (a bathroom floor) gave the same."""
    key = next(k for k in range(300) if road_style(k)["bond"] == 0 and road_style(k)["slab"][0] >= 0.5
               and road_style(k)["pavement_width"] > 3 and not road_style(k)["tactile"])
    style = road_style(key)
    length, depth = style["slab"]
    image, u, w = _ground_view(key, (0.0, _pavement_edge(style) - style["pavement_width"] / 2), 256, 8.0, span=6.0)
    luma, y = image.mean(-1), _pavement_edge(style) - w  # metres from the kerb
    row = np.floor(y / depth)
    in_row = (np.abs(np.mod(y / depth, 1) - 0.5) < 0.35) & (y > 0) & (y < style["pavement_width"])
    steps = []
    for shift in (0.0, 0.5):  # about each joint, and about each slab's middle
        line = (np.floor(u / length - shift + 0.5) + shift) * length
        d, pair = u - line, np.round(line / length * 2) * 1000 + row
        a, b = in_row & (d > -0.10) & (d < -0.04), in_row & (d > 0.04) & (d < 0.10)
        steps.append(np.mean([abs(luma[a & (pair == p)].mean() - luma[b & (pair == p)].mean())
                              for p in np.unique(pair[a]) if (b & (pair == p)).sum() > 5 and (a & (pair == p)).sum() > 5]))
    across, within = steps
    assert across > 3 * within, (across, within)
    assert 0.005 < across < 0.08  # visible, not a checkerboard


def test_pavers_are_box_filtered_and_fade_far_away():
    """A pavement's slab tones and joints are the exact average over each pixel's footprint (here a running
    bond: every other row offset by half a paver), and where a footprint spans many slabs their tones average
    out instead of sparkling."""
    from synth.backgrounds import _pavers, _slab_tones

    style = {**road_style(0), "slab": (0.6, 0.3), "bond": 0.5, "joint_width": 0.01}
    tones = _slab_tones(1234, 0.05, 0.05)[0]
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-20, 20, 300).astype(np.float32), rng.uniform(0, 5, 300).astype(np.float32)
    x, y = x[:100], y[:100]
    hx, hy = rng.uniform(0.001, 0.29, 100), rng.uniform(0.001, 0.14, 100)
    tone, joints = _pavers(style, tones, x, y, hx, hy)
    grid = np.linspace(-1 + 1 / 101, 1 - 1 / 101, 101)  # midpoints of 101 equal parts
    px = (x[:, None, None] + grid[None, :, None] * hx[:, None, None]) + 0 * grid[None, None, :]
    py = (y[:, None, None] + grid[None, None, :] * hy[:, None, None]) + 0 * grid[None, :, None]
    tiny = np.full(px.size, 1e-5)
    point_tone, point_joint = _pavers(style, tones, px.ravel(), py.ravel(), tiny, tiny)
    # (small pavers' tones are scaled alike at both footprints; the joints are exact coverages)
    np.testing.assert_allclose(tone, point_tone.reshape(px.shape).mean(axis=(1, 2)), atol=4e-3)
    np.testing.assert_allclose(joints, point_joint.reshape(px.shape).mean(axis=(1, 2)), atol=0.02)
    x = np.linspace(0, 200, 2000, dtype=np.float32)
    y = np.full_like(x, 1.2)
    near = _pavers(style, tones, x, y, np.full_like(x, 0.01), np.full_like(x, 0.01))[0]
    far = _pavers(style, tones, x, y, np.full_like(x, 6.0), np.full_like(x, 0.6))[0]
    assert far.std() < 0.25 * near.std()


def test_far_pavement_averages_its_slabs_instead_of_sparkling(monkeypatch):
    """Looking along a pavement from a pedestrian's height, what the slabs' tones add to the image is strong
    near the camera and fades towards the horizon, where a pixel spans several slabs."""
    key = next(k for k in range(300) if road_style(k)["pavement_width"] > 3 and not road_style(k)["tactile"])
    style = road_style(key)
    centre = (0.0, _pavement_edge(style) - style["pavement_width"] / 2)
    view = dict(size=128, height=1.6, target=(12.0, centre[1]), monkeypatch=monkeypatch)
    toned, u, w = _ground_view(key, centre, slab_spread=0.08, slab_replaced=0.1, **view)
    plain, _, _ = _ground_view(key, centre, slab_spread=0.0, slab_replaced=0.0, **view)
    tone = (toned - plain).mean(-1)  # the slabs' tones alone (the same seed: the same grain and noise)
    y = _pavement_edge(style) - w
    paved = (y > 0.3) & (y < style["pavement_width"] - 0.3)
    near, far = paved & (u < 6.0), paved & (u > 30.0) & (u < 100.0)  # (haze takes at most a quarter there)
    assert near.sum() > 500 and far.sum() > 20
    assert tone[far].std() < 0.3 * tone[near].std(), (tone[far].std(), tone[near].std())


def test_roads_have_repairs_fixed_per_camera(monkeypatch):
    """Some roads (not all) have repair patches, utility covers and sealed cracks, drawn where the road style's
    own layout puts them (the same for every image of a virtual camera); the style's earlier draws keep their
    values."""
    from synth.backgrounds import _road_layout

    styles = [road_style(k) for k in range(200)]
    for name in ("patches", "covers", "cracks"):
        share = np.mean([s[name] > 0 for s in styles])
        assert 0.3 < share < 0.9, (name, share)
    # (draws added since are appended: the street and the rest of the road keep their values)
    assert styles[0]["street_seed"] == 2040324895 and list(styles[0])[23] == "street_seed"
    assert road_style(7)["arrow_u"] == pytest.approx(11.680697649399864)

    key = next(k for k, s in enumerate(styles) if s["covers"] and s["patches"])
    style = road_style(key)
    layout = _road_layout(style)
    assert layout == _road_layout(road_style(key)) and layout != _road_layout(road_style(key + 1))
    u, w, radius, sides = layout["covers"][0][:4]
    with_cover, gu, gw = _ground_view(key, (u, w), 96, 6.0, span=2.4, monkeypatch=monkeypatch, patches=0,
                                      cracks=0, arrows=False, crosswalk=False, stop_line=False)
    bare, _, _ = _ground_view(key, (u, w), 96, 6.0, span=2.4, monkeypatch=monkeypatch, patches=0, cracks=0,
                              covers=0, arrows=False, crosswalk=False, stop_line=False)
    sdf = np.hypot(gu - u, gw - w) - radius if radius else np.maximum(np.abs(gu - u) - sides[0], np.abs(gw - w) - sides[1])
    inside, outside = sdf < -0.05, sdf > 0.25  # (beyond its rim)
    assert inside.sum() > 200 and outside.sum() > 200
    assert np.median((with_cover - bare).mean(-1)[inside]) < -0.02  # an iron cover, darker than the asphalt
    np.testing.assert_array_equal(with_cover[outside], bare[outside])

    cu, half_length, cw, half_width, tone = layout["patches"][0]
    view = dict(size=96, height=8.0, span=3.0, monkeypatch=monkeypatch, covers=0, cracks=0)
    patched, gu, gw = _ground_view(key, (cu, cw), **view)
    plain, _, _ = _ground_view(key, (cu, cw), patches=0, **view)
    inside = (np.abs(gu - cu) < half_length - 0.1) & (np.abs(gw - cw) < half_width - 0.1)
    outside = (np.abs(gu - cu) > half_length + 0.1) | (np.abs(gw - cw) > half_width + 0.1)
    assert inside.sum() > 100 and outside.sum() > 100
    ratio = np.median(patched.mean(-1)[inside] / plain.mean(-1)[inside])  # (a lane line may cross it)
    assert ratio == pytest.approx(tone, abs=0.05) and abs(ratio - 1) > 0.05  # newer (darker) or older asphalt
    np.testing.assert_array_equal(patched[outside], plain[outside])


def test_a_veil_of_haze_lifts_the_blacks_and_keeps_the_order_of_tones():
    img = np.linspace(0, 1, 64, dtype=np.float32)[None, :, None].repeat(8, 0).repeat(3, 2)
    plain = {"blur_sigma": 0.0, "motion_length": 0.0, "motion_angle": 0.0, "noise_sigma": 0.0, "jpeg_quality": 0,
             "gains": (1.0, 1.0, 1.0), "gamma": 1.0, "contrast": 1.0, "seed": 0}
    clear = compose.camera_effects(img, {**plain, "veil": 0.0}).astype(int)
    hazy = compose.camera_effects(img, {**plain, "veil": 0.1}).astype(int)
    assert hazy[0, 0].min() >= 18 and clear[0, 0].max() <= 1  # black becomes dark grey
    assert (np.diff(hazy[0, :, 1]) >= 0).all() and hazy[0, -1, 1] < clear[0, -1, 1]
    plan, models = plan_identities(paper_library(), 50, seed=0), paper_library()  # planned once, not per sample
    samples = [sample_scene(RenderConfig(), plan, models, 0, i) for i in range(50)]
    veils = [s.effects["veil"] for s in samples]
    assert 0.0 <= min(veils) and max(veils) <= 0.12 and np.std(veils) > 0.02
