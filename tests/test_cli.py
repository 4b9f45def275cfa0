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
