"""Tables, plots and pictures of evaluation results. Arrays and dicts in, Markdown text or PNG files out.

matplotlib runs with the Agg backend (no display needed). Every PNG is written to a temporary name and renamed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from synth.datasets.inspect import letterbox
from synth.vocabulary import VIS_VISIBLE

MATCH_COLOUR = (0, 170, 0)
MISMATCH_COLOUR = (220, 0, 0)
QUERY_COLOUR = (30, 90, 230)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp.{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    os.replace(tmp, path)
    return path


def _pct(value) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.2f}"


# --- tables ------------------------------------------------------------------------------------------------


def reid_table(rows: dict[str, dict], extra: Sequence[str] | None = None) -> str:
    """A Markdown table in the paper's layout: Method | mAP | R1 | R5 | R20, in %, one row per run.

    `rows` maps a run name to its metrics.json dict (`reid`, optional `color` / `type` sections) or directly
    to a `ReidMetrics.summary()` dict. Extra columns (rank-k mAP, mINP, colour and type accuracy, skipped
    queries) are added after the paper's columns when any row has them, unless `extra` names the ones wanted.
    """
    def reid_of(m):
        return m.get("reid", m)

    first = reid_of(next(iter(rows.values()))) if rows else {}
    rank_key = f"mAP@{first.get('rank_k', 100)}"
    available = {
        rank_key: lambda m: _pct(reid_of(m).get(rank_key)),
        "mINP": lambda m: _pct(reid_of(m).get("mINP")),
        "Colour acc.": lambda m: _pct((m.get("color") or {}).get("accuracy")),
        "Type acc.": lambda m: _pct((m.get("type") or {}).get("accuracy")),
        "Skipped q.": lambda m: str(reid_of(m).get("num_skipped_queries", "–")),
    }
    if extra is None:
        extra = [rank_key, "mINP"]
        if any((m.get("color") or {}).get("accuracy") is not None for m in rows.values()):
            extra.append("Colour acc.")
        if any((m.get("type") or {}).get("accuracy") is not None for m in rows.values()):
            extra.append("Type acc.")
    unknown = [e for e in extra if e not in available]
    if unknown:
        raise ValueError(f"unknown table columns {unknown}; available: {list(available)}")
    header = ["Method", "mAP", "R1", "R5", "R20", *extra]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, metrics in rows.items():
        r = reid_of(metrics)
        cells = [name, _pct(r.get("mAP")), _pct(r.get("rank1")), _pct(r.get("rank5")), _pct(r.get("rank20"))]
        cells += [available[e](metrics) for e in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def attribute_table(results: dict[str, dict]) -> str:
    """Per-class accuracy (%) and counts of one run's attribute results (`AttributeResult.summary()` dicts)."""
    lines = []
    for attribute, summary in results.items():
        if summary is None:
            continue
        lines += [f"**{attribute}**: {_pct(summary['accuracy'])} % over {summary['num_scored']} samples "
                  f"({summary['num_unknown']} with unknown ground truth not scored)", "",
                  "| Class | Accuracy | Samples |", "|---|---|---|"]
        for name, entry in summary["per_class"].items():
            lines.append(f"| {name} | {_pct(entry['accuracy'])} | {entry['count']} |")
        lines.append("")
    return "\n".join(lines)


# --- plots -------------------------------------------------------------------------------------------------


def plot_cmc(curves: dict[str, Sequence[float]], path: str | Path, title: str = "CMC") -> Path:
    """CMC curves (fractions, rank 1..K) of several runs on one plot, like the paper's Figure 4."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, cmc in curves.items():
        cmc = np.asarray(cmc, dtype=float)
        ranks = np.arange(1, len(cmc) + 1)
        ax.plot(ranks, 100 * cmc, marker="o", markersize=3, linewidth=1.5, label=f"{name} (R1 {100 * cmc[0]:.1f}%)")
    ax.set_xlabel("Rank")
    ax.set_ylabel("Matching rate (%)")
    ax.set_title(title)
    ax.set_xlim(1, max(len(c) for c in curves.values()) if curves else 50)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_confusion(confusion: np.ndarray, names: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows = ground truth, columns = prediction) with counts in the cells.
    Classes that never occur, in truth or prediction, are left out."""
    confusion = np.asarray(confusion)
    used = np.flatnonzero((confusion.sum(axis=0) + confusion.sum(axis=1)) > 0)
    rows = [i for i in used if confusion[i].sum() > 0]
    cm = confusion[np.ix_(rows, used)]
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(0.62 * len(used) + 2.4, 0.55 * len(rows) + 1.8))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for r in range(len(rows)):
        for c in range(len(used)):
            if cm[r, c]:
                ax.text(c, r, str(cm[r, c]), ha="center", va="center", fontsize=7,
                        color="white" if norm[r, c] > 0.6 else "black")
    ax.set_xticks(range(len(used)), [names[i] for i in used], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [names[i] for i in rows], fontsize=8)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Ground truth")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


