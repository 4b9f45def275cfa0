"""Off-screen shadow casters (synth/shadows.py), clouds in reflections and compositing in linear light: the
numpy geometry on its own, then Cycles against it (the shadow catcher's shading must continue the 2D
shading of the road beyond it, or a rectangle shows round every vehicle)."""
from __future__ import annotations

import dataclasses
import importlib.util
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from synth import compose
from synth.config import ConfigError
from synth.scene import RenderConfig
from synth.shadows import (
    CASTER_KINDS, HALF_SIZE, MASK_SIZE, SKY_DIRECTIONS, background_gain, beside_catcher_light, caster_mask,
    ground_irradiance, ground_light, sample_caster, sky_gradient, sky_radiance, sun_direction, vehicle_sky_light)


def light_sample(**changes):
    values = dict(sun_elevation=40.0, sun_azimuth=30.0, sun_strength=4.0, sun_angle=0.5, sky_strength=0.3,
                  sky_color=(0.35, 0.5, 0.85), overcast=False)
    values.update(changes)
    return SimpleNamespace(**values)


def test_background_gain_exposes_the_drawn_albedo_as_cycles_exposes_the_vehicle():
    """A drawn background shows albedo as albedo; the vehicle is rendered at the image's exposure. The gain is 1
    exactly where the exposure brings level ground's light to pi (albedo shown as albedo), follows the exposure
    stop for stop and the ground's light in proportion."""
    sun_rgb = (1.0, 1.0, 1.0)
    sample = light_sample()
    sun, sky = ground_irradiance(sample, sun_rgb)
    neutral = float(np.log2(np.pi / (sun + sky)))
    assert background_gain(light_sample(exposure=neutral), sun_rgb) == pytest.approx(1.0)
    assert background_gain(light_sample(exposure=neutral + 1.0), sun_rgb) == pytest.approx(2.0)
    brighter = light_sample(exposure=neutral, sun_strength=8.0)
    sun2, sky2 = ground_irradiance(brighter, sun_rgb)
    assert background_gain(brighter, sun_rgb) == pytest.approx((sun2 + sky2) / (sun + sky))
    assert background_gain(brighter, sun_rgb) > 1.5  # a stronger sun, same exposure: a brighter road


def test_an_overcast_sky_is_brightest_overhead_and_lights_the_ground_as_the_clear_gradient_would():
    """The CIE overcast sky: the zenith ~2.5x the horizon (a clear sky the other way round), at the light on
    level ground the clear gradient of the same colour gives, so exposure and shadows keep their balance."""
    grey = (0.6, 0.62, 0.65)
    clear_horizon, clear_zenith = sky_gradient(grey)
    horizon, zenith = sky_gradient(grey, overcast=True)
    assert clear_horizon.mean() > 2 * clear_zenith.mean()
    assert zenith.mean() == pytest.approx(2.5 * horizon.mean())
    assert zenith.mean() > 1.2 * clear_zenith.mean()  # what a raked windshield mirrors: brighter on a grey day
    clear_sky = ground_irradiance(light_sample(sky_color=grey), (1.0, 1.0, 1.0))[1]
    overcast_sky = ground_irradiance(light_sample(sky_color=grey, overcast=True), (1.0, 1.0, 1.0))[1]
    assert overcast_sky == pytest.approx(clear_sky, rel=1e-6)
    # the sky's light on level ground is what the hemisphere's directions carry
    for overcast in (False, True):
        sample = light_sample(sky_color=grey, overcast=overcast)
        sky = ground_irradiance(sample, (1.0, 1.0, 1.0))[1]
        assert np.pi * sky_radiance(sample, (1.0, 1.0, 1.0), SKY_DIRECTIONS[:, 2]).mean() == pytest.approx(sky, rel=0.02)


