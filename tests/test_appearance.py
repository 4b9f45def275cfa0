"""Identity looks (synth/appearance.py): plates with characters, determinism, twins; and in a Cycles render, the
cabin seen through the glass and the plate texture on the plate."""
from __future__ import annotations

import dataclasses
import importlib.util
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from synth.appearance import (BUS_LIVERIES, WINDOW_LINE, AppearanceConfig, bus_livery, glass_texture, identity_look,
                               plate_texture, side_texture)
from synth.identities import IdentityConfig, plan_identities
from synth.scene import RenderConfig
from synth.vocabulary import TYPE_NAMES


def _identity(vehicle_id, type_id=1, paint=(0.5, 0.05, 0.05), twin_of=-1):
    return SimpleNamespace(vehicle_id=vehicle_id, type_id=type_id, paint_rgb=paint, twin_of=twin_of)


def test_bus_windows_are_tinted_in_their_own_range_never_clear():
    """A bus is seen through two panes: its tint comes from its own range (the far windows and seat backs show,
    no black band), never as clear as a windshield; cars keep theirs."""
    config = AppearanceConfig()
    lo, hi = config.paint.glass_transmission
    bus_lo, bus_hi = config.paint.bus_glass_transmission
    bus, car = TYPE_NAMES.index("bus"), TYPE_NAMES.index("sedan")
    buses = [identity_look(config, 0, _identity(i, bus)) for i in range(200)]
    cars = [identity_look(config, 0, _identity(i, car)).glass_transmission for i in range(40)]
    panes = np.array([look.glass_transmission for look in buses])
    assert panes.min() >= bus_lo - 1e-9 and panes.max() <= bus_hi + 1e-9 and np.ptp(panes) > 0.6 * (bus_hi - bus_lo)
    assert all(look.glass_transmission < look.windshield_transmission for look in buses)
    assert min(cars) >= lo - 1e-9
    config.paint.bus_glass_transmission = (0.05, 0.06)
    assert max(identity_look(config, 0, _identity(i, bus)).glass_transmission for i in range(20)) <= 0.06 + 1e-9


def test_a_share_of_light_vehicles_have_untinted_windows_as_clear_as_the_windshield():
    config = AppearanceConfig()
    sedan, bus = TYPE_NAMES.index("sedan"), TYPE_NAMES.index("bus")
    cars = [identity_look(config, 1, _identity(i, sedan)) for i in range(400)]
    clear = [look for look in cars if look.glass_transmission == look.windshield_transmission]
    assert abs(len(clear) / len(cars) - config.paint.clear_glass_prob) < 0.08, len(clear)
    tinted_hi = config.paint.glass_transmission[1]
    assert all(look.glass_transmission <= tinted_hi for look in cars if look not in clear)
    buses = [identity_look(config, 1, _identity(i, bus)) for i in range(100)]
    assert all(look.glass_transmission <= config.paint.bus_glass_transmission[1] + 1e-9 for look in buses)
    config.paint.clear_glass_prob = 0.0
    assert all(identity_look(config, 1, _identity(i, sedan)).glass_transmission <= tinted_hi for i in range(100))


def test_windshields_are_at_least_as_clear_as_the_other_windows_of_every_type():
    config = AppearanceConfig()
    lo, hi = config.paint.windshield_transmission
    for type_id in range(len(TYPE_NAMES)):
        looks = [identity_look(config, 0, _identity(i, type_id)) for i in range(30)]
        windshields = np.array([look.windshield_transmission for look in looks])
        assert np.all((windshields >= lo) & (windshields <= hi)) and windshields.std() > 0.02
        assert all(look.windshield_transmission >= look.glass_transmission for look in looks)


def _ink_components(img: np.ndarray, ink_is_bright: bool) -> int:
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    h = grey.shape[0]
    band = grey[int(0.12 * h):int(0.88 * h), 10:-10]  # inside the border
    _, mask = cv2.threshold(band, 0, 255, (cv2.THRESH_BINARY if ink_is_bright else cv2.THRESH_BINARY_INV)
                            + cv2.THRESH_OTSU)
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    return int(np.sum(stats[1:, cv2.CC_STAT_AREA] > 20))


