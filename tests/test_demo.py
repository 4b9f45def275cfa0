"""A smoke version of the README's main command (`make demo`) on an even smaller config: the same stages,
real Blender renders, real HRNet and ReID networks, real HDF5 shards."""
import json

import pytest

from pipelines.demo import DemoConfig, run_demo


@pytest.mark.blender
def test_demo_pipeline_runs_end_to_end_and_reports_its_own_figures(tmp_path):
    out = tmp_path / "demo"
    config = DemoConfig.smoke()
    # smaller still: 60 images rendered at 64 px, the size both networks take in the smoke config, run every
    # stage and fill all three splits (the held-out identities: query and gallery)
    config.num_images = 60
    config.render.image.size = 64
    report = run_demo(config, out).read_text()
    results = json.loads((out / "demo_results.json").read_text())
    assert results["images"] == 60
    assert set(results["splits"]) == {"train", "query", "gallery"}
    # the report quotes this run's figures
    trained_map = 100 * results["reid"]["trained"]["mAP"]
    assert f"| trained | {trained_map:.2f} |" in report
    assert f"{100 * results['pose_pck']['trained']['mean']:.2f}" in report
    for picture in ("dataset_preview.png", "pose_eval/pose_examples.png", "reid_eval/cmc.png",
                    "reid_eval/trained/ranked_gallery.png"):
        assert (out / picture).stat().st_size > 1000, picture
        assert picture in report
    # pose sidecars were written beside every shard and the ReID run trained on them
    shards = sorted((out / "data").glob("*-?????.h5"))
    assert shards and all(s.with_name(s.name[:-3] + ".pose.h5").exists() for s in shards)
    assert (out / "reid" / "checkpoints" / "initial.pt").exists()
