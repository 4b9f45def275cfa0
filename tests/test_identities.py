"""Identity subsets for small datasets (the demo): fewer identities, more images each."""
from types import SimpleNamespace

import numpy as np
import pytest

from synth.identities import IdentityConfig, plan_identities


def _library(num_models=10, colors=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)):
    models = [SimpleNamespace(name=f"m{i:02d}", type_id=1 + i % 9, colors=colors, fixed_color=False)
              for i in range(num_models)]
    models.append(SimpleNamespace(name="bus", type_id=7, colors=(1,), fixed_color=True))
    return models


def test_subset_limits_models_and_colours():
    plan = plan_identities(_library(), 600, seed=3, config=IdentityConfig(max_models=4, colors_per_model=2))
    models = {ident.model_name for ident in plan.identities}
    assert len(models) == 4
    for name in models - {"bus"}:
        assert sum(ident.model_name == name for ident in plan.identities) == 2
    assert plan.num_images.sum() == 600
    assert plan.num_images.min() >= 60


def test_subset_options_off_leave_the_default_plan_unchanged():
    default = plan_identities(_library(), 500, seed=1)
    explicit = plan_identities(_library(), 500, seed=1, config=IdentityConfig(max_models=0, colors_per_model=0))
    assert np.array_equal(default.sample_identity, explicit.sample_identity)
    assert default.identities == explicit.identities


# --- growing a dataset keeps its samples (issue 21 item 7) ------------------------------------------------------

def _spec(config, plan, models, seed, i):
    """Everything sample i is rendered from: identity (model, colour, paint, twin, hold-out), split, look, scene."""
    from synth.scene import sample_scene

    return sample_scene(config, plan, models, seed, i).to_dict()


def _paper_models():
    from tests.test_scene import paper_library

    return paper_library()


def test_sample_i_is_the_same_for_every_n():
    from synth.scene import RenderConfig

    models = _paper_models()
    for seed in (0, 7, 12345):
        config = RenderConfig()
        config.identities.holdout_fraction = 0.3
        config.identities.twin_fraction = 0.1
        plans = {n: plan_identities(models, n, seed, config.identities) for n in (10, 20, 1000)}
        for n in (20, 1000):
            np.testing.assert_array_equal(plans[n].sample_identity[:10], plans[10].sample_identity)
            assert list(plans[n].sample_split[:10]) == list(plans[10].sample_split)
        np.testing.assert_array_equal(plans[1000].sample_identity[:20], plans[20].sample_identity)
        assert list(plans[1000].sample_split[:20]) == list(plans[20].sample_split)
        assert plans[10].identities == plans[20].identities == plans[1000].identities  # one catalogue
        for i in list(range(10)) + [13, 19]:
            wanted = _spec(config, plans[1000], models, seed, i)
            for n in (10, 20):
                if i < n:
                    assert _spec(config, plans[n], models, seed, i) == wanted, (seed, n, i)
        # split indices grow by appending: a split's shards of a smaller n are a prefix of the larger n's
        for name, indices in plans[20].splits.items():
            np.testing.assert_array_equal(plans[1000].splits[name][:len(indices)], indices)


def test_prefix_stability_keeps_the_plans_properties():
    models = _paper_models()
    plan = plan_identities(models, 41000, seed=3, config=IdentityConfig(holdout_fraction=0.2))
    counts = plan.num_images
    fixed = [i.vehicle_id for i in plan.identities if i.model_name in ("bus", "truck")]
    assert sorted(counts[fixed].tolist()) == [500, 500] and set(np.delete(counts, fixed).tolist()) == {100}
    assert sum(i.held_out for i in plan.identities) == round(0.2 * 402)
    held = [i.vehicle_id for i in plan.identities if i.held_out]
    queries = np.bincount(plan.sample_identity[plan.splits["query"]], minlength=402)
    assert all(queries[v] == round(0.2 * counts[v]) for v in held)
    # every prefix: each model's share within one image, each colour's share within one image of its model's
    for n in (7, 41, 333, 1000, 4321):
        prefix = plan_identities(models, n, seed=3)
        model_of = np.array([i.model_index for i in prefix.identities])
        per_model = np.bincount(model_of[prefix.sample_identity], minlength=len(models)).astype(float)
        share = np.array([0.5 if m.fixed_color else 1.0 for m in models])
        assert np.abs(per_model - n * share / share.sum()).max() < 1.0 + 1e-9, n
        per_identity = prefix.num_images
        for m in range(len(models)):
            own = per_identity[model_of == m]
            assert own.max() - own.min() <= 1, (n, m)
        # a small prefix spreads over models instead of piling on a few
        if n <= 41:
            assert per_model.max() <= 1