def test_plate_texture_holds_one_glyph_per_character_and_is_the_identitys_own():
    config = AppearanceConfig()
    looks = [identity_look(config, 7, _identity(i)) for i in range(6)]
    for look in looks:
        img = plate_texture(look)
        assert img.shape == (100, 320, 3) and img.dtype == np.uint8
        glyphs = sum(ch.isalnum() for ch in look.plate_text)
        # one blob per letter or digit (the province glyph and the dot add more), none merged into a bar
        assert glyphs <= _ink_components(img, look.plate_style == "cn_blue") <= glyphs + 8, look.plate_text
    assert len({look.plate_text for look in looks}) == len(looks)
    again = identity_look(config, 7, _identity(3))
    assert again == looks[3]
    np.testing.assert_array_equal(plate_texture(again), plate_texture(looks[3]))
    assert not np.array_equal(plate_texture(looks[0]), plate_texture(looks[1]))


def test_plate_styles_and_privacy_masks():
    config = AppearanceConfig()
    heavy = identity_look(config, 1, _identity(0, type_id=7))  # a bus: yellow plate, dark characters
    assert heavy.plate_style == "cn_yellow"
    mean = plate_texture(heavy).reshape(-1, 3).mean(axis=0)
    assert mean[0] > mean[2] + 60  # yellow
    for style in ("eu", "us"):
        config = AppearanceConfig()
        config.plate.styles = {style: 1.0}
        look = identity_look(config, 1, _identity(0))
        assert look.plate_style == style
        assert _ink_components(plate_texture(look), False) >= 6
    def band_contrast(img):
        return float(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[15:85, 15:305].std())

    config = AppearanceConfig()
    clear = band_contrast(plate_texture(identity_look(config, 1, _identity(0))))
    config.plate.mask = "blank"
    assert band_contrast(plate_texture(identity_look(config, 1, _identity(0)))) < 1.0 < clear
    config.plate.mask = "blur"
    assert band_contrast(plate_texture(identity_look(config, 1, _identity(0)))) < 0.5 * clear
    config.plate.mask = "smudge"
    with pytest.raises(ValueError, match="mask"):
        identity_look(config, 1, _identity(0))


def test_marks_textures_are_deterministic_and_carry_what_the_look_says():
    config = AppearanceConfig()
    config.marks.sticker_count = (2, 2)
    config.marks.livery_prob = 1.0
    look = identity_look(config, 2, _identity(5, type_id=3))
    assert len(look.stickers) == 2 and look.livery in ("stripe", "logo")
    glass = glass_texture(look)
    assert glass.shape == (128, 256, 4) and 0 < (glass[..., 3] > 0).mean() < 0.2
    side = side_texture(look)
    assert (side[..., 3] > 0).any()
    np.testing.assert_array_equal(side, side_texture(identity_look(config, 2, _identity(5, type_id=3))))
    config.marks.sticker_count = (0, 0)
    assert not glass_texture(identity_look(config, 2, _identity(5, type_id=3)))[..., 3].any()


def test_windshield_stickers_are_small_pale_labels_in_a_row_at_the_top_corner():
    """Real inspection stickers are 5-8 cm labels lined up at the top of the windshield on the passenger side,
    printed in pale colours; big saturated squares scattered over the glass read as a toy's decals."""
    config = AppearanceConfig()
    config.marks.sticker_count = (4, 4)
    for i in range(50):
        stickers = identity_look(config, 3, _identity(i)).stickers
        assert len(stickers) == 4
        u, v, w, h = (np.array([s[k] for s in stickers]) for k in range(4))
        rgb = np.array([s[4:] for s in stickers])
        assert np.all(w * 1.4 < 0.09) and np.all(h * 0.75 < 0.1)  # metres on a 1.4 x 0.75 m windshield
        assert np.all(u + w < 0.4) and np.all(v > 0.6) and np.all(v + h <= 0.9)
        assert np.all(u[1:] >= u[:-1] + w[:-1])  # side by side, none over another
        saturation = (rgb.max(axis=1) - rgb.min(axis=1)) / rgb.max(axis=1)
        assert np.all(saturation < 0.5) and np.all(rgb.max(axis=1) > 0.5)