def test_a_vehicle_hides_the_sky_from_the_road_beside_it_most_on_a_grey_day():
    box = ((-2.3, -0.9, 0.15), (2.3, 0.9, 1.2))
    beside = np.array([[0.0, 0.9 + gap] for gap in (0.05, 0.6, 1.5, 3.0, 20.0)])
    grey = light_sample(overcast=True, sun_strength=0.3, sky_strength=1.2, sky_color=(0.6, 0.62, 0.65))
    sunny = light_sample()
    for sample, against_the_body in ((grey, 0.7), (sunny, 0.97)):
        light = vehicle_sky_light(beside, box, sample, (1.0, 1.0, 1.0))
        assert np.all(np.diff(light) > 0)  # the shade fades with the distance from the body
        assert light[-1] > 0.995 and light[0] < against_the_body
    grey_light = vehicle_sky_light(beside, box, grey, (1.0, 1.0, 1.0))
    sunny_light = vehicle_sky_light(beside, box, sunny, (1.0, 1.0, 1.0))
    assert grey_light[1] < 0.9 and sunny_light[1] > grey_light[1]  # the sky is all of a grey day's light
    # a box over the whole sky leaves the sun's share (the sun is not the world's light), to the quadrature of
    # the sky by 96 directions
    everything = ((-1e3, -1e3, 0.0), (1e3, 1e3, 1e3))
    sun, sky = ground_irradiance(sunny, (1.0, 1.0, 1.0))
    assert vehicle_sky_light(np.zeros((1, 2)), everything, sunny, (1.0, 1.0, 1.0))[0] == pytest.approx(
        sun / (sun + sky), abs=0.005)


def test_the_road_is_shaded_beyond_the_catcher_only_and_not_above_the_horizon():
    from synth.camera import intrinsics, look_at, project, spherical_position

    size = 160
    Rt = look_at(spherical_position(30.0, 12.0, 12.0), np.array([0.0, 0.0, 0.7]))
    K = intrinsics(150.0, size / 2, size / 2)  # wide: the horizon is in the picture
    box = ((-2.3, -0.9, 0.15), (2.3, 0.9, 1.2))
    catcher = ((-2.9, -1.5), (2.9, 1.5))
    grey = light_sample(overcast=True, sun_strength=0.3, sky_strength=1.2, sky_color=(0.6, 0.62, 0.65))
    light = beside_catcher_light(K, Rt, size, catcher, box, grey, (1.0, 1.0, 1.0))
    assert light.shape == (size, size) and light.dtype == np.float32

    def at(point):
        (u, v), _ = project(K, Rt, np.array([point]))[0][0], None
        return float(light[int(v), int(u)])

    assert at((0.0, 0.0, 0.0)) == pytest.approx(1.0)  # under the car: the catcher's (Cycles')
    assert at((0.0, -1.9, 0.0)) < 0.95  # just beyond the catcher's side
    assert at((0.0, -1.9, 0.0)) < at((0.0, -4.0, 0.0)) < 1.0
    assert at((0.0, -30.0, 0.0)) == pytest.approx(1.0)
    assert light[:10].min() == pytest.approx(1.0)  # the sky and facades above the horizon


def test_caster_masks_are_opacities_that_end_inside_the_plane_and_follow_their_seed():
    for kind in CASTER_KINDS:
        for seed in range(3):
            caster = sample_caster(np.random.default_rng(seed), {kind: 1.0}, (5.0, 10.0), 30.0, 45.0)
            mask = caster_mask(caster)
            assert caster["kind"] == kind and mask.shape == (MASK_SIZE, MASK_SIZE)
            assert 0.0 <= mask.min() and mask.max() <= 1.0 and mask.max() > 0.9
            border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
            assert border.max() < 0.05  # the shadow ends before the plane does: no straight cut-off
            assert 0.0005 < mask.mean() < 0.9
            np.testing.assert_array_equal(mask, caster_mask(caster))
    a = caster_mask(sample_caster(np.random.default_rng(0), {"canopy": 1.0}, (5.0, 10.0), 30.0, 45.0))
    b = caster_mask(sample_caster(np.random.default_rng(1), {"canopy": 1.0}, (5.0, 10.0), 30.0, 45.0))
    assert np.abs(a - b).mean() > 0.01