def test_holdout_and_queries_hold_for_every_prefix():
    models = _paper_models()
    for n in (50, 500, 5000):
        plan = plan_identities(models, n, seed=1, config=IdentityConfig(holdout_fraction=0.25, query_fraction=0.2))
        present = plan.present
        held = [i for i in present if i.held_out]
        assert abs(len(held) - 0.25 * len(present)) <= 1
        train_ids = set(plan.sample_identity[plan.splits["train"]].tolist())
        assert train_ids.isdisjoint(i.vehicle_id for i in held)
        if "query" in plan.splits:  # every query identity has gallery images
            gallery_ids = set(plan.sample_identity[plan.splits["gallery"]].tolist())
            assert set(plan.sample_identity[plan.splits["query"]].tolist()) <= gallery_ids


def test_white_grey_and_black_paints_vary_in_lightness_not_in_tint():
    from synth.identities import paint_shade
    from synth.vocabulary import COLOR_IDS

    rng = np.random.default_rng(1)
    for name in ("white", "gray", "black"):
        rgb = np.array([paint_shade(COLOR_IDS[name], rng) for _ in range(400)])
        lightness = rgb.mean(axis=1)
        magenta = 0.5 * (rgb[:, 0] + rgb[:, 2]) - rgb[:, 1]  # lilac (+) or mint (-)
        assert np.abs(magenta).max() < 0.15 * lightness.mean() + 1e-3, name
        assert lightness.std() > 3 * magenta.std(), name


def test_blue_and_red_paints_keep_to_the_hues_car_makers_paint():
    """No violet blues or rose reds (independent channel shifts made one blue in eight violet), while the
    shades still spread over lightness and hue inside the band."""
    import colorsys

    from synth.identities import paint_shade
    from synth.vocabulary import COLOR_IDS

    rng = np.random.default_rng(3)
    for name, (lo, hi) in (("blue", (200.0, 234.0)), ("red", (-12.0, 14.0))):
        rgb = np.array([paint_shade(COLOR_IDS[name], rng) for _ in range(600)])
        encoded = np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * rgb ** (1 / 2.4) - 0.055)
        hsv = np.array([colorsys.rgb_to_hsv(*c) for c in encoded])
        hue = (hsv[:, 0] * 360.0 + 180.0) % 360.0 - 180.0 if name == "red" else hsv[:, 0] * 360.0
        assert lo <= hue.min() and hue.max() <= hi, (name, hue.min(), hue.max())
        assert np.ptp(hue) > 15.0 and hsv[:, 2].std() > 0.03, name  # still many shades, not one paint


# --- colour weights: real-traffic colour shares ---------------------------------------------------------------

def _paintable(plan):
    return [ident for ident in plan.identities if ident.model_name != "bus"]


def _color_counts(identities):
    from synth.vocabulary import COLOR_NAMES

    counts = np.bincount([ident.color_id for ident in identities], minlength=len(COLOR_NAMES))
    return {name: int(counts[k]) for k, name in enumerate(COLOR_NAMES)}


def test_uniform_colour_weights_are_the_default_plan():
    for extra in ({}, {"holdout_fraction": 0.3, "twin_fraction": 0.2}, {"max_models": 4, "colors_per_model": 3}):
        default = plan_identities(_library(), 700, seed=5, config=IdentityConfig(**extra))
        uniform = plan_identities(_library(), 700, seed=5, config=IdentityConfig(color_weights="uniform", **extra))
        np.testing.assert_array_equal(default.sample_identity, uniform.sample_identity)
        assert list(default.sample_split) == list(uniform.sample_split)
        assert default.identities == uniform.identities
    assert IdentityConfig().color_weights == "uniform"


def test_traffic_colour_shares_of_identities_follow_the_weights():
    from synth.identities import TRAFFIC_COLOR_SHARES

    plan = plan_identities(_library(400), 10, seed=2, config=IdentityConfig(color_weights="traffic"))
    paintable = _paintable(plan)
    assert len(paintable) == 400 * 10  # every model keeps its ten slots
    counts, total = _color_counts(paintable), len(paintable)
    for name, share in TRAFFIC_COLOR_SHARES.items():
        sigma = np.sqrt(total * share * (1 - share))
        assert abs(counts[name] - total * share) <= 4 * sigma + 1, (name, counts[name], total * share)
    assert max(counts, key=counts.get) == "white"
    assert [i.vehicle_id for i in plan.identities] == list(range(len(plan.identities)))  # dense


def test_traffic_images_spread_evenly_over_each_models_slots():
    plan = plan_identities(_library(20), 2000, seed=4, config=IdentityConfig(color_weights="traffic"))
    counts = plan.num_images
    model_of = np.array([ident.model_index for ident in plan.identities])
    for m in range(20):
        own = counts[model_of == m]
        assert len(own) == 10 and own.min() >= 9 and own.max() - own.min() <= 1, m


def test_a_single_weighted_colour_paints_every_paintable_identity_in_it():
    from synth.vocabulary import COLOR_IDS

    plan = plan_identities(_library(), 1000, seed=0, config=IdentityConfig(color_weights={"red": 2.5, "blue": 0}))
    assert {ident.color_id for ident in _paintable(plan)} == {COLOR_IDS["red"]}
    assert len(_paintable(plan)) == 10 * 10
    bus = [ident for ident in plan.identities if ident.model_name == "bus"]
    assert [ident.color_id for ident in bus] == [1]  # a fixed colour is part of the model: weights do not apply
    assert plan.num_images.min() > 0