def test_finishes_follow_the_configured_mix():
    config = AppearanceConfig()
    looks = [identity_look(config, 0, _identity(i)) for i in range(400)]
    share = {f: np.mean([lk.finish == f for lk in looks]) for f in config.paint.finishes}
    for finish, weight in config.paint.finishes.items():
        assert abs(share[finish] - weight / sum(config.paint.finishes.values())) < 0.08, share
    assert all(lk.coat == 0.0 for lk in looks if lk.finish == "matte")
    assert all(lk.pearl > 0 for lk in looks if lk.finish == "pearl")
    assert all(lk.pearl == 0 and lk.flake == 0 for lk in looks if lk.finish == "solid")
    assert any(lk.two_tone for lk in looks) and any(lk.dirt > 0 for lk in looks)


def _library(num_models=6):
    return [SimpleNamespace(name=f"m{i}", type_id=1 + i % 6, colors=tuple(range(1, 11)), fixed_color=False)
            for i in range(num_models)]


def test_twins_share_model_colour_and_paint_and_differ_only_in_marks():
    models = _library()
    plain = plan_identities(models, 600, seed=5)
    plan = plan_identities(models, 600, seed=5, config=IdentityConfig(twin_fraction=0.2))
    # twins repaint identities; the sample plan is the same with or without them
    np.testing.assert_array_equal(plain.sample_identity, plan.sample_identity)
    twins = [ident for ident in plan.identities if ident.twin_of >= 0]
    assert len(twins) == round(0.2 * len(plan.identities))
    assert not any(ident.twin_of >= 0 for ident in plain.identities)
    config = AppearanceConfig()
    for twin in twins:
        source = plan.identities[twin.twin_of]
        assert source.twin_of < 0 and source.vehicle_id != twin.vehicle_id
        assert (source.model_index, source.color_id, source.paint_rgb) == (twin.model_index, twin.color_id,
                                                                           twin.paint_rgb)
        a, b = identity_look(config, 5, source), identity_look(config, 5, twin)
        for name in ("finish", "metallic", "roughness", "coat", "coat_roughness", "flake", "pearl", "two_tone",
                     "roof_rgb", "glass_transmission", "windshield_transmission", "plate_style"):
            assert getattr(a, name) == getattr(b, name), name
        assert a.plate_text != b.plate_text
    assert len({t.twin_of for t in twins}) == len(twins)  # pairs, not clusters


def test_roof_boxes_are_identity_marks_of_light_vehicles_only():
    config = AppearanceConfig()
    config.marks.roof_box_prob = 0.3
    looks = [identity_look(config, 3, _identity(i, type_id=1 + i % 9)) for i in range(600)]
    light = [lk for i, lk in enumerate(looks) if TYPE_NAMES[1 + i % 9] not in ("bus", "truck")]
    heavy = [lk for i, lk in enumerate(looks) if TYPE_NAMES[1 + i % 9] in ("bus", "truck")]
    assert not any(lk.roof_box for lk in heavy)
    share = np.mean([bool(lk.roof_box) for lk in light])
    assert 0.22 < share < 0.38, share
    for lk in light:
        if lk.roof_box and lk.livery != "taxi":
            length, width, height, shade = lk.roof_box
            assert 0.5 < length <= 1.1 and 0.4 < width < 0.8 and 0.25 < height < 0.5 and 0 < shade < 1
    # drawn from their own stream: switching roof boxes off leaves every other mark as it was
    config.marks.roof_box_prob = 0.0
    for i, lk in enumerate(looks[:50]):
        other = identity_look(config, 3, _identity(i, type_id=1 + i % 9))
        if other.livery != "taxi":
            assert other.roof_box == () and dataclasses.replace(lk, roof_box=()) == other