def test_a_canopy_is_dappled_shade_not_camouflage():
    """Under a crown mostly shade, with sunflecks: small, more of them towards the rim, and the leaves letting a
    little light through (the old mask, noise cut at half, was large sharp blobs of sun and shade)."""
    texel = 2 * HALF_SIZE / MASK_SIZE

    def disc(metres):
        n = int(round(metres / texel)) | 1
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (n, n))

    for seed in range(8):
        mask = caster_mask(sample_caster(np.random.default_rng(seed), {"canopy": 1.0}, (5.0, 10.0), 30.0, 45.0))
        crowns = cv2.morphologyEx((mask > 0.5).astype(np.uint8), cv2.MORPH_CLOSE, disc(2.0))
        inward = cv2.distanceTransform(crowns, cv2.DIST_L2, 5) * texel  # metres in from the crowns' rim
        inside = inward > 0.5
        assert inside.sum() * texel ** 2 > 50.0, seed  # tree crowns, some tens of square metres
        lit = inside & (mask < 0.5)
        assert 0.7 < 1.0 - lit.sum() / inside.sum() < 0.93, seed  # mostly shade
        assert mask[inside].mean() > 0.68, seed
        count, _, stats, _ = cv2.connectedComponentsWithStats(lit.astype(np.uint8), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA] * texel ** 2
        assert count - 1 > 100, seed  # sunflecks
        assert np.median(areas) < 0.045, seed  # a disc 24 cm across
        assert np.percentile(areas, 90) < 0.3, seed  # merged clusters stay under a disc of 60 cm
        rim, core = (inward > 0.25) & (inward < 1.25), inward > 2.0
        assert (mask[rim] < 0.5).mean() > 1.3 * (mask[core] < 0.5).mean(), seed  # more sun towards the rim
        shade = mask[inside & (mask >= 0.5)]
        assert (shade < 0.95).mean() > 0.3, seed  # leaves let some light through: not one flat level


def test_poles_lie_along_the_suns_azimuth_and_the_pattern_sits_up_sun_of_the_vehicle():
    for seed in range(5):
        caster = sample_caster(np.random.default_rng(seed), {"poles": 1.0}, (6.0, 6.0), 75.0, 40.0)
        assert caster["angle"] == 75.0
        mask = caster_mask(caster)
        # bars run along u (columns): a row through a bar is dark over metres, a column only over centimetres
        rows, cols = np.nonzero(mask > 0.5)
        assert np.ptp(cols) > np.ptp(rows) or len(np.unique(rows)) > 1
        up_sun = sun_direction(40.0, 75.0)[:2] * (6.0 - 0.8) / np.tan(np.radians(40.0))
        assert np.linalg.norm(np.asarray(caster["centre"]) - up_sun) <= 5.0 * np.sqrt(2) + 1e-9


