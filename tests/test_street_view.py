"""The street that paint and windows mirror (synth/street_view.py): the panorama's layout against the procedural
background it is drawn from, its sky left transparent, and in Cycles, reflections that follow the road's heading."""
from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

from synth.backgrounds import procedural_background
from synth.camera import intrinsics, look_at, pixel_rays
from synth.compose import srgb_to_linear
from synth.street_view import (
    EYE_HEIGHT, PANORAMA_WIDTH, diffuse_panorama, draw_street, panorama_directions, street_cover, street_panorama)


def panorama_at(panorama: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Nearest texels (..., 4) of road-frame directions, by the layout the sky group reads."""
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    height, width = panorama.shape[:2]
    u = np.arctan2(d[..., 1], d[..., 0]) / (2 * np.pi) + 0.5
    v = np.arcsin(np.clip(d[..., 2], -1, 1)) / np.pi + 0.5
    col = np.clip((u * width).astype(int), 0, width - 1)
    row = np.clip((v * height).astype(int), 0, height - 1)
    return panorama[row, col]


def test_directions_and_texels_agree():
    d = panorama_directions(64)
    assert d.shape == (32, 64, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-9)
    assert d[0, :, 2].max() < -0.99 and d[-1, :, 2].min() > 0.99  # row 0 is the nadir
    rows, cols = np.mgrid[0:32, 0:64]
    image = np.stack([rows, cols, rows, cols], -1)
    np.testing.assert_array_equal(panorama_at(image, d)[..., :2], np.stack([rows, cols], -1))


@pytest.mark.parametrize("key", [3, 1234])
def test_the_panorama_is_the_street_the_background_draws(key):
    """Any view of the panorama shows what a pinhole camera at the vehicle's place sees of the same road (here
    one looking 30 degrees off the road and down, between the cube faces the panorama is made from)."""
    panorama = street_panorama(key)
    assert panorama.shape == (PANORAMA_WIDTH // 2, PANORAMA_WIDTH, 4) and panorama.dtype == np.uint8
    eye = np.array([0.0, 0.0, EYE_HEIGHT])
    heading = np.radians(30.0)
    Rt = look_at(eye, eye + np.array([np.cos(heading), np.sin(heading), -0.25]))
    K = intrinsics(60.0, 63.5, 63.5)
    direct = procedural_background(K, Rt, 128, 0.0, key, key, sky_color=(0.0, 0.0, 0.0))
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float64)
    texels = panorama_at(panorama, pixel_rays(K, Rt, np.stack([xs, ys], -1))).astype(np.float32) / 255
    opaque = texels[..., 3] > 0.99
    assert opaque.mean() > 0.5
    error = np.abs(texels[..., :3] - direct)[opaque].mean(-1)
    assert np.median(error) < 0.03
    # the same road turned: far off
    turned = panorama_at(panorama, pixel_rays(K, Rt, np.stack([xs, ys], -1)) * np.array([-1, -1, 1]))
    assert np.median(np.abs(turned[..., :3].astype(np.float32) / 255 - direct)[opaque].mean(-1)) > np.median(error)


def test_the_sky_is_left_transparent_and_the_ground_opaque():
    for key in (3, 77, 1234):
        panorama = street_panorama(key)
        alpha = panorama[..., 3].astype(np.float32) / 255
        height = alpha.shape[0]
        # more than 10 degrees below the horizon: the road, kerb and pavement (nearer it, far road in haze)
        assert alpha[: height // 2 - height // 18].min() > 0.97
        assert alpha[-height // 8:].mean() < 0.25  # overhead: sky between the roof lines (and crowns)
        assert 0.2 < alpha[height // 2: height // 2 + height // 8].mean() < 1.0  # facades and gaps
    np.testing.assert_array_equal(street_panorama(77), draw_street(77))
    assert np.abs(street_panorama(3).astype(int) - street_panorama(77).astype(int)).mean() > 5


# --- in a Cycles render --------------------------------------------------------------------------------------

needs_blender = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy is not installed")


def render_street_probe(models_dir: str) -> dict:
    """In a Blender process: a car seen from its left under a street red ahead along the road and blue behind,
    with the road heading to the car's left and to its right; and the real street against none."""
    from synth import compose
    from synth.blender.sky import set_street
    from synth.identities import plan_identities
    from synth.sample_renderer import SampleRenderer
    from synth.scene import RenderConfig
    from synth.vehicles.library import load_library

    config = RenderConfig()
    config.image.size = 96
    config.image.native_size = (96.0, 96.0)
    models = load_library(models_dir)
    renderer = SampleRenderer(config, models, plan_identities(models, 10, 0), 0)
    base = dataclasses.replace(renderer.describe(0), azimuth=90.0, elevation=10.0, distance=9.0, occluders=[],
                               patches=[], roll=0.0, aim=(0.0, 0.0, 0.7), sun_elevation=45.0, sun_azimuth=200.0,
                               sun_strength=4.0, sky_strength=0.3, exposure=0.0, cloud_cover=0.0, caster=None)
    two_ends = np.zeros((PANORAMA_WIDTH // 2, PANORAMA_WIDTH, 4), np.uint8)
    ahead = panorama_directions()[..., 0] > 0
    two_ends[ahead] = (230, 20, 20, 255)
    two_ends[~ahead] = (20, 20, 230, 255)

    def shot(sample, street):
        renderer.setup(sample)
        set_street(street)
        renderer.builder.update()
        return compose.premultiply(renderer.builder.render(sample.seed))

    out = {}
    for yaw in (90.0, -90.0):
        image = shot(dataclasses.replace(base, road_yaw=yaw), two_ends)
        body = image[..., 3] > 0.99
        out[f"red_minus_blue_{yaw:.0f}"] = float((image[..., 0] - image[..., 2])[body].mean())
    own, none = shot(base, street_panorama(base.background["key"])), shot(base, None)
    body = own[..., 3] > 0.99
    out["street_change"] = float(np.abs(own[..., :3] - none[..., :3])[body].mean())
    return out


@pytest.fixture(scope="module")
def street_probe(library):
    """render_street_probe's results on the session's three-model library (tests/conftest.py)."""
    from synth.render import run_in_blender_process

    return run_in_blender_process(render_street_probe, str(library))


@needs_blender
def test_paint_and_windows_mirror_the_street_turned_to_the_road(street_probe):
    # the car's left side faces the camera and mirrors what lies to its left: the road ahead (red) where the
    # road heads that way (yaw 90), the road behind (blue) where it heads the other
    assert street_probe["red_minus_blue_90"] > street_probe["red_minus_blue_-90"] + 0.02
    assert street_probe["street_change"] > 0.005  # the real street shows in the body and the glass


def test_a_runs_workers_draw_each_street_once_and_share_it(tmp_path):
    """With a run's cache folder (synth/render.py makes one per run) a street is drawn once and read back by
    the workers after it (not drawn again); a damaged file is drawn again, not taken for a street."""
    first = street_panorama.__wrapped__(77, str(tmp_path))
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [f"street_77_{PANORAMA_WIDTH}.npy"]
    np.testing.assert_array_equal(first, draw_street(77))
    np.save(files[0], np.zeros_like(first))  # what the folder holds is what the next worker gets
    assert not street_panorama.__wrapped__(77, str(tmp_path)).any()
    files[0].write_bytes(files[0].read_bytes()[:200])
    np.testing.assert_array_equal(street_panorama.__wrapped__(77, str(tmp_path)), first)
    assert [f.name for f in tmp_path.iterdir()] == [files[0].name]  # no temporaries left


def test_street_trees_stand_in_the_pavement_and_show_in_the_panorama():
    from synth.backgrounds import road_style
    from synth.street_view import street_trees

    planted = [key for key in range(40) if street_trees(key)]
    assert 10 < len(planted) < 40  # some streets have none
    for key in planted[:6]:
        style = road_style(key)
        panorama = street_panorama(key)
        green = 0
        trees = street_trees(key)
        for tree in trees:
            x, y, z = tree["centre"]
            side = np.sign(y)
            lanes = style["lanes_left"] if side > 0 else style["lanes_right"]
            edge = side * (0.5 + lanes) * style["lane_width"] + style["lane_offset"]
            facade = style["facade_distance"] + lanes * style["lane_width"]
            assert abs(edge) < abs(y) < facade - 0.5  # beyond the kerb, clear of the buildings
            texel = panorama_at(panorama, np.array([x, y, z - EYE_HEIGHT])).astype(int)
            green += texel[3] == 255 and texel[1] > texel[0] and texel[1] > texel[2]
        assert green >= 0.6 * len(trees)  # the crowns' middles (some in a gap, or behind a nearer tree)


def test_diffuse_rays_see_the_street_blurred_with_the_same_light():
    """What the sky group shows diffuse rays: the street's rooflines and window grids gone, where the facades
    stand and how much light they send kept (a diffuse surface's light is a low-pass integral of them)."""
    sharp = draw_street(3)
    soft = diffuse_panorama(sharp)
    assert soft.shape == (32, 64, 4) and soft.dtype == np.uint8

    def light(p):  # alpha-weighted linear luminance per row, and the cover per row, rows from the nadir up
        a = p[..., 3] / 255.0
        lum = srgb_to_linear(p[..., :3] / 255.0) @ np.array([0.2126, 0.7152, 0.0722])
        return (a * lum).mean(axis=1), a.mean(axis=1)

    (sharp_light, sharp_cover), (soft_light, soft_cover) = light(sharp), light(soft)
    assert soft_cover.mean() == pytest.approx(sharp_cover.mean(), abs=0.01)
    assert soft_light.mean() == pytest.approx(sharp_light.mean(), rel=0.03)
    # row by row too (the sharp rows averaged down to the soft panorama's 32): the facades' height is kept
    rows = sharp_cover.reshape(32, -1).mean(axis=1)
    assert np.abs(soft_cover - rows).max() < 0.12
    # the cover of the sky above the street, as the shadows reckon it, barely moves
    assert np.abs(street_cover(soft)["open"].mean() - street_cover(sharp)["open"].mean()) < 0.01
    # high frequencies gone: neighbouring texels round the horizon differ by a fraction of the sharp ones'
    def roughness(p, row_fraction):
        row = p[int(row_fraction * p.shape[0]), :, 3].astype(float) / 255
        return np.abs(np.diff(np.append(row, row[0]))).max()
    assert roughness(soft, 0.6) < 0.15 < roughness(sharp, 0.6)