def test_taxis_carry_a_roof_sign():
    """A taxi (the sedan livery) wears its roof sign, a short wide white box on the roof, whatever the roof-box
    share; other identities are unchanged by it."""
    config = AppearanceConfig()
    config.marks.taxi_prob, config.marks.roof_box_prob = 1.0, 0.0
    sedan = TYPE_NAMES.index("sedan")
    looks = [identity_look(config, 4, _identity(i, type_id=sedan)) for i in range(30)]
    assert all(lk.livery == "taxi" for lk in looks)
    for lk in looks:
        length, width, height, shade = lk.roof_box
        assert length < 0.25 < 0.5 < width and height < 0.25 and shade >= 0.5  # short, wide, low, light
    config.marks.taxi_prob = 0.0
    assert not any(identity_look(config, 4, _identity(i, type_id=sedan)).roof_box for i in range(30))


def test_sunroofs_are_identity_marks_of_cars_by_type_from_their_own_stream():
    config = AppearanceConfig()
    prob = config.marks.sunroof_prob
    shares, panoramic = {}, []
    for type_name in ("sedan", "suv", "van", "bus", "truck"):
        looks = [identity_look(config, 5, _identity(i, type_id=TYPE_NAMES.index(type_name))) for i in range(400)]
        shares[type_name] = np.mean([bool(lk.sunroof) for lk in looks])
        panoramic += [lk.sunroof[1] > 0.6 for lk in looks if lk.sunroof]
        for lk in looks:
            if lk.sunroof:
                start, length, width = lk.sunroof
                assert 0.05 < start and start + length < 0.95 and 0.6 < width < 0.9  # on the roof, inside it
    for type_name, share in shares.items():
        assert abs(share - prob.get(type_name, 0.0)) < 0.07, (type_name, share)
    assert shares["bus"] == shares["truck"] == 0.0
    assert abs(np.mean(panoramic) - config.marks.panoramic_share) < 0.1
    # from their own stream: without sunroofs every other part of each look is as it was
    config.marks.sunroof_prob = {}
    for i in range(50):
        look = identity_look(AppearanceConfig(), 5, _identity(i, type_id=TYPE_NAMES.index("sedan")))
        other = identity_look(config, 5, _identity(i, type_id=TYPE_NAMES.index("sedan")))
        assert other.sunroof == () and dataclasses.replace(look, sunroof=()) == other


def test_sunroof_rect_lies_on_the_roof_behind_the_windshield():
    from synth.accessories import roof_span, sunroof_rect
    from synth.vehicles.geometry import keypoints
    from synth.vehicles.params import model_rng, sample_params

    kp = keypoints(sample_params("sedan", model_rng(0, "sedan", 0)))
    x_rear, x_front, half = roof_span(kp)
    assert sunroof_rect(kp, ()) == (0.0, 0.0, 0.0)
    rear, front, w = sunroof_rect(kp, (0.1, 0.4, 0.7))
    assert front == pytest.approx(x_front - 0.1 * (x_front - x_rear)) and front - rear == pytest.approx(
        0.4 * (x_front - x_rear))
    assert x_rear < rear < front < x_front and w == pytest.approx(0.7 * half)


