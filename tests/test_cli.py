"""The command line's own options (issue 22): --version, -v/--quiet/--debug and the one logging set-up."""
import contextlib
import logging

import pytest
from click.testing import CliRunner

import cli
from cli import configure_logging, main


def test_version_comes_from_the_package_metadata_and_falls_back_to_pyproject(monkeypatch):
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("pamtri ")
    assert result.output.split()[1][0].isdigit()

    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.toolkit_version().endswith("(source checkout)")
    # and no pyproject.toml beside cli.py either
    monkeypatch.setattr(cli, "Path", type("P", (), {"__init__": lambda self, *a: None,
                                                   "with_name": lambda self, n: "/nonexistent/pyproject.toml"}))
    assert cli.toolkit_version() == "unknown"


def test_an_expected_error_is_one_line_and_debug_keeps_the_traceback(tmp_path):
    args = ["render", "--models", str(tmp_path / "no_models"), "--out", str(tmp_path / "out"), "--n", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "error: --n" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["--debug", *args])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)
    assert "--n" in str(result.exception)


def test_quiet_and_verbose_together_are_refused():
    result = CliRunner().invoke(main, ["--quiet", "-v", "inspect", "x"])
    assert result.exit_code == 2 and "--quiet" in result.output


@contextlib.contextmanager
def bare_root():
    """The root logger as a plain `python cli.py` finds it: no handlers (pytest adds its own in every phase)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in cli.PROJECT_LOGGERS})
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers, root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("kwargs, own, other", [
    ({}, logging.INFO, logging.WARNING),
    ({"quiet": True}, logging.WARNING, logging.ERROR),
    ({"verbosity": 1}, logging.DEBUG, logging.WARNING),
    ({"debug": True}, logging.DEBUG, logging.WARNING),
    ({"verbosity": 2}, logging.DEBUG, logging.DEBUG),
])
def test_one_handler_with_the_asked_levels(capsys, kwargs, own, other):
    with bare_root() as root:
        handler = configure_logging(**kwargs)
        configure_logging(**kwargs)  # again (one process, two invocations): still one handler
        assert handler is not None and len(root.handlers) == 1 and getattr(root.handlers[0], "_pamtri", False)
        assert all(logging.getLogger(n).level == own for n in cli.PROJECT_LOGGERS) and root.level == other
        logging.getLogger("train.reid.train").info("resuming from epoch 2")
        logging.getLogger("synth.render").warning("a warning")
    err = capsys.readouterr().err
    assert ("resuming from epoch 2" in err) == (own <= logging.INFO)
    assert "a warning" in err
    assert ("WARNING synth.render: a warning" in err) == bool(kwargs.get("debug"))


def test_an_embedding_applications_handler_is_left_in_charge():
    with bare_root() as root:
        theirs = logging.StreamHandler()
        root.addHandler(theirs)
        assert configure_logging() is None and root.handlers == [theirs]
        assert logging.getLogger("synth").level == logging.INFO


# --- commands: order, names, datasets, configs, progress bars ----------------------------------------------


def test_help_lists_the_commands_by_stage_in_pipeline_order_without_the_former_names():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    start = lines.index(f"{cli.COMMAND_SECTIONS[0][0]}:")
    listed = [line.split()[0] for line in lines[start:] if line.startswith("  ") and line[2] != " "]
    expected = [name for _, names in cli.COMMAND_SECTIONS for name in names]
    assert listed == expected and set(expected) == set(main.commands)
    for title, _ in cli.COMMAND_SECTIONS:
        assert f"{title}:" in lines
    assert not set(cli.COMMAND_ALIASES) & set(listed)


def test_former_command_names_still_run_the_new_commands_with_a_note(caplog):
    runner = CliRunner()
    for old, new in cli.COMMAND_ALIASES.items():
        result = runner.invoke(main, [old, "--help"])
        assert result.exit_code == 0 and main.commands[new].help.split()[0] in result.output, old
    with caplog.at_level(logging.WARNING, logger="pamtri.cli"):
        result = runner.invoke(main, ["evaluate"])  # runs evaluate-reid, which asks for --features or --model
    assert result.exit_code == 2 and "exactly one of --features" in result.output
    assert "`evaluate` is now called `evaluate-reid`" in caplog.text
    assert runner.invoke(main, ["evaluate-reid"]).exit_code == 2 and caplog.text.count("now called") == 1
    assert runner.invoke(main, ["evaluat"]).exit_code == 2  # no other near-miss resolves


@pytest.fixture
def predict_calls(monkeypatch):
    import train.pose.predict

    calls = []

    def fake_predict_pose(model, dirs, **kwargs):
        from tqdm import tqdm

        calls.append({"dirs": list(dirs), "bar_disabled": tqdm(range(2), disable=False).disable})
        return []

    monkeypatch.setattr(train.pose.predict, "predict_pose", fake_predict_pose)
    return calls


def test_several_datasets_by_repeating_data_and_the_former_list_with_a_note(tmp_path, predict_calls, caplog):
    runner = CliRunner()
    with caplog.at_level(logging.WARNING, logger="pamtri.cli"):
        assert runner.invoke(main, ["predict-pose", "--model", "m", "--data", "a", "--data", "b"]).exit_code == 0
        assert "deprecated" not in caplog.text
        assert runner.invoke(main, ["predict-pose", "--model", "m", "--data", "a", "b", "c"]).exit_code == 0
    assert [[str(d) for d in call["dirs"]] for call in predict_calls] == [["a", "b"], ["a", "b", "c"]]
    assert "repeat --data: --data a --data b --data c" in caplog.text
    usage = runner.invoke(main, ["predict-pose", "--help"]).output.splitlines()[0]
    assert usage.endswith("predict-pose [OPTIONS]")  # the old positional form is not advertised


def test_quiet_draws_no_progress_bar_and_only_while_the_command_runs(predict_calls):
    from tqdm import tqdm

    runner = CliRunner()
    assert runner.invoke(main, ["predict-pose", "--model", "m", "--data", "a"]).exit_code == 0
    assert runner.invoke(main, ["-q", "predict-pose", "--model", "m", "--data", "a"]).exit_code == 0
    assert [call["bar_disabled"] for call in predict_calls] == [False, True]
    assert tqdm(range(2), disable=False).disable is False  # restored after the command


def test_log_lines_go_through_tqdm_write_so_they_do_not_break_a_bar(capsys, monkeypatch):
    import tqdm

    written = []
    monkeypatch.setattr(tqdm.tqdm, "write", classmethod(lambda cls, s, file=None, **kw: written.append(s)))
    with bare_root():
        configure_logging()
        logging.getLogger("train.reid.train").info("epoch 3 done")
    assert written == ["epoch 3 done"]


def test_set_and_base_files_reach_the_render_config_and_the_command_options_win(tmp_path, monkeypatch):
    import synth.render

    seen = {}

    def fake_render_dataset(models, out, n, config, **kwargs):
        seen["config"] = config
        return type("Report", (), {"images": 0, "seconds": 0.0, "written": [], "skipped": [], "peak_rss_mb": 0.0})()

    monkeypatch.setattr(synth.render, "render_dataset", fake_render_dataset)
    monkeypatch.setattr(cli, "require_bpy", lambda command: None)  # the stub renders nothing: bpy or not
    (tmp_path / "base.yaml").write_text("image: {jpeg_quality: 80}\nshard_size: 50\n")
    (tmp_path / "mine.yaml").write_text("_base_: base.yaml\nimage: {size: 96}\n")
    args = ["render", "--out", str(tmp_path / "o"), "--config", str(tmp_path / "mine.yaml"),
            "--set", "shard_size=20", "--set", "occlusion2d.size=[0.1, 0.2]"]
    assert CliRunner().invoke(main, args).exit_code == 0
    config = seen["config"]
    assert (config.image.size, config.image.jpeg_quality, config.shard_size, config.occlusion2d.size) == \
        (96, 80, 20, (0.1, 0.2))
    assert CliRunner().invoke(main, [*args, "--set", "image.size=48", "--size", "64"]).exit_code == 0
    assert seen["config"].image.size == 64
    result = CliRunner().invoke(main, [*args, "--set", "image.sise=64"])
    assert result.exit_code == 2 and "--set image.sise=64: image: unknown key(s) ['sise']" in result.output
    (tmp_path / "mine.yaml").write_text("_base_: base.yaml\nimgae: {size: 96}\n")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "mine.yaml: unknown key(s) ['imgae']" in result.output


def test_demo_takes_its_config_and_overrides(monkeypatch, tmp_path):
    import pipelines.demo
    from pipelines.demo import DemoConfig

    seen = []
    monkeypatch.setattr(pipelines.demo, "run_demo", lambda config, out: seen.append(config))
    monkeypatch.setattr(cli, "require_bpy", lambda command: None)  # the stub renders nothing: bpy or not
    demo_yaml = str(cli.Path(cli.__file__).with_name("configs") / "demo.yaml")
    args = ["demo", "--out", str(tmp_path), "--config", demo_yaml, "--set", "num_images=50", "--set", "reid.epochs=1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    expected = DemoConfig(num_images=50)
    expected.reid = expected.reid.replace(epochs=1)
    assert seen == [expected]


def test_train_commands_resolve_config_file_then_set_then_options(monkeypatch, tmp_path):
    import pipelines.reid
    import train.pose.train
    from train.pose.config import PoseConfig
    from train.reid.config import ReidConfig

    seen = {}
    monkeypatch.setattr(pipelines.reid, "train_reid", lambda config, dirs, out, **kw: seen.update(reid=config) or
                        {"best_mAP": None, "main_process": False, "name": "", "history": []})
    monkeypatch.setattr(train.pose.train, "train_pose", lambda config, out, **kw: seen.update(pose=config) or [])
    row = str(cli.Path(cli.__file__).with_name("configs") / "paper" / "reid_rs_mt_k_h.yaml")
    result = CliRunner().invoke(main, ["train-reid", "--config", row, "--data", "d", "--out", str(tmp_path / "r"),
                                       "--set", "p=4", "--set", "lr=0.5", "--lr", "0.01"])
    assert result.exit_code == 0, result.output
    assert seen["reid"] == ReidConfig(inputs="heatmaps", keypoints=True, multitask=True, p=4, lr=0.01)
    result = CliRunner().invoke(main, ["train-pose", "--tiny", "--data", "d", "--out", str(tmp_path / "p"),
                                       "--set", "epochs=3", "--set", "model.input_size=96"])
    assert result.exit_code == 0, result.output
    tiny = PoseConfig.tiny()
    assert seen["pose"] == tiny.replace(epochs=3, data=["d"], model=tiny.model.replace(input_size=96))


def test_rendering_without_bpy_says_which_extra_to_install(monkeypatch, tmp_path):
    """bpy is an optional dependency (the `render` extra): a command that needs it says so in one line."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bpy" else find_spec(name, *a))
    for args in (["render", "--n", "2", "--out", str(tmp_path / "data")], ["assets", "build", "--out", str(tmp_path)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "needs bpy" in result.output and "pamtri-synth[render]" in result.output
    assert not (tmp_path / "data").exists()
