"""What `cli.py evaluate-reid` does: score a FeatureSet (given, or extracted from a trained run by
pipelines.reid.evaluate_model), write
metrics.json, a Markdown table, the CMC plot, confusion matrices and the ranked-gallery picture; compare runs.

Output directory of one evaluation:
    metrics.json            all numbers (fractions in [0, 1]) and the protocol used
    table.md                the paper's layout (mAP, R1, R5, R20 + extras) and per-class attribute accuracy
    cmc.png                 CMC curve, rank 1..max_rank
    ranked_gallery.png      queries with their top matches (needs the dataset's images)
    color_confusion.png, type_confusion.png   when the features carry attribute predictions
    features.npz            only for --model runs: the extracted features, to re-evaluate without the network
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from synth.datasets import DatasetError, ShardReader
from synth.datasets.manifest import manifest_shards, read_column, read_manifest

from eval.attributes import attribute_accuracy
from eval.features import FeatureSet
from eval.reid_metrics import ReidMetrics, evaluate_reid
from eval.reranking import RerankConfig
from eval.reports import attribute_table, draw_ranked_gallery, plot_cmc, plot_confusion, reid_table

METRICS_FILE = "metrics.json"


@dataclass
class EvalOptions:
    metric: str = "euclidean"
    rerank: RerankConfig | None = None
    max_rank: int = 50
    rank_k: int = 100
    rank_k_denominator: str = "all"
    ranked_queries: int = 8  # rows of the ranked-gallery picture (0: no picture)
    ranked_top: int = 10  # gallery images per row
    name: str | None = None
    extra_meta: dict = field(default_factory=dict)


def to_json(obj, indent: int = 2, _level: int = 0) -> str:
    """JSON with nested structure indented but lists of plain numbers kept on one line (CMC curves,
    confusion rows), so metrics.json stays readable."""
    pad, inner = " " * (indent * _level), " " * (indent * (_level + 1))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {to_json(v, indent, _level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return json.dumps(list(obj), default=_plain)
        return "[\n" + ",\n".join(inner + to_json(v, indent, _level + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, default=_plain)


def _plain(value):
    """numpy scalars and arrays, paths and anything else as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def score_feature_set(fs: FeatureSet, options: EvalOptions | None = None) -> tuple[dict, ReidMetrics]:
    """All metrics of a FeatureSet as a JSON-ready dict, plus the ReidMetrics (per-query arrays, top lists)."""
    options = options or EvalOptions()
    fs.validate()
    is_query = fs.split == "query"
    if not is_query.any():
        raise ValueError("empty query set: the feature set has no rows with split 'query'")
    if is_query.all():
        raise ValueError("empty gallery: the feature set has no rows with split 'gallery'")
    q, g = fs.subset(is_query), fs.subset(~is_query)
    start = time.perf_counter()
    reid = evaluate_reid(
        q.features, g.features, q.vehicle_id, g.vehicle_id, q.camera_id, g.camera_id,
        metric=options.metric, rerank=options.rerank, max_rank=options.max_rank, rank_k=options.rank_k,
        rank_k_denominator=options.rank_k_denominator, keep_top=options.ranked_top if options.ranked_queries else 0,
    )
    seconds = time.perf_counter() - start
    metrics = {
        "name": options.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "protocol": {
            "junk": "gallery items with the query's vehicle id and camera id are removed",
            "ties": "equal distances rank by gallery order",
            "metric": options.metric,
            "rerank": None if options.rerank is None else options.rerank.as_dict(),
            "max_rank": options.max_rank,
            "rank_k": options.rank_k,
            "rank_k_denominator": options.rank_k_denominator,
            "attributes": "accuracy over query + gallery, unknown ground truth (id 0) not scored",
        },
        "num_features": len(fs),
        "feature_dim": int(fs.features.shape[1]),
        "dataset_dir": fs.dataset_dir,
        "reid": reid.summary(),
        "color": None,
        "type": None,
        "reid_seconds": round(seconds, 3),
        "meta": {**fs.meta, **options.extra_meta},
    }
    for attribute in ("color", "type"):
        pred, truth = getattr(fs, f"{attribute}_pred"), getattr(fs, f"{attribute}_id")
        if pred is not None and truth is not None:
            metrics[attribute] = attribute_accuracy(pred, truth, attribute).summary()
    return metrics, reid


