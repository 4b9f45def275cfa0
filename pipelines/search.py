"""Search your own images (`cli.py search`, docs/OWN_DATA.md): a trained ReID run ranks a gallery for each query.

- Galleries and queries are dataset directories, or image files / folders that are imported first
  (synth.datasets.importers.images): a gallery folder into
  `<folder>/.pamtri_cache/gallery-<labels>-<listing digest>`,
  query images into `<out>/query_data`.
- Pose sidecars are written as needed with the run's pose network (`pose_model`; default: the one the run was
  trained with), exactly as training and `extract-reid` do (pipelines.pose_sidecars).
- Gallery features are cached beside the gallery, in `<dataset>/search_cache/<key>.npy`, a float32 (N, D)
  array read back as a memmap, with `<key>.labels.npz` (image names, ids, splits) and `<key>.json` written
  last (a cache without its JSON is incomplete and redone). The key digests the checkpoint file's bytes,
  the gallery's shards (names, sizes, modification times) and the splits: a changed model or gallery makes a
  new cache, an unchanged one is re-used. Features are written chunk by chunk, so memory stays bounded.
- Ranking: eval.search.search_top_k, blockwise over the memmap.

Outputs in `out`: results.json, results.csv and pictures/<NNN>_<query>.png (query + top K with distances;
true/false borders where both identities are known).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from torch.utils.data import Subset

from eval.search import draw_search_result, result_matches, search_top_k
from pipelines.pose_sidecars import sidecars_for
from synth.datasets import ShardReader
from synth.datasets.importers.images import import_image_files, import_images, list_images
from synth.datasets.manifest import manifest_shards
from synth.datasets.schema import MANIFEST_NAME, DatasetError
from train.device import amp_enabled, autocast, select_device
from train.reid.config import ReidConfig
from train.reid.data import ReidDataset
from train.reid.extract import _image_names, load_reid_model
from train.reid.train import eval_loader, predict

CACHE_DIR = "search_cache"
FOLDER_CACHE = ".pamtri_cache"
CHUNK = 4096  # images per extraction chunk: features are flushed to the cache file after each


@dataclass
class Features:
    """Features of a set of images (an array or a memmap) and their labels, row-aligned."""

    features: np.ndarray
    image_name: np.ndarray
    vehicle_id: np.ndarray
    camera_id: np.ndarray
    split: np.ndarray
    root: Path
    cached: bool = False
    seconds: float = 0.0


@dataclass
class SearchReport:
    out: Path
    num_queries: int
    num_gallery: int
    top: int
    gallery_cached: bool
    seconds: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        timing = ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items())
        return (f"{self.num_queries} queries x {self.num_gallery} gallery images, top {self.top} "
                f"(gallery features {'re-used from the cache' if self.gallery_cached else 'extracted and cached'}; "
                f"{timing}): {self.out}")


def is_dataset_dir(path: Path) -> bool:
    return (Path(path) / MANIFEST_NAME).is_file()


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gallery_key(checkpoint: Path, root: Path, splits: Sequence[str] | None) -> str:
    """What the cached features depend on: the model's bytes, the gallery's shards and the splits."""
    h = hashlib.sha256(_digest_file(checkpoint).encode())
    for split, shard, count in manifest_shards(root):
        if splits is None or split in splits:
            stat = shard.stat()
            h.update(f"{split}:{shard.name}:{count}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    h.update(repr(sorted(splits) if splits else None).encode())
    return h.hexdigest()[:20]


def _listing_digest(files: Sequence[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in files:
        stat = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def gallery_dataset(gallery: Path, skip_bad: bool = False, veri_names: bool = False) -> Path:
    """The dataset directory of a gallery: itself, or the cached import of an image folder (re-imported when
    the folder's listing changes; older imports are removed)."""
    gallery = Path(gallery)
    if is_dataset_dir(gallery):
        return gallery
    if not gallery.is_dir():
        raise FileNotFoundError(f"{gallery}: gallery is neither a dataset directory nor a folder of images")
    files = list_images(gallery)
    if not files:
        raise DatasetError(gallery, "no image files in the gallery folder")
    mode = "veri" if veri_names else "unlabelled"  # a re-labelled import is another dataset
    target = gallery / FOLDER_CACHE / f"gallery-{mode}-{_listing_digest(files, gallery)}"
    for old in (gallery / FOLDER_CACHE).glob(f"gallery-{mode}-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old)
    import_images(gallery, target, veri_names=veri_names, split="gallery", skip_bad=skip_bad, progress=False)
    return target


def query_datasets(queries: Sequence[Path], out: Path, skip_bad: bool = False, veri_names: bool = False) -> list[Path]:
    """Dataset directories of the queries: dataset directories as given; image files and folders imported
    together into `out/query_data` (made afresh)."""
    roots, files = [], []
    for query in map(Path, queries):
        if is_dataset_dir(query):
            roots.append(query)
        elif query.is_dir():
            found = list_images(query)
            if not found:
                raise DatasetError(query, "no image files in the query folder")
            files += [(p, f"{query.name}/{p.relative_to(query).as_posix()}") for p in found]
        elif query.is_file():
            files.append((query, query.name))
        else:
            raise FileNotFoundError(f"{query}: query is not an image, a folder of images or a dataset directory")
    if files:
        target = out / "query_data"
        if target.exists():
            shutil.rmtree(target)
        import_image_files(files, target, split="query", veri_names=veri_names, skip_bad=skip_bad)
        roots.append(target)
    return roots


def _labels(dataset: ReidDataset, rows: np.ndarray) -> dict[str, np.ndarray]:
    base = dataset.base
    splits = np.array(base.shard_split)[base._shard_of[rows]]
    return {"image_name": np.asarray(_image_names(base, rows)), "vehicle_id": dataset.labels["vehicle_id"][rows],
            "camera_id": dataset.labels["camera_id"][rows], "split": splits.astype(str)}


def _run(model, dataset, config: ReidConfig, device, workers: int) -> dict[str, np.ndarray]:
    with autocast(device, amp_enabled(device, config.amp)):
        return predict(model, eval_loader(dataset, config, workers, device), device)


def query_features(model, config: ReidConfig, roots: Sequence[Path], device, workers: int = 0) -> Features:
    """Features of every image of the query dataset directories (kept in memory: queries are few)."""
    parts = []
    start = time.perf_counter()
    for root in roots:
        sidecars_for(config, [root])
        dataset = ReidDataset([root], None, config, train=False)
        out = _run(model, dataset, config, device, workers)
        parts.append((out["features"], _labels(dataset, out["index"])))
    labels = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
    return Features(np.concatenate([p[0] for p in parts]), root=roots[0], seconds=time.perf_counter() - start,
                    **labels)


def gallery_features(model, config: ReidConfig, checkpoint: Path, root: Path, device, splits=None,
                     workers: int = 0, chunk: int = CHUNK) -> Features:
    """Cached features of the gallery dataset `root` (see the module docstring), extracted when absent."""
    key = gallery_key(checkpoint, root, splits)
    cache = root / CACHE_DIR
    paths = {name: cache / f"{key}{suffix}" for name, suffix in
             (("features", ".npy"), ("labels", ".labels.npz"), ("meta", ".json"))}
    start = time.perf_counter()
    if paths["meta"].is_file() and paths["features"].is_file() and paths["labels"].is_file():
        with np.load(paths["labels"], allow_pickle=False) as labels:
            values = {k: labels[k] for k in ("image_name", "vehicle_id", "camera_id", "split")}
        features = np.load(paths["features"], mmap_mode="r")
        if len(features) == len(values["image_name"]):
            return Features(features, root=root, cached=True, seconds=time.perf_counter() - start, **values)
    sidecars_for(config, [root], splits)
    dataset = ReidDataset([root], splits, config, train=False)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f"{key}.tmp.{os.getpid()}.npy"
    try:
        features = None
        for first in range(0, len(dataset), chunk):
            out = _run(model, Subset(dataset, range(first, min(first + chunk, len(dataset)))), config, device, workers)
            if features is None:
                features = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                     shape=(len(dataset), out["features"].shape[1]))
            features[out["index"]] = out["features"]
            features.flush()
        del features
        labels = _labels(dataset, np.arange(len(dataset)))
        np.savez(paths["labels"], **labels)
        os.replace(tmp, paths["features"])
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"checkpoint": str(checkpoint), "gallery": str(root), "splits": splits, "num_images": len(dataset),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    paths["meta"].write_text(json.dumps(meta, indent=2))
    return Features(np.load(paths["features"], mmap_mode="r"), root=root, seconds=time.perf_counter() - start,
                    **labels)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


def _image(root: Path, split: str, name: str, cache: dict) -> np.ndarray:
    """The stored image `name` of `split` in the dataset `root` (its name index is built once per dataset,
    from the shards' name columns, without decoding any image)."""
    if root not in cache:
        data = ShardReader(root, fields=("image",))
        index = {(str(split), str(name)): row for row, (split, name) in
                 enumerate(zip(data.splits(), data.column("image_name")))}
        cache[root] = (data, index)
    data, index = cache[root]
    return data[index[(split, name)]]["image"]


def search(
    model_run: str | Path,
    queries: Sequence[str | Path],
    gallery: str | Path,
    out: str | Path,
    top: int = 10,
    metric: str = "euclidean",
    which: str = "best",
    pose_model: str | None = None,
    gallery_splits: Sequence[str] | None = None,
    device: str = "auto",
    workers: int = 0,
    batch_size: int | None = None,
    pictures: bool = True,
    skip_bad: bool = False,
    veri_names: bool = False,
) -> SearchReport:
    """Rank the gallery for every query image with the ReID run `model_run`; write results and pictures.
    `veri_names`: images given as files or folders take identity and camera from VeRi-style names."""
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    out = Path(out)
    dev = select_device(device)
    model, config, checkpoint = load_reid_model(model_run, dev, which)
    config = config.replace(pose_model=pose_model or config.pose_model,
                            eval_batch_size=batch_size or config.eval_batch_size)
    gallery_root = gallery_dataset(Path(gallery), skip_bad, veri_names)
    out.mkdir(parents=True, exist_ok=True)
    query_roots = query_datasets([Path(q) for q in queries], out, skip_bad, veri_names)
    g = gallery_features(model, config, checkpoint, gallery_root, dev, list(gallery_splits) if gallery_splits else None,
                         workers)
    q = query_features(model, config, query_roots, dev, workers)
    start = time.perf_counter()
    distances, indices = search_top_k(q.features, g.features, top, metric)
    rank_seconds = time.perf_counter() - start
    matches = result_matches(q.vehicle_id, g.vehicle_id, indices)
    results = []
    for i in range(len(q.features)):
        results.append({
            "query": str(q.image_name[i]), "query_split": str(q.split[i]), "query_vehicle_id": int(q.vehicle_id[i]),
            "results": [{"rank": r + 1, "image_name": str(g.image_name[j]), "split": str(g.split[j]),
                         "distance": float(distances[i, r]), "vehicle_id": int(g.vehicle_id[j]),
                         "camera_id": int(g.camera_id[j]), "match": matches[i, r]}
                        for r, j in enumerate(indices[i])],
        })
    document = {"model": str(model_run), "checkpoint": str(checkpoint), "gallery": str(gallery),
                "gallery_dataset": str(gallery_root), "metric": metric, "top": int(indices.shape[1]),
                "queries": results}
    (out / "results.json").write_text(json.dumps(document, indent=1))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "rank", "gallery_image", "gallery_split", "distance", "gallery_vehicle_id", "match"])
        for entry in results:
            for r in entry["results"]:
                writer.writerow([entry["query"], r["rank"], r["image_name"], r["split"], f"{r['distance']:.6g}",
                                 r["vehicle_id"], "" if r["match"] is None else int(r["match"])])
    if pictures:
        images: dict = {}
        query_root_of = _query_roots_by_row(query_roots, config)
        for i, entry in enumerate(results):
            query_image = _image(query_root_of[i], entry["query_split"], entry["query"], images)
            shown = [_image(gallery_root, r["split"], r["image_name"], images) for r in entry["results"]]
            draw_search_result(out / "pictures" / f"{i:03d}_{_safe(entry['query'])}.png", query_image, shown,
                               [r["distance"] for r in entry["results"]], [r["match"] for r in entry["results"]],
                               query_caption=Path(entry["query"]).name[-28:],
                               captions=[r["image_name"][-22:] for r in entry["results"]])
    seconds = {"query features": q.seconds, "gallery features": g.seconds, "ranking": rank_seconds}
    return SearchReport(out, len(q.features), len(g.features), int(indices.shape[1]), g.cached, seconds)


def _query_roots_by_row(roots: Sequence[Path], config: ReidConfig) -> list[Path]:
    """The dataset directory of each query row, in the order query_features concatenated them."""
    rows = []
    for root in roots:
        rows += [root] * len(ShardReader(root, fields=("vehicle_id",)))
    return rows