def test_same_model_same_colour_identities_are_distinct_vehicles():
    plan = plan_identities(_library(), 2000, seed=1, config=IdentityConfig(color_weights="traffic"))
    groups = {}
    for ident in _paintable(plan):
        groups.setdefault((ident.model_index, ident.color_id), []).append(ident)
    repeated = [group for group in groups.values() if len(group) > 1]
    assert repeated  # with ten slots per model, white comes up more than once
    for group in repeated:
        assert len({ident.vehicle_id for ident in group}) == len(group)
        # each its own shade (paint_shade clips the lightest whites to one ceiling, so those may coincide)
        shades = [ident.paint_rgb for ident in group if max(ident.paint_rgb) < 0.9]
        assert len(set(shades)) == len(shades)
    assert plan.num_images.min() > 0
    # vehicle ids run in (model, colour) order
    keys = [(ident.model_index, ident.color_id) for ident in plan.identities]
    assert keys == sorted(keys)


def test_traffic_plan_is_prefix_stable_and_deterministic():
    from synth.scene import RenderConfig

    models = _paper_models()
    config = RenderConfig()
    config.identities.color_weights = "traffic"
    config.identities.holdout_fraction = 0.3
    config.identities.twin_fraction = 0.1
    plans = {n: plan_identities(models, n, 7, config.identities) for n in (10, 20, 1000)}
    for n in (10, 20):
        np.testing.assert_array_equal(plans[1000].sample_identity[:n], plans[n].sample_identity)
        assert list(plans[1000].sample_split[:n]) == list(plans[n].sample_split)
        for i in (0, n - 1):
            assert _spec(config, plans[n], models, 7, i) == _spec(config, plans[1000], models, 7, i)
    assert plans[10].identities == plans[20].identities == plans[1000].identities  # one catalogue
    again = plan_identities(models, 1000, 7, config.identities)
    np.testing.assert_array_equal(again.sample_identity, plans[1000].sample_identity)
    assert again.identities == plans[1000].identities
    other = plan_identities(models, 1000, 8, config.identities)
    assert [i.color_id for i in other.identities] != [i.color_id for i in plans[1000].identities]
    # hold-outs and twins still work: held-out identities never train
    held = {i.vehicle_id for i in plans[1000].identities if i.held_out}
    assert held and held.isdisjoint(plans[1000].sample_identity[plans[1000].splits["train"]].tolist())
    assert any(i.twin_of >= 0 for i in plans[1000].identities)


@pytest.mark.parametrize("value, text, message", [
    ("trafic", "trafic", r"color_weights: expected one of \['uniform', 'traffic'\].*'trafic'"),
    ({"silver": 1.0, "white": 1.0}, "{silver: 1, white: 1}", r"color_weights: unknown colour name\(s\) \['silver'\]"),
    ({"white": 0, "black": 0.0}, "{white: 0, black: 0.0}", r"color_weights: all weights are zero"),
    ({"white": -1}, "{white: -1}", r"color_weights: the weight of 'white' must be a non-negative number, got -1"),
])
def test_bad_colour_weights_are_errors_naming_the_field(value, text, message):
    from synth.config import ConfigError
    from synth.scene import RenderConfig

    with pytest.raises(ValueError, match=message):
        IdentityConfig(color_weights=value)
    with pytest.raises(ConfigError, match=r"--set identities\.color_weights=.*: identities: " + message):
        RenderConfig.load(overrides=[f"identities.color_weights={text}"])


def test_colour_weights_load_from_yaml_and_overrides(tmp_path):
    from synth.config import config_changes
    from synth.scene import RenderConfig

    path = tmp_path / "render.yaml"
    path.write_text("identities:\n  color_weights: {white: 0.5, black: 0.3, red: 0.2}\n")
    config = RenderConfig.from_yaml(path)
    assert config.identities.color_weights == {"white": 0.5, "black": 0.3, "red": 0.2}
    assert config_changes(config, RenderConfig()) == {"identities": {"color_weights": config.identities.color_weights}}
    assert RenderConfig.from_yaml(config.save(tmp_path / "saved.yaml")) == config
    assert RenderConfig.load(overrides=["identities.color_weights=traffic"]).identities.color_weights == "traffic"
    plan = plan_identities(_library(), 10, seed=0, config=config.identities)
    assert {ident.color_id for ident in _paintable(plan)} <= {7, 10, 5}  # white, black, red


def test_light_paints_stay_distinct_below_the_albedo_limit():
    from synth.identities import paint_shade
    from synth.vocabulary import COLOR_IDS

    rng = np.random.default_rng(0)
    whites = np.array([paint_shade(COLOR_IDS["white"], rng) for _ in range(500)])
    assert whites.max() < 0.9 and whites.min() > 0.3
    assert len({tuple(np.round(w, 6)) for w in whites}) == len(whites)  # no shared clipped paint