# --- pictures ----------------------------------------------------------------------------------------------


def _tile(image: np.ndarray, size: int, colour, border: int) -> np.ndarray:
    """Letterbox an RGB image into a size x size tile with a coloured border."""
    tile = np.empty((size, size, 3), np.uint8)
    tile[:] = colour
    tile[border:size - border, border:size - border] = letterbox(image, size - 2 * border, fill=255)[0]
    return tile


def draw_ranked_gallery(
    path: str | Path,
    query_images: Sequence[np.ndarray],
    gallery_images: Sequence[Sequence[np.ndarray]],
    matches: np.ndarray,
    query_captions: Sequence[str] | None = None,
    gallery_captions: Sequence[Sequence[str]] | None = None,
    tile: int = 128,
) -> Path:
    """One row per query: the query (blue border) then its top-ranked gallery images, green border for the
    same identity and red for a different one, like the paper's Figure 5. `matches` (Q, K) bool."""
    plt = _pyplot()
    num_q = len(query_images)
    top = max((len(g) for g in gallery_images), default=0)
    border = max(3, tile // 24)
    fig, axes = plt.subplots(num_q, top + 1, figsize=((top + 1) * 1.25, num_q * 1.45), squeeze=False)
    for q in range(num_q):
        axes[q, 0].imshow(_tile(query_images[q], tile, QUERY_COLOUR, border))
        axes[q, 0].set_title(query_captions[q] if query_captions else "query", fontsize=7)
        for k in range(top):
            ax = axes[q, k + 1]
            if k < len(gallery_images[q]):
                colour = MATCH_COLOUR if matches[q][k] else MISMATCH_COLOUR
                ax.imshow(_tile(gallery_images[q][k], tile, colour, border))
                caption = gallery_captions[q][k] if gallery_captions else f"#{k + 1}"
                ax.set_title(caption, fontsize=6, color=np.array(colour) / 255)
        for ax in axes[q]:
            ax.axis("off")
    fig.subplots_adjust(wspace=0.05, hspace=0.35)
    return _save(fig, path)


def draw_pose_predictions(
    path: str | Path,
    images: Sequence[np.ndarray],
    pred: np.ndarray,
    gt: np.ndarray,
    correct: np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    columns: int = 4,
) -> Path:
    """Predicted vs ground-truth keypoints on a grid of images: ground truth of visible keypoints as green
    circles, predictions as crosses joined to their ground truth (red when wrong under `correct`), predictions
    for keypoints not visible in the ground truth as small grey crosses. Coordinates in image pixels."""
    pred = np.asarray(pred, dtype=float)
    gt = np.asarray(gt, dtype=float)
    plt = _pyplot()
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 3.0, rows * 3.0), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(image)
        visible = gt[i, :, 2] == VIS_VISIBLE
        ok = correct[i] if correct is not None else np.ones(len(visible), bool)
        for k in np.flatnonzero(visible):
            colour = "lime" if ok[k] else "red"
            ax.plot([gt[i, k, 0], pred[i, k, 0]], [gt[i, k, 1], pred[i, k, 1]], "-", color=colour, linewidth=0.8)
        ax.scatter(gt[i, visible, 0], gt[i, visible, 1], s=18, facecolors="none", edgecolors="lime", linewidths=1.0)
        colours = np.where(ok[visible], "yellow", "red")
        ax.scatter(pred[i, visible, 0], pred[i, visible, 1], s=16, marker="x", c=list(colours), linewidths=1.0)
        ax.scatter(pred[i, ~visible, 0], pred[i, ~visible, 1], s=8, marker="x", c="0.6", linewidths=0.6)
        h, w = image.shape[:2]
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        if titles:
            ax.set_title(titles[i], fontsize=8)
    fig.suptitle("keypoints: ground truth (green o), prediction (x: yellow correct, red wrong, grey not scored)",
                 fontsize=8)
    return _save(fig, path)