def test_cladding_belongs_to_light_vehicle_types_and_twins_share_it():
    config = AppearanceConfig()
    looks = [identity_look(config, 5, _identity(i, type_id=1 + i % 9)) for i in range(900)]
    for name in ("bus", "truck"):
        assert not any(lk.cladding for i, lk in enumerate(looks) if TYPE_NAMES[1 + i % 9] == name)
    suv = [lk.cladding for i, lk in enumerate(looks) if TYPE_NAMES[1 + i % 9] == "suv"]
    sedan = [lk.cladding for i, lk in enumerate(looks) if TYPE_NAMES[1 + i % 9] == "sedan"]
    assert np.mean(np.array(suv) > 0) > np.mean(np.array(sedan) > 0) + 0.2  # crossovers wear it most
    lo, hi = config.paint.cladding_height
    assert all(lo <= c <= hi for c in suv + sedan if c > 0)
    clad = next(i for i, lk in enumerate(looks) if lk.cladding > 0)  # a twin copies its source's finish
    twin = identity_look(config, 5, _identity(5000, type_id=1 + clad % 9, twin_of=clad))
    assert twin.cladding == looks[clad].cladding


def test_the_render_config_loads_appearance_from_yaml(tmp_path):
    path = tmp_path / "render.yaml"
    path.write_text("appearance:\n  plate: {mask: blur, styles: {eu: 1.0}}\n  paint: {two_tone_prob: 0.5}\n"
                    "identities: {twin_fraction: 0.1}\n")
    config = RenderConfig.from_yaml(path)
    assert config.appearance.plate.mask == "blur" and config.appearance.plate.styles == {"eu": 1.0}
    assert config.appearance.paint.two_tone_prob == 0.5 and config.identities.twin_fraction == 0.1


# --- in a Cycles render --------------------------------------------------------------------------------------

needs_blender = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy is not installed")


def render_look_probe(models_dir: str) -> dict:
    """In a Blender process: one front three-quarter view rendered with the cabin in its colours and
    recoloured bright, and with two plates of different characters; returns the images."""
    import bpy

    from synth import compose
    from synth.sample_renderer import SampleRenderer
    from synth.vehicles.library import load_library

    config = RenderConfig()
    config.image.size = 128
    config.image.native_size = (128.0, 128.0)
    config.quality.samples = 4
    config.quality.denoise = "none"
    models = load_library(models_dir)
    plan = plan_identities(models, 10, 0)
    renderer = SampleRenderer(config, models, plan, 0)
    sample = renderer.describe(0)
    sample = dataclasses.replace(sample, azimuth=25.0, elevation=12.0, distance=7.0, occluders=[], patches=[],
                                 roll=0.0, aim=(0.0, 0.0, 0.8), sun_strength=3.0, sky_strength=1.0, exposure=0.0)

    def picture():  # the raw render developed as the pipeline develops it (it is made under exposure)
        raw = renderer.builder.render(1)[..., :3].astype(np.float32) / 255.0
        return np.round(compose.develop(compose.srgb_to_linear(raw)) * 255.0).astype(np.int16)

    def render(s):
        renderer.setup(s)
        return picture()

    out = {"base": render(sample)}
    cabin = [m for m in bpy.data.materials if m.get("pamtri_kind") in ("interior", "seat", "dashboard")]
    original = {}
    for mat in cabin:
        node = mat.node_tree.nodes["pamtri_cabin_color"]
        original[mat.name] = tuple(node.outputs[0].default_value)
        node.outputs[0].default_value = (0.9, 0.9, 0.0, 1.0)
    out["bright_cabin"] = render(sample)
    out["cabin_materials"] = len(cabin)
    other = dataclasses.replace(sample.look, plate_text="#Z.88888" if sample.look.plate_text[3] != "8" else
                                "#Z.11111")
    for mat in cabin:  # restore the cabin
        mat.node_tree.nodes["pamtri_cabin_color"].outputs[0].default_value = original[mat.name]
    out["plate_a"] = render(sample)
    out["plate_b"] = render(dataclasses.replace(sample, look=other))
    # black plastic cladding along the bottom of a white body: the lowest band of the body darkens
    white = dataclasses.replace(sample.look, cladding=0.0, dirt=0.0, livery="none")
    white_sample = dataclasses.replace(sample, look=white, identity=dataclasses.replace(
        sample.identity, paint_rgb=(0.8, 0.8, 0.8)))
    out["no_cladding"] = render(white_sample)
    out["cladding"] = render(dataclasses.replace(white_sample, look=dataclasses.replace(white, cladding=0.15)))
    out["cladding_keypoints"] = renderer.labels(white_sample, renderer.setup(white_sample))["keypoints"]
    out["dirty"] = render(dataclasses.replace(white_sample, look=dataclasses.replace(white, dirt=0.8)))
    # a sunroof seen from above: dark glass in the white roof, or none
    high = dataclasses.replace(white_sample, elevation=40.0, distance=9.0)
    out["sunroof"] = render(dataclasses.replace(high, look=dataclasses.replace(white, sunroof=(0.1, 0.42, 0.7))))
    out["no_sunroof"] = render(high)
    out["high_keypoints"] = renderer.labels(high, renderer.setup(high))["keypoints"]
    # the vehicle's own lights: daytime-running lights seen from the front, brake lights from behind
    for view, azimuth in (("front", 25.0), ("rear", 155.0)):
        lit = dataclasses.replace(sample, azimuth=azimuth, sun_strength=1.0)
        out[f"{view}_lamps_off"] = render(dataclasses.replace(lit, lamps=(0.0, 0.0)))
        out[f"{view}_lamps_on"] = render(dataclasses.replace(lit, lamps=(6.0, 4.0)))
    # the same identity and camera with and without a white roof box: pixels and the amodal label box
    boxed = dataclasses.replace(sample, look=dataclasses.replace(sample.look, roof_box=(0.9, 0.7, 0.4, 0.6)))
    frame = renderer.setup(boxed)
    for name in ("roof_box", "no_box"):
        if name == "no_box":
            frame["vehicle"].accessory_corners = renderer.builder.roof_box.place(frame["vehicle"], ())
        out[name] = picture()
        labels = renderer.labels(boxed, frame)
        out[name + "_label"], out[name + "_keypoints"] = labels["box"], labels["keypoints"]
    return out