def test_ground_light_is_one_in_the_sun_and_the_skys_share_in_shadow():
    sample = light_sample()
    sun_rgb = (1.0, 0.95, 0.9)
    sun, sky = ground_irradiance(sample, sun_rgb)
    assert sun > 0 and sky > 0
    caster = {"kind": "building", "seed": 0, "height": 8.0, "centre": (0.0, 0.0), "angle": 0.0}
    # one opaque square of 2 m round the plane's centre
    mask = np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    texel = 2 * HALF_SIZE / MASK_SIZE
    half = int(round(1.0 / texel))
    mask[MASK_SIZE // 2 - half: MASK_SIZE // 2 + half, MASK_SIZE // 2 - half: MASK_SIZE // 2 + half] = 1.0
    to_sun = sun_direction(sample.sun_elevation, sample.sun_azimuth)
    below = -to_sun[:2] * 8.0 / to_sun[2]  # the ground point whose ray to the sun meets the plane's centre
    points = np.array([[*below, 0.0], [*(below + [3.0, 0.0]), 0.0], [0.0, 0.0, 9.0]])
    light = ground_light(points, caster, mask, sample, sun_rgb)
    np.testing.assert_allclose(light[0], sky / (sky + sun), atol=0.02)
    np.testing.assert_allclose(light[1:], 1.0)  # beside the shadow; above the plane
    excluded = ground_light(points, caster, mask, sample, sun_rgb, exclude=((below[0] - 1, below[1] - 1),
                                                                            (below[0] + 1, below[1] + 1)))
    np.testing.assert_allclose(excluded, 1.0)
    # a darker sky leaves darker shadows
    dim = ground_light(points[:1], caster, mask, light_sample(sky_strength=0.1), sun_rgb)
    assert dim[0] < light[0]


def test_the_street_round_the_vehicle_sets_how_dark_its_shadows_are():
    """The world shows the street's facades and trees round the horizon (synth/street_view.py): they hide part
    of the sky from the ground and send back the light they get. An empty street leaves the open sky's light;
    dark tree crowns overhead leave darker shadows; bright walls all round, lighter ones (they are lit by the
    sun, which the shadow does not see)."""
    from synth.street_view import street_panorama

    sample, sun_rgb = light_sample(), (1.0, 0.95, 0.9)
    sun, sky = ground_irradiance(sample, sun_rgb)
    empty = np.zeros((256, 512, 4), np.uint8)
    np.testing.assert_allclose(ground_irradiance(sample, sun_rgb, empty), (sun, sky), rtol=0.01)
    upper = np.arange(256) >= 128
    crowns = empty.copy()
    crowns[upper] = (40, 60, 30, 255)  # dark leaves over the whole sky
    walls = empty.copy()
    walls[upper] = (255, 255, 255, 255)
    assert ground_irradiance(sample, sun_rgb, crowns)[1] < 0.3 * sky
    assert ground_irradiance(sample, sun_rgb, walls)[1] > sky
    # a real street: its facades and trees take some of the sky
    for key in (3, 77, 1234):
        street_sky = ground_irradiance(sample, sun_rgb, street_panorama(key))[1]
        assert street_sky != sky and 0.3 * sky < street_sky < 1.5 * sky, key


def test_casters_come_on_clear_days_with_procedural_backgrounds_only():
    from synth.identities import plan_identities
    from synth.scene import sample_scene
    from tests.test_scene import paper_library

    models = paper_library()
    config = RenderConfig()
    plan = plan_identities(models, 400, 0, config.identities)
    samples = [sample_scene(config, plan, models, 0, i) for i in range(400)]
    eligible = [s for s in samples if s.sun_strength >= config.lighting.sun_strength[0] and s.sun_elevation >= 20]
    with_caster = [s for s in samples if s.caster is not None]
    assert all(s in eligible for s in with_caster)
    share = len(with_caster) / len(eligible)
    assert abs(share - config.lighting.caster_prob) < 4 * np.sqrt(0.25 / len(eligible))
    assert {s.caster["kind"] for s in with_caster} == set(CASTER_KINDS)
    files = [sample_scene(config, plan, models, 0, i, num_backgrounds=3) for i in range(200)]
    assert not any(s.caster for s in files if s.background["kind"] == "file")
    off = dataclasses.replace(config.lighting, caster_prob=0.0)
    config_off = dataclasses.replace(config, lighting=off)
    assert not any(sample_scene(config_off, plan, models, 0, i).caster for i in range(100))


def test_the_ground_that_lights_the_body_is_the_road_the_background_draws():
    """The shadow catcher bounces the road's albedo onto the body's lower half, and the sky group's ground
    (what the paint mirrors below the horizon) is that road lit by the sun and the sky: a catcher left at
    Blender's 0.8 grey lit sills and tyres like snow, and an albedo times the sky's strength alone mirrored a road
    that did not follow the sun (up to 8x too dark under a high one)."""
    from synth.backgrounds import road_style
    from synth.identities import plan_identities
    from synth.scene import sample_scene
    from synth.shadows import lit_ground
    from tests.test_scene import paper_library

    models = paper_library()
    config = RenderConfig()
    plan = plan_identities(models, 40, 0, config.identities)
    for i in range(40):
        sample = sample_scene(config, plan, models, 0, i)
        style = road_style(sample.background["key"])
        road = compose.srgb_to_linear(np.float64(style["asphalt"])) * np.asarray(style["asphalt_tint"])
        np.testing.assert_allclose(sample.ground_color, road, rtol=1e-6)
        sun_rgb = np.ones(3)
        sun, sky = ground_irradiance(sample, sun_rgb)
        radiance = lit_ground(sample, sun_rgb) * sample.sky_strength
        np.testing.assert_allclose(radiance, road * (sun + sky) / np.pi, rtol=1e-9)


def test_caster_kinds_must_be_known_and_weighted():
    with pytest.raises(ConfigError, match="caster_kinds"):
        RenderConfig.load(None, ["lighting.caster_kinds={tree: 1}"])
    with pytest.raises(ConfigError, match="caster_kinds"):
        RenderConfig.load(None, ["lighting.caster_kinds={canopy: 0}"])
    assert RenderConfig.load(None, ["lighting.caster_kinds={poles: 1}"]).lighting.caster_kinds == {"poles": 1}


def test_compositing_mixes_light_not_srgb_codes():
    rng = np.random.default_rng(0)
    background = rng.uniform(0.2, 1.0, (8, 8, 3)).astype(np.float32)
    shadow = np.zeros((8, 8, 4), np.uint8)
    shadow[..., 3] = 204  # a catcher pixel keeping a fifth of the light
    out = compose.linear_to_srgb(compose.composite(compose.premultiply(shadow), compose.srgb_to_linear(background)))
    expected = compose.linear_to_srgb(compose.srgb_to_linear(background) * (1 - 204 / 255))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert (out > 0.35 * background).all()  # not a fifth of the sRGB value (near black): about half
    opaque = rng.integers(0, 256, (8, 8, 4)).astype(np.uint8)
    opaque[..., 3] = 255
    opaque_over = compose.composite(compose.premultiply(opaque), compose.srgb_to_linear(background))
    np.testing.assert_allclose(compose.linear_to_srgb(opaque_over), opaque[..., :3] / 255, atol=1e-4)


# --- in a Cycles render --------------------------------------------------------------------------------------

needs_blender = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy is not installed")


def render_caster_probe(models_dir: str) -> dict:
    """In a Blender process: one view under a half-plane, a striped and a full caster, with and without them,
    and one with clouds off and full; returns what the tests below compare."""
    from synth.camera import camera_centre, pixel_rays
    from synth.identities import plan_identities
    from synth.sample_renderer import SampleRenderer
    from synth.vehicles.library import load_library

    config = RenderConfig()
    config.image.size = 128
    config.image.native_size = (128.0, 128.0)
    models = load_library(models_dir)
    plan = plan_identities(models, 10, 0)
    renderer = SampleRenderer(config, models, plan, 0)
    base = dataclasses.replace(renderer.describe(0), azimuth=30.0, elevation=25.0, distance=9.0, occluders=[],
                               patches=[], roll=0.0, aim=(0.0, 0.0, 0.7), sun_elevation=45.0, sun_azimuth=200.0,
                               sun_strength=4.0, sky_strength=0.3, sun_angle=0.5, exposure=0.0, cloud_cover=0.0,
                               overcast=False)
    to_sun = sun_direction(45.0, 200.0)
    caster = {"kind": "building", "seed": 0, "height": 7.0, "angle": 0.0,
              "centre": tuple(to_sun[:2] * 6.2 / to_sun[2])}
    local = (np.arange(MASK_SIZE) + 0.5) / MASK_SIZE * 2 * HALF_SIZE - HALF_SIZE
    x, y = np.meshgrid(local, local)
    inner = (np.maximum(np.abs(x), np.abs(y)) < HALF_SIZE - 2).astype(np.float32)
    masks = {"half": inner * (x > 0.3), "stripes": inner * (np.mod(x + y, 1.6) < 0.4), "full": inner}

    def shot(sample, mask=None):
        frame = renderer.setup(sample)
        if mask is not None:
            frame["caster_mask"] = mask.astype(np.float32)
            renderer.builder.set_caster(sample, frame["caster_mask"])
        renderer.builder.update()
        labels = renderer.labels(sample, frame)
        fg = compose.resize_to(compose.premultiply(renderer.builder.render(sample.seed)), 128)
        return fg, frame, labels

    out = {}
    plain, frame, labels = shot(base)
    out["plain_keypoints"] = labels["keypoints"]
    (x0, y0), (x1, y1) = frame["catcher"]
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float64)
    rays = pixel_rays(frame["K"], frame["Rt"], np.stack([xs, ys], -1))
    origin = camera_centre(frame["Rt"])
    ground = origin + (-origin[2] / np.minimum(rays[..., 2], -1e-9))[..., None] * rays
    on_catcher = ((rays[..., 2] < 0) & (ground[..., 0] > x0) & (ground[..., 0] < x1) & (ground[..., 1] > y0)
                  & (ground[..., 1] < y1))
    vehicle = plain[..., 3] > 0.99
    for name, mask in masks.items():
        sample = dataclasses.replace(base, caster=caster)
        shaded, frame, labels = shot(sample, mask)
        free = on_catcher & (plain[..., :3].max(-1) < 0.004) & (shaded[..., :3].max(-1) < 0.004)
        free &= plain[..., 3] < 0.1  # away from the vehicle's own shadow
        cycles = (1 - shaded[..., 3][free]) / (1 - plain[..., 3][free])
        numpy = ground_light(ground[free], caster, frame["caster_mask"], sample, frame["sun_rgb"],
                             street=frame["street"])
        out[name + "_open_sky"] = ground_light(ground[free], caster, frame["caster_mask"], sample, frame["sun_rgb"])
        out[name] = {"cycles": cycles, "numpy": numpy, "keypoints": labels["keypoints"],
                     "vehicle": float(shaded[..., :3][vehicle].mean()), "plain_vehicle": float(
                         plain[..., :3][vehicle].mean())}
    # a grey day: the catcher's shade round the body runs on into the 2D road beyond its edge
    grey = dataclasses.replace(base, overcast=True, sun_strength=0.3, sky_strength=1.2, sky_color=(0.6, 0.62, 0.65))
    fg, frame, _ = shot(grey)
    (x0, y0), (x1, y1) = frame["catcher"]
    edge = np.minimum.reduce([ground[..., 0] - x0, x1 - ground[..., 0], ground[..., 1] - y0, y1 - ground[..., 1]])
    road = (rays[..., 2] < 0) & (fg[..., :3].max(-1) < 0.004)
    shaded = renderer.background(grey, frame, native=True)
    unshaded = renderer.background(grey, {**frame, "catcher": None}, native=True)
    if shaded.shape[:2] != (128, 128):
        raise RuntimeError("the probe expects a 128 px render")
    composite = compose.composite(fg, shaded)[..., :3].mean(-1) / (unshaded[..., :3].mean(-1) + 1e-9)
    road_shade = shaded[..., :3].mean(-1) / (unshaded[..., :3].mean(-1) + 1e-9)
    inside, outside = road & (edge > 0.02) & (edge < 0.3), road & (edge < -0.02) & (edge > -0.3)
    out["seam"] = {"inside": float(composite[inside].mean()), "outside": float(composite[outside].mean()),
                   "outside_unshaded": 1.0, "count": (int(inside.sum()), int(outside.sum())),
                   "far": float(road_shade[road & (edge < -6.0)].mean())}
    # clouds: a car seen head-on from above, whose raked windshield mirrors the sky overhead
    car = next(s for s in map(renderer.describe, range(50)) if models[s.identity.model_index].type_id in (1, 2, 4, 9))
    clear = dataclasses.replace(base, azimuth=0.0, elevation=35.0, identity=car.identity, look=car.look)
    plain, _, _ = shot(clear)
    cloudy, _, _ = shot(dataclasses.replace(clear, cloud_cover=1.0, cloud_brightness=3.0))
    change = (cloudy[..., :3] - plain[..., :3]).mean(-1)
    vehicle = plain[..., 3] > 0.99
    out["cloud_brighter_pixels"] = int((change[vehicle] > 0.01).sum())
    out["cloud_darker_pixels"] = int((change[vehicle] < -0.01).sum())
    out["cloud_catcher_change"] = float(np.abs(cloudy[..., 3] - plain[..., 3])[plain[..., 3] < 0.9].mean())
    return out


