"""The import / export commands: thin wrappers that print the report, and one clear error line for bad input."""
from __future__ import annotations

from click.testing import CliRunner

from cli import main
from tests.test_import_common import make_fake_cityflow, make_fake_veri, shard_labels


def test_import_and_export_commands(tmp_path):
    root, out, exported, again = tmp_path / "VeRi", tmp_path / "out", tmp_path / "pamtri", tmp_path / "again"
    expected = make_fake_veri(root)
    runner = CliRunner()
    result = runner.invoke(main, ["import", "veri", "--root", str(root), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"train: {len(expected['train'])} samples" in result.output
    result = runner.invoke(main, ["export", "pamtri-csv", "--data", str(out), "--out", str(exported),
                                  "--splits", "train,query", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "query -> query" in result.output and not (exported / "reid" / "label_test.csv").exists()
    result = runner.invoke(main, ["import", "pamtri-csv", "--csv", str(exported / "reid" / "label_query.csv"),
                                  "--images", str(exported / "reid" / "image_query"), "--out", str(again),
                                  "--no-progress"])
    assert result.exit_code == 0, result.output
    assert shard_labels(again, "query") == expected["query"]


def test_cityflow_command_and_bad_input_exit(tmp_path):
    root = tmp_path / "AIC19"
    make_fake_cityflow(root)
    runner = CliRunner()
    result = runner.invoke(main, ["import", "cityflow", "--root", str(root), "--out", str(tmp_path / "out"),
                                  "--val-ids", "1", "--no-challenge", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "validation: 1 identities held out" in result.output
    (root / "image_train" / "000002.jpg").unlink()
    result = runner.invoke(main, ["import", "cityflow", "--root", str(root), "--out", str(tmp_path / "out2"),
                                  "--no-progress"])
    assert result.exit_code == 2
    assert "name_train.txt: line 2: listed image" in result.output and "--skip-bad" in result.output
    result = runner.invoke(main, ["import", "cityflow", "--root", str(root), "--out", str(tmp_path / "out2"),
                                  "--skip-bad", "--no-progress"])
    assert result.exit_code == 0 and "skipped 1 in all" in result.output