@pytest.fixture(scope="module")
def look_probe(sedan_library):
    """render_look_probe's images, rendered once for the tests below, of the one-model library (the procedural
    sedan_000, copied from the session's library: tests/conftest.py)."""
    from synth.render import run_in_blender_process

    return run_in_blender_process(render_look_probe, str(sedan_library))


@needs_blender
def test_the_cabin_shows_through_the_glass_and_the_plate_carries_its_characters(look_probe):
    out = look_probe
    assert out["cabin_materials"] >= 1
    changed = np.abs(out["bright_cabin"] - out["base"]).max(axis=-1) > 20
    # a bright cabin shows through the windows: a visible patch of the image changes (with opaque glass
    # nothing would)
    assert changed.sum() > 40, changed.sum()
    plate = np.abs(out["plate_b"] - out["plate_a"]).max(axis=-1) > 20
    ys, xs = np.nonzero(plate)
    assert len(ys) >= 4, "the plate's characters do not show"
    # only the plate changes: a small patch low on the vehicle
    assert (ys.max() - ys.min()) < 0.15 * 128 and (xs.max() - xs.min()) < 0.3 * 128


@needs_blender
def test_daytime_running_and_brake_lights_light_up_where_the_lamps_are(look_probe):
    out = look_probe
    for view, colour in (("front", "white"), ("rear", "red")):
        on, off = out[f"{view}_lamps_on"], out[f"{view}_lamps_off"]
        brighter = (on - off).max(axis=-1) > 40
        assert brighter.sum() >= 3, (view, brighter.sum())
        assert brighter.mean() < 0.05, (view, brighter.mean())  # only the lamps, not the body
        r, g, b = on[brighter].mean(axis=0)
        if colour == "red":
            assert r > 150 and r > 2 * g, (view, r, g, b)
        else:
            assert min(r, g, b) > 150, (view, r, g, b)
    assert (out["front_lamps_off"] - out["front_lamps_on"]).max() <= 40  # nothing goes darker


