"""Config layering (issue 22): `_base_` files, `key.sub=value` overrides, errors that name the file and key,
and `config_changes`, on the project's real config classes."""
import pytest
import yaml

from synth.config import ConfigError, config_changes, parse_override, read_yaml_layers
from synth.scene import RenderConfig
from pipelines.demo import DemoConfig
from train.reid.config import ReidConfig


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_base_file_applies_first_and_nested_sections_merge_key_by_key(tmp_path):
    write(tmp_path / "shared" / "base.yaml", "shard_size: 100\nimage: {size: 64, jpeg_quality: 80}\n")
    child = write(tmp_path / "child.yaml", "_base_: shared/base.yaml\nimage: {size: 96}\n")
    config = RenderConfig.from_yaml(child)
    assert (config.image.size, config.image.jpeg_quality, config.shard_size) == (96, 80, 100)
    assert config.image.margin == RenderConfig().image.margin  # a key no file names keeps its default


def test_several_bases_apply_in_order_and_bases_nest(tmp_path):
    write(tmp_path / "a.yaml", "lr: 0.1\nepochs: 5\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\nlr: 0.2\np: 4\n")
    write(tmp_path / "c.yaml", "epochs: 7\np: 6\n")
    top = write(tmp_path / "top.yaml", "_base_: [b.yaml, c.yaml]\nk: 2\n")
    names = [where.rsplit("/", 1)[-1] for where, _ in read_yaml_layers(top)]
    assert names == ["a.yaml", "b.yaml", "c.yaml", "top.yaml"]
    config = ReidConfig.from_yaml(top)
    assert (config.lr, config.epochs, config.p, config.k) == (0.2, 7, 6, 2)


def test_a_plain_mapping_field_is_replaced_not_merged(tmp_path):
    path = write(tmp_path / "r.yaml", "occluders: {kinds: {pole: 2.0}}\n")
    assert RenderConfig.from_yaml(path).occluders.kinds == {"pole": 2.0}


@pytest.mark.parametrize("files, message", [
    ({"x.yaml": "_base_: missing.yaml\n"}, r"x.yaml: _base_ file 'missing.yaml' not found"),
    ({"x.yaml": "_base_: y.yaml\n", "y.yaml": "_base_: x.yaml\n"}, r"_base_ cycle"),
    ({"x.yaml": "_base_: {a: 1}\n"}, r"x.yaml: _base_ must be a file name"),
    ({"x.yaml": "_base_: y.yaml\n", "y.yaml": "image: {sise: 64}\n"}, r"y.yaml: image: unknown key\(s\) \['sise'\]"),
    ({"x.yaml": "image: [64]\n"}, r"x.yaml: image: expected a mapping"),
    ({"x.yaml": "image: {size: big}\n"}, r"x.yaml: image.size: expected int, got 'big'"),
    ({"x.yaml": "- a\n- b\n"}, r"x.yaml: expected a mapping at the top level"),
])
def test_bad_files_are_errors_naming_the_file_and_key(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=message):
        RenderConfig.from_yaml(tmp_path / "x.yaml")


def test_overrides_parse_as_yaml_and_apply_after_the_file(tmp_path):
    path = write(tmp_path / "demo.yaml", "num_images: 10\nreid: {epochs: 3}\n")
    config = DemoConfig.load(path, ["reid.epochs=4", "reid.image_size=[96, 96]", "reid.lr=1e-3",
                                    "reid.weights_path=null", "render.image.size=64", "models=my models"])
    assert (config.num_images, config.reid.epochs, config.reid.image_size, config.reid.lr) == (10, 4, (96, 96), 1e-3)
    assert (config.reid.weights_path, config.render.image.size, config.models) == (None, 64, "my models")
    assert config.render.identities == DemoConfig().render.identities  # siblings keep the demo's values
    assert DemoConfig.load(overrides=["seed=3"]) == DemoConfig(seed=3)


@pytest.mark.parametrize("override, message", [
    ("reid.epocs=4", r"--set reid.epocs=4: reid: unknown key\(s\) \['epocs'\] for ReidConfig"),
    ("num_images", r"expected KEY=VALUE"),
    ("=4", r"expected KEY=VALUE"),
    ("reid..lr=1", r"expected KEY=VALUE"),
    ("num_images=true", r"num_images: expected int, got True"),
    ("reid.lr=fast", r"reid.lr: expected float, got 'fast'"),
    ("reid.loss=softmax", r"--set reid.loss=softmax: reid: loss must be one of"),  # the class's own check
    ("reid.image_size=[1, 2, 3]", r"expected 2 values"),
    ("render=4", r"render: expected a mapping"),
])
def test_bad_overrides_are_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        DemoConfig.load(overrides=[override])


def test_parse_override_nests_the_dotted_key():
    assert parse_override("a.b.c= [1, x]") == ("--set a.b.c= [1, x]", {"a": {"b": {"c": [1, "x"]}}})
    assert parse_override("a=") == ("--set a=", {"a": None})


def test_a_resolved_config_saves_whole_and_loads_back_the_same(tmp_path):
    write(tmp_path / "base.yaml", "lr: 0.01\n")
    config = ReidConfig.load(write(tmp_path / "run.yaml", "_base_: base.yaml\nepochs: 2\n"), ["p=3"])
    saved = config.save(tmp_path / "out" / "config.yaml")
    data = yaml.safe_load(saved.read_text())
    assert "_base_" not in data and set(data) == set(ReidConfig().to_dict())
    assert ReidConfig.from_yaml(saved) == config and (config.lr, config.epochs, config.p) == (0.01, 2, 3)


def test_config_changes_lists_only_the_differences_nested():
    config = DemoConfig(num_images=5)
    config.render.image.size = 32
    assert config_changes(config, DemoConfig()) == {"num_images": 5, "render": {"image": {"size": 32}}}
    assert config_changes(DemoConfig(), DemoConfig()) == {}
    assert DemoConfig().merged(config_changes(config, DemoConfig())) == config
