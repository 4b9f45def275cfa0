"""A smoke version of the README's main command, on an even smaller config."""
from synth.demo import DemoConfig, ToyDataConfig, run_demo


def test_demo_runs_and_reports_its_own_figures(tmp_path):
    config = DemoConfig(data=ToyDataConfig(num_models=2, colors_per_model=2, images_per_identity=4, size=64),
                        preview_count=4)
    report = run_demo(config, tmp_path / "demo").read_text()
    assert "(16 images, 4 identities)" in report
    assert (tmp_path / "demo" / "dataset_preview.png").stat().st_size > 1000
    assert (tmp_path / "demo" / "config.yaml").exists()
    # a re-run resumes: the dataset stage is skipped, the report is rewritten with the same figures
    assert run_demo(config, tmp_path / "demo").read_text() == report