@needs_blender
def test_cladding_darkens_only_the_bottom_of_the_body(look_probe):
    out = look_probe
    darker = (out["no_cladding"] - out["cladding"]).mean(axis=-1) > 25
    ys, _xs = np.nonzero(darker)
    assert darker.sum() > 20, darker.sum()
    kp = out["cladding_keypoints"]
    lower = kp[[10, 17, 28, 35], 1].max()  # the body's lower corners (image rows grow downwards)
    upper = kp[[11, 16, 29, 34], 1].min()  # and its upper corners
    assert np.median(ys) > 0.5 * (lower + upper), (np.median(ys), lower, upper)  # in the lower half


@needs_blender
def test_dirt_is_grime_low_on_the_body_and_a_film_above_it(look_probe):
    out = look_probe
    kp = out["cladding_keypoints"]
    lower = int(kp[[10, 17, 28, 35], 1].max())  # the body's lower corners
    upper = int(kp[[11, 16, 29, 34], 1].min())  # its upper corners
    quarter = (lower - upper) // 4
    darker = (out["no_cladding"] - out["dirty"]).mean(axis=-1)  # sRGB levels a dirty white body loses
    paint = out["no_cladding"].mean(axis=-1) > 110  # the clean white paint (not glass, tyres, background)
    rows = np.arange(darker.shape[0])[:, None]
    bottom = darker[paint & (rows >= lower - quarter) & (rows < lower)]  # sills and lower bumpers
    top = darker[paint & (rows >= upper) & (rows < upper + quarter)]  # along the belt
    assert bottom.size > 100 and top.size > 100, (bottom.size, top.size)
    assert np.median(bottom) > 2 * np.median(top), (np.median(bottom), np.median(top))  # grime low down
    assert np.median(top) > 2, np.median(top)  # and a film of dust above it
    assert (bottom > 100).mean() < 0.02  # greyed, not blotched black


@needs_blender
def test_a_sunroof_darkens_the_roof_between_the_windshield_and_rear_window(look_probe):
    out = look_probe
    darker = (out["no_sunroof"] - out["sunroof"]).mean(axis=-1) > 40
    assert darker.sum() > 30, darker.sum()
    roof = out["high_keypoints"][[13, 14, 32, 31], :2].astype(np.float32)  # rear window / windshield tops
    ys, xs = np.nonzero(darker)
    inside = [cv2.pointPolygonTest(roof, (float(x), float(y)), True) > -2.0 for x, y in zip(xs, ys)]
    assert np.mean(inside) > 0.95, np.mean(inside)
    assert (out["sunroof"] - out["no_sunroof"]).max() < 25  # nothing else brightens


@needs_blender
def test_a_roof_box_sits_on_the_roof_and_the_labels_follow_it(look_probe):
    out = look_probe
    changed = np.abs(out["roof_box"] - out["no_box"]).max(axis=-1) > 25
    ys, _xs = np.nonzero(changed)
    assert changed.sum() > 60, changed.sum()
    roof_row = out["no_box_keypoints"][[13, 14, 31, 32], 1].min()  # the rear-window and windshield tops
    assert np.median(ys) < roof_row, (np.median(ys), roof_row)  # the box shows above the roof line
    x0, y0, x1, y1 = out["roof_box_label"]
    assert y0 < out["no_box_label"][1] - 3  # the amodal box grows upwards to hold it
    assert ys.min() >= y0 - 1.5


def test_most_buses_carry_their_operators_band_along_the_lower_body():
    config = AppearanceConfig()
    bus = TYPE_NAMES.index("bus")
    looks = [identity_look(config, 0, _identity(i, bus)) for i in range(40)]
    banded = [look for look in looks if look.livery == "bus"]
    assert 0.5 <= len(banded) / len(looks) < 1.0
    assert all(identity_look(config, 0, _identity(i, TYPE_NAMES.index("sedan"))).livery != "bus" for i in range(40))
    for look in [look for look in banded if look.dents == 0][:8]:  # (scratches go anywhere)
        alpha = side_texture(look)[..., 3] > 0  # row 0 is the roof
        h = len(alpha)
        assert alpha[:int(0.55 * h)].max() == 0  # the windows and the roof stay clear: the body colour shows
        assert alpha[int(0.55 * h):].any(axis=0).all()  # the lower body carries it all along


