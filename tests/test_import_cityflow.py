"""CityFlow-ReID import: training labels from the XML, a validation split carved on request, the unlabelled
challenge sets, and a round trip through the PAMTRI CSVs (cameras survive through renamed files)."""
from __future__ import annotations

import csv
from collections import Counter

import pytest

from synth.datasets import DatasetError, read_manifest
from synth.datasets.export import export_pamtri
from synth.datasets.importers import import_cityflow, import_pamtri_csv
from tests.test_import_common import make_fake_cityflow, shard_images, shard_labels


@pytest.fixture
def cityflow(tmp_path):
    root = tmp_path / "AIC19"
    return root, make_fake_cityflow(root)


def test_import_without_validation(cityflow, tmp_path):
    root, rows = cityflow
    out = tmp_path / "out"
    import_cityflow(root, out, progress=False)
    assert shard_labels(out, "train") == [(n, v, c, 0, 0) for n, v, c in rows]
    assert set(read_manifest(out)["splits"]) == {"train", "challenge_query", "challenge_gallery"}
    challenge = shard_labels(out, "challenge_query")
    assert len(challenge) == 3 and {(v, c) for _, v, c, _, _ in challenge} == {(-1, -1)}


def test_validation_split_is_carved_from_training_identities(cityflow, tmp_path):
    root, rows = cityflow
    out = tmp_path / "out"
    report = import_cityflow(root, out, val_ids=2, seed=3, challenge=False, progress=False)
    train, query, gallery = (shard_labels(out, s) for s in ("train", "query", "gallery"))
    held = {v for _, v, _, _, _ in query}
    assert len(held) == 2 and {v for _, v, _, _, _ in gallery} == held
    assert not held & {v for _, v, _, _, _ in train}
    assert 4 not in held  # seen by one camera only: never held out
    # one query per (identity, camera), the first listed; every query has a match from another camera
    assert sorted(Counter((v, c) for _, v, c, _, _ in query).values()) == [1] * len(query)
    first = {}
    for n, v, c in rows:
        first.setdefault((v, c), n)
    assert all(first[(v, c)] == n for n, v, c, _, _ in query)
    assert all(any(gv == v and gc != c for _, gv, gc, _, _ in gallery) for _, v, c, _, _ in query)
    assert len(train) + len(query) + len(gallery) == len(rows)
    assert "challenge_query" not in read_manifest(out)["splits"]
    assert any("2 identities held out" in note for note in report.notes)
    other = tmp_path / "other"
    import_cityflow(root, other, val_ids=2, seed=3, challenge=False, progress=False)
    assert shard_labels(other, "query") == query  # deterministic for a seed


def test_too_many_validation_ids(cityflow, tmp_path):
    root, _ = cityflow
    with pytest.raises(ValueError, match="only 3 training identities"):
        import_cityflow(root, tmp_path / "out", val_ids=4, progress=False)


def test_missing_challenge_list(cityflow, tmp_path):
    root, _ = cityflow
    (root / "name_test.txt").unlink()
    with pytest.raises(DatasetError, match="missing file") as err:
        import_cityflow(root, tmp_path / "out", progress=False)
    assert "name_test.txt" in str(err.value)
    import_cityflow(root, tmp_path / "out", challenge=False, progress=False)


def test_listed_image_without_label(cityflow, tmp_path):
    root, rows = cityflow
    with open(root / "name_train.txt", "a") as f:
        f.write("999999.jpg\n")
    with pytest.raises(DatasetError, match="no Item in train_label.xml") as err:
        import_cityflow(root, tmp_path / "out", progress=False)
    assert f"line {len(rows) + 1}" in str(err.value)
    report = import_cityflow(root, tmp_path / "out", val_ids=1, skip_bad=True, progress=False)
    assert report.skipped == 1


def test_round_trip_keeps_cameras_by_renaming(cityflow, tmp_path):
    root, rows = cityflow
    first, exported, again = tmp_path / "first", tmp_path / "pamtri", tmp_path / "again"
    import_cityflow(root, first, val_ids=2, seed=0, progress=False)
    export_pamtri(first, exported, progress=False)
    with open(exported / "names.csv") as f:
        mapping = list(csv.DictReader(f))
    renamed = [m for m in mapping if m["split"] == "train"]
    assert all(m["exported_name"] == m["image_name"][:-4] + m["exported_name"][-9:] for m in renamed)
    targets = {"train": "train", "query": "query", "gallery": "test",
               "challenge_query": "challenge_query", "challenge_gallery": "challenge_gallery"}
    for split, target in targets.items():
        reid = exported / "reid"
        import_pamtri_csv(reid / f"label_{target}.csv", reid / f"image_{target}", again, split=split, progress=False)
        back = {m["exported_name"]: m["image_name"] for m in mapping if m["split"] == split}
        restored = [(back[n], *labels) for n, *labels in shard_labels(again, split)]
        assert restored == shard_labels(first, split)
        assert shard_images(again, split) == shard_images(first, split)
