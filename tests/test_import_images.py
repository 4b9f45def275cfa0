"""`import images`: a folder of crops into the dataset contract, labelled from a CSV, from VeRi-style names, or
not at all; bad rows and unreadable images refused by name (or counted with --skip-bad); resumable."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from synth.datasets import ShardReader
from synth.datasets.importers.images import import_images
from synth.datasets.schema import DatasetError
from synth.datasets.validate import validate_dataset
from tests.helpers.toy import draw_toy_vehicle

COLOURS = (5, 6, 7)  # red, blue, white


def write_crop_folder(folder: Path, identities: int = 3, per_identity: int = 4, size: int = 64, seed: int = 0,
                      suffix: str = ".jpg") -> dict[str, tuple[int, int]]:
    """Toy vehicle crops as image files with VeRi-style names (`VVVV_cCCC_NNNN.jpg`); returns name -> (id, cam).
    One identity = one shape and colour, so a ReID network can tell them apart."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for vid in range(identities):
        scale = (0.85 + 0.15 * vid, 1.0, 0.9 + 0.1 * vid)
        for j in range(per_identity):
            image = draw_toy_vehicle(np.random.default_rng(seed * 1000 + vid * 100 + j), scale,
                                     COLOURS[vid % len(COLOURS)], size)[0]
            name = f"{vid + 1:04d}_c{j % 2:03d}_{j:04d}{suffix}"
            cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            truth[name] = (vid + 1, j % 2)
    return truth


def _labels(out: Path, split: str) -> dict[str, tuple[int, int]]:
    data = ShardReader(out, splits=split, fields=("image_name", "vehicle_id", "camera_id"), decode=False)
    return {str(data[i]["image_name"]): (int(data[i]["vehicle_id"]), int(data[i]["camera_id"]))
            for i in range(len(data))}


def test_unlabelled_folder_with_subfolders_and_formats(tmp_path):
    root = tmp_path / "crops"
    write_crop_folder(root, identities=1, per_identity=2)
    write_crop_folder(root / "more", identities=1, per_identity=2, suffix=".png", seed=1)
    write_crop_folder(root / ".pamtri_cache", identities=1, per_identity=1)  # hidden: a cache, not data
    bmp = cv2.imread(str(root / "0001_c000_0000.jpg"))
    cv2.imwrite(str(root / "more" / "odd.bmp"), bmp)
    (root / "notes.txt").write_text("not an image")
    report = import_images(root, tmp_path / "out", progress=False)
    labels = _labels(tmp_path / "out", "gallery")
    assert sorted(labels) == ["0001_c000_0000.jpg", "0001_c001_0001.jpg", "more/0001_c000_0000.png",
                              "more/0001_c001_0001.png", "more/odd.bmp"]
    assert set(labels.values()) == {(-1, -1)}
    assert report.splits["gallery"].transcoded == 3  # a shard holds one format: the PNGs and the BMP become JPEG
    assert not validate_dataset(tmp_path / "out", decode="all").errors
    # the stored JPEG is the original file, byte for byte
    data = ShardReader(tmp_path / "out", fields=("image",), decode=False)
    assert bytes(data[0]["image"]) == (root / "0001_c000_0000.jpg").read_bytes()


def test_veri_names_and_label_csv(tmp_path):
    root = tmp_path / "crops"
    truth = write_crop_folder(root)
    import_images(root, tmp_path / "by_name", veri_names=True, split="query", progress=False)
    assert _labels(tmp_path / "by_name", "query") == truth

    names = sorted(truth)
    rows = ["image,vehicle_id,camera_id,color_id,split"]
    rows += [f"{n},{100 + i},{i % 3},6,{'train' if i < 6 else ''}" for i, n in enumerate(names[:9])]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    report = import_images(root, tmp_path / "by_csv", labels=tmp_path / "labels.csv", progress=False)
    assert _labels(tmp_path / "by_csv", "train") == {n: (100 + i, i % 3) for i, n in enumerate(names[:6])}
    assert _labels(tmp_path / "by_csv", "gallery") == {n: (106 + i, (6 + i) % 3) for i, n in enumerate(names[6:9])}
    assert any("3 image file(s)" in note for note in report.notes)  # not listed: reported, not imported
    colours = ShardReader(tmp_path / "by_csv").labels["color_id"]
    assert set(colours.tolist()) == {6}


def test_bad_inputs_are_refused_by_name(tmp_path):
    root = tmp_path / "crops"
    write_crop_folder(root, identities=1, per_identity=3)
    (root / "broken.jpg").write_bytes((root / "0001_c000_0000.jpg").read_bytes()[:300])
    with pytest.raises(DatasetError, match="broken.jpg.*(truncated|corrupt)"):
        import_images(root, tmp_path / "out", progress=False)
    report = import_images(root, tmp_path / "out", skip_bad=True, progress=False)
    assert report.splits["gallery"].samples == 3 and report.skipped == 1
    assert any("broken.jpg" in example for example in report.examples)

    (tmp_path / "bad.csv").write_text("image,vehicle_id\n0001_c000_0000.jpg,x7\n")
    with pytest.raises(DatasetError, match=r"bad.csv: line 2: vehicle_id is not an integer"):
        import_images(root, tmp_path / "o2", labels=tmp_path / "bad.csv", progress=False)
    (tmp_path / "missing.csv").write_text("image\nnot_there.jpg\n")
    with pytest.raises(DatasetError, match="not_there.jpg does not exist"):
        import_images(root, tmp_path / "o3", labels=tmp_path / "missing.csv", progress=False)
    (tmp_path / "cols.csv").write_text("file,vehicle_id\n0001_c000_0000.jpg,1\n")
    with pytest.raises(DatasetError, match="'image' column"):
        import_images(root, tmp_path / "o4", labels=tmp_path / "cols.csv", progress=False)
    (tmp_path / "escape.csv").write_text("image\n../crops/0001_c000_0000.jpg\n")
    with pytest.raises(DatasetError, match="without '..'"):
        import_images(root, tmp_path / "o5", labels=tmp_path / "escape.csv", progress=False)
    (root / "broken.jpg").unlink()
    (root / "car.jpg").write_bytes((root / "0001_c000_0000.jpg").read_bytes())
    with pytest.raises(DatasetError, match="car.jpg.*(not a VeRi-style name|camera id cannot be parsed)"):
        import_images(root, tmp_path / "o6", veri_names=True, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: no image files"):
        import_images(tmp_path / "empty", tmp_path / "o7", progress=False)


def test_cli_import_images_resumes(tmp_path):
    root = tmp_path / "crops"
    write_crop_folder(root, identities=2, per_identity=3)
    runner = CliRunner()
    args = ["import", "images", "--root", str(root), "--out", str(tmp_path / "out"), "--veri-names",
            "--shard-size", "4", "--no-progress"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "gallery: 6 samples in 2 shards" in result.output
    result = runner.invoke(main, args)
    assert result.exit_code == 0 and "6 from an earlier run" in result.output
    result = runner.invoke(main, ["import", "images", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "nope: missing folder" in result.output