class DatasetImages:
    """Images of a dataset directory looked up by (split, image name), for pictures."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.dataset = ShardReader(self.root, fields=("image", "image_name"))
        self.by_key: dict[tuple[str, str], int] = {}
        self.by_name: dict[str, int] = {}
        for index, (split, name) in enumerate(zip(self.dataset.splits(), self.dataset.column("image_name"))):
            self.by_key[(str(split), str(name))] = index
            self.by_name.setdefault(str(name), index)

    def image(self, split: str, name: str) -> np.ndarray:
        index = self.by_key.get((split, name), self.by_name.get(name))
        if index is None:
            raise DatasetError(self.root, f"image {name!r} (split {split}) not found in the dataset", "image_name")
        return self.dataset[index]["image"]


def check_coverage(fs: FeatureSet, source: str | Path | None = None, allow_partial: bool = False) -> dict | None:
    """Before anything is written: the features' query and gallery images against the dataset they name.
    An image the dataset's split does not hold is refused; features covering only part of a split are refused
    unless `allow_partial` (a score over 3 of 6 gallery images is not the dataset's score), and then the
    returned coverage says what was left out. None when no dataset (with query and gallery splits) is named."""
    if fs.dataset_dir is None:
        return None
    root = Path(fs.dataset_dir)
    manifest = read_manifest(root)
    if not {"query", "gallery"} <= set(manifest["splits"]):
        return None
    names: dict[str, set[str]] = {"query": set(), "gallery": set()}
    for split, path, _ in manifest_shards(root, manifest):
        if split in names:
            names[split].update(read_column(path, "image_name"))
    where = f"{source}" if source is not None else "features"
    coverage, short = {}, []
    for split, wanted in names.items():
        have = set(fs.image_name[fs.split == split].tolist())
        unknown = sorted(have - wanted)
        if unknown:
            raise ValueError(f"{where}: {len(unknown)} {split} image(s) not in the {split} split of {root} "
                             f"(e.g. {unknown[:3]}): features of another dataset?")
        missing = sorted(wanted - have)
        coverage[split] = {"scored": len(have), "in_dataset": len(wanted), "left_out": len(missing),
                           "left_out_examples": missing[:5]}
        if missing:
            short.append(f"{len(have)} of {len(wanted)} {split} images (left out e.g. {missing[:3]})")
    if short and not allow_partial:
        raise ValueError(f"{where}: the features cover only " + "; ".join(short) + f" of {root}: a score over part "
                         "of the dataset is not its score; pass --allow-partial to score the subset anyway")
    return coverage


def pick_ranked_queries(reid: ReidMetrics, count: int) -> np.ndarray:
    """`count` valid queries spread evenly from the best AP to the worst, so successes and failures both show."""
    valid = np.flatnonzero(reid.num_matches > 0)
    order = valid[np.lexsort((valid, -reid.ap[valid]))]
    if len(order) <= count:
        return order
    return order[np.round(np.linspace(0, len(order) - 1, count)).astype(int)]


def draw_ranked_gallery_of(fs: FeatureSet, reid: ReidMetrics, path: Path, count: int, data_dir=None) -> Path:
    """The ranked-gallery picture of a scored FeatureSet, reading images from its dataset directory."""
    root = data_dir or fs.dataset_dir
    if root is None:
        raise ValueError("the ranked-gallery picture needs the dataset's images: give --data DIR or features with dataset_dir")
    if reid.top_indices is None:
        raise ValueError("ranked lists were not kept: score with ranked_queries > 0")
    images = DatasetImages(root)
    q, g = fs.query, fs.gallery
    picks = pick_ranked_queries(reid, count)
    query_images, gallery_images, matches, q_captions, g_captions = [], [], [], [], []
    for qi in picks:
        top = reid.top_indices[qi][reid.top_indices[qi] >= 0]
        query_images.append(images.image("query", q.image_name[qi]))
        q_captions.append(f"q id {q.vehicle_id[qi]} c{q.camera_id[qi]}\nAP {100 * reid.ap[qi]:.0f}%")
        gallery_images.append([images.image("gallery", g.image_name[gi]) for gi in top])
        matches.append(g.vehicle_id[top] == q.vehicle_id[qi])
        g_captions.append([f"{k + 1}: id {g.vehicle_id[gi]} c{g.camera_id[gi]}" for k, gi in enumerate(top)])
    return draw_ranked_gallery(path, query_images, gallery_images, matches, q_captions, g_captions)


def write_report(metrics: dict, out_dir: Path) -> str:
    name = metrics.get("name") or out_dir.name
    protocol = metrics["protocol"]
    reid = metrics["reid"]
    k = protocol["rank_k"]
    denominator = "all true matches" if protocol["rank_k_denominator"] == "all" else f"min(true matches, {k})"
    rr = protocol["rerank"]
    rerank = "off" if not rr else f"k1={rr['k1']}, k2={rr['k2']}, lambda={rr['lambda_value']}"
    lines = [
        f"# Evaluation: {name}", "",
        reid_table({name: metrics}), "",
        f"Distance: {protocol['metric']}; re-ranking: {rerank}; "
        f"{reid['num_queries']} queries ({reid['num_skipped_queries']} skipped: no true match from another camera), "
        f"{reid['num_gallery']} gallery images. mAP@{protocol['rank_k']} divides by "
        f"{denominator}.",
        "",
    ]
    attributes = attribute_table({"Colour": metrics.get("color"), "Type": metrics.get("type")})
    if attributes:
        lines += ["## Attributes", "", attributes]
    text = "\n".join(lines)
    write_text(out_dir / "table.md", text + "\n")
    return text


def evaluate_feature_set(
    fs: FeatureSet, out_dir: str | Path, options: EvalOptions | None = None, data_dir: str | Path | None = None,
    source: str | Path | None = None, allow_partial: bool = False,
) -> dict:
    """Score a FeatureSet and write every output of one evaluation into `out_dir`. Returns metrics.json's dict.
    `source` (the feature file) is named in errors; see `check_coverage` for `allow_partial`."""
    options = options or EvalOptions()
    out_dir = Path(out_dir)
    if data_dir is not None:
        fs.dataset_dir = str(data_dir)
    coverage = check_coverage(fs, source, allow_partial)
    metrics, reid = score_feature_set(fs, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics["name"] = options.name or out_dir.name
    notes = []
    if coverage is not None:
        metrics["coverage"] = coverage
        notes += [f"partial: {c['scored']} of {c['in_dataset']} {split} images scored, {c['left_out']} left out"
                  for split, c in coverage.items() if c["left_out"]]
    outputs = {"table": "table.md", "cmc": "cmc.png"}
    plot_cmc({metrics["name"]: reid.cmc}, out_dir / "cmc.png", title=f"CMC: {metrics['name']}")
    for attribute in ("color", "type"):
        summary = metrics[attribute]
        if summary is not None:
            plot_confusion(np.array(summary["confusion"]), summary["names"], out_dir / f"{attribute}_confusion.png",
                           title=f"{attribute} accuracy {100 * summary['accuracy']:.2f}%" if summary["accuracy"] is not None else attribute)
            outputs[f"{attribute}_confusion"] = f"{attribute}_confusion.png"
    if options.ranked_queries > 0:
        if fs.dataset_dir is not None:
            draw_ranked_gallery_of(fs, reid, out_dir / "ranked_gallery.png", options.ranked_queries)
            outputs["ranked_gallery"] = "ranked_gallery.png"
        else:
            notes.append("no ranked-gallery picture: the features name no dataset directory (use --data)")
    if notes:
        metrics["notes"] = notes
    metrics["outputs"] = outputs
    write_report(metrics, out_dir)
    write_text(out_dir / METRICS_FILE, to_json(metrics) + "\n")
    return metrics


def load_run_metrics(source: str | Path, options: EvalOptions | None = None) -> dict:
    """metrics.json of a run: from an evaluation directory, a metrics.json file, or by scoring a .npz
    feature file with `options`."""
    source = Path(source)
    if source.is_dir():
        source = source / METRICS_FILE
    if not source.exists():
        raise FileNotFoundError(f"{source}: not found (give an evaluation directory, its metrics.json, or features .npz)")
    if source.suffix == ".npz":
        opts = EvalOptions(**{**(options or EvalOptions()).__dict__, "ranked_queries": 0})
        metrics, _ = score_feature_set(FeatureSet.load(source), opts)
        metrics["name"] = source.stem
        return metrics
    try:
        metrics = json.loads(source.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(metrics, dict) or "reid" not in metrics:
        raise ValueError(f"{source}: not an evaluation metrics.json (no 'reid' section)")
    metrics.setdefault("name", source.parent.name)
    return metrics


def compare_runs(sources: Sequence[str | Path], out_dir: str | Path, names: Sequence[str] | None = None,
                 options: EvalOptions | None = None) -> str:
    """One table and one CMC plot for several runs side by side. Returns the Markdown table."""
    if not sources:
        raise ValueError("nothing to compare: give at least one run")
    if names is not None and len(names) != len(sources):
        raise ValueError(f"{len(names)} names for {len(sources)} runs")
    out_dir = Path(out_dir)
    rows: dict[str, dict] = {}
    for i, source in enumerate(sources):
        metrics = load_run_metrics(source, options)
        name = names[i] if names else (metrics.get("name") or Path(source).name)
        while name in rows:
            name = f"{name}'"
        rows[name] = metrics
    table = reid_table(rows)
    write_text(out_dir / "table.md", "# Comparison\n\n" + table + "\n")
    plot_cmc({name: m["reid"]["cmc"] for name, m in rows.items()}, out_dir / "cmc.png", title="CMC")
    write_text(out_dir / METRICS_FILE, to_json({"compare": rows}) + "\n")
    return table