def test_bus_liveries_come_in_designs_that_run_the_same_way_on_both_sides():
    """Band, sweeping waves, or the band under an advertisement: each design is drawn, under the window line
    (the body colour stays the bus's), and band and waves are symmetric along the bus (the texture is mirrored on
    its left side so that an advert's text reads; a lopsided sweep would run forwards on one side and backwards
    on the other)."""
    kinds = []
    for seed in range(40):
        img = np.zeros((128, 512, 4), np.uint8)
        kind = bus_livery(img, (200, 30, 20), np.random.default_rng(seed))
        kinds.append(kind)
        alpha = img[..., 3] > 0
        v_top = 1.0 - np.argwhere(alpha)[:, 0].min() / len(alpha)
        assert v_top <= WINDOW_LINE + 0.01 and alpha.any(axis=0).all(), kind
        if kind == "advert":
            assert len(np.unique(img[alpha][:, :3], axis=0)) >= 4  # the band, a field, its ink, the emblem
        else:
            assert np.array_equal(img, img[:, ::-1]), kind
        if kind == "waves":  # a sweep: its height changes along the bus
            bottoms = len(alpha) - 1 - np.argmax(alpha[::-1], axis=0)
            assert np.ptp(bottoms) >= 3
    assert set(kinds) == set(BUS_LIVERIES), kinds



def test_the_plain_look_of_a_freshly_loaded_model_carries_no_marks():
    """The contact sheet's look (synth/blender/vehicles.plain_look): no livery on any type, buses included."""
    from synth.blender.vehicles import plain_look

    for type_id, name in enumerate(TYPE_NAMES):
        if name == "unknown":
            continue
        look = plain_look(SimpleNamespace(type_id=type_id), (0.5, 0.5, 0.5))
        assert look.livery == "none" and not look.stickers and look.dirt == 0.0 and look.dents == 0.0, name


def test_liveries_are_rare_on_private_cars_common_on_commercial_vehicles_and_in_fleet_colours():
    from synth.appearance import LIVERY_COLOURS

    config = AppearanceConfig()

    def share(type_name, n=300):
        looks = [identity_look(config, 1, _identity(i, TYPE_NAMES.index(type_name))) for i in range(n)]
        return looks, np.mean([look.livery in ("stripe", "logo") for look in looks])

    cars, car_share = share("suv")
    trucks, truck_share = share("truck")
    assert car_share < 0.1 and truck_share > 0.25
    palette = np.asarray(LIVERY_COLOURS)
    shades = np.linspace(0.85, 1.15, 61)
    for look in cars + trucks:  # a palette colour, brighter or darker by at most 15 %
        rgb = np.asarray(look.livery_rgb)
        assert min(np.abs(rgb - np.clip(c * f, 0, 1)).max() for c in palette for f in shades) < 0.01, rgb


def test_golden_and_brown_cars_wear_metallic_paint():
    from synth.vocabulary import COLOR_IDS

    config = AppearanceConfig()
    config.paint.finishes = {"solid": 1.0}

    def look(i, colour):
        return identity_look(config, 0, SimpleNamespace(vehicle_id=i, type_id=1, paint_rgb=(0.5, 0.3, 0.1), twin_of=-1,
                                                        color_id=COLOR_IDS[colour]))

    assert all(look(i, "golden").finish == "metallic" and look(i, "brown").metallic > 0 for i in range(10))
    assert all(look(i, "red").finish == "solid" and look(i, "red").metallic == 0 for i in range(10))
    config.paint.metallic_colours = ()
    assert look(0, "golden").finish == "solid"