@pytest.fixture(scope="module")
def caster_probe(library):
    """render_caster_probe's results on the session's three-model library (tests/conftest.py)."""
    from synth.render import run_in_blender_process

    return run_in_blender_process(render_caster_probe, str(library))


@needs_blender
def test_the_shadow_catcher_continues_the_2d_shading_of_the_road(caster_probe):
    for name in ("half", "stripes"):
        cycles, numpy = caster_probe[name]["cycles"], caster_probe[name]["numpy"]
        assert len(cycles) > 100 and (numpy < 0.6).sum() > 30 and (numpy > 0.95).sum() > 30, name
        assert np.median(np.abs(cycles - numpy)) < 0.04, name
        assert np.corrcoef(cycles, numpy)[0, 1] > 0.9, name


@needs_blender
def test_on_a_grey_day_the_shade_round_a_vehicle_has_no_step_at_the_catchers_edge(caster_probe):
    seam = caster_probe["seam"]
    assert min(seam["count"]) > 20
    assert seam["inside"] < 0.95  # the body hides a good part of a grey sky from the road next to it
    assert abs(seam["inside"] - seam["outside"]) < 0.05
    assert abs(seam["inside"] - seam["outside_unshaded"]) > 0.05  # what a 2D road left unshaded showed
    assert seam["far"] == pytest.approx(1.0, abs=0.005)  # metres away the road is as drawn


@needs_blender
def test_a_caster_shades_the_vehicle_and_leaves_its_labels_alone(caster_probe):
    full = caster_probe["full"]
    assert full["vehicle"] < 0.7 * full["plain_vehicle"]
    assert caster_probe["half"]["plain_vehicle"] > caster_probe["half"]["vehicle"] > full["vehicle"]
    for name in ("half", "stripes", "full"):
        np.testing.assert_array_equal(caster_probe[name]["keypoints"], caster_probe["plain_keypoints"])


@needs_blender
def test_clouds_show_in_the_windows_and_leave_the_light_alone(caster_probe):
    assert caster_probe["cloud_brighter_pixels"] > 30
    assert caster_probe["cloud_darker_pixels"] < 0.25 * caster_probe["cloud_brighter_pixels"]  # denoiser noise
    assert caster_probe["cloud_catcher_change"] < 0.003  # shadows on the ground: the world has no clouds


def test_develop_rolls_highlights_off_and_undevelop_gives_a_finished_picture_back():
    """The render is made HEADROOM_STOPS under exposure; develop brings it up with a shoulder: identity up to the
    knee, then monotonic and below white even at the top of the headroom (a sunlit white body keeps shading)."""
    levels = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    image = np.repeat(levels[:, None, None], 3, axis=2)  # (256, 1, 3) sRGB ramp at the render's scale
    out = compose.develop(compose.srgb_to_linear(image))[:, 0, 0]
    linear_out = compose.srgb_to_linear(out)
    brought_up = compose.srgb_to_linear(levels) * 2.0 ** compose.HEADROOM_STOPS
    below = brought_up <= compose.SHOULDER_KNEE
    np.testing.assert_allclose(linear_out[below], brought_up[below], atol=1e-5)  # plain exposure below the knee
    assert np.all(np.diff(out) >= -1e-6) and np.all(np.diff(out[~below]) > 0)  # highlights keep their steps
    assert out[-1] < 0.999 and out[-1] > 0.98  # the brightest render value stays short of burnt white
    # a real frame taken to the render's scale comes back as it was
    frame = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32) * 0.98
    np.testing.assert_allclose(compose.develop(compose.undevelop(frame)), frame, atol=2e-3)
