"""Search: the K nearest gallery items of each query, with memory bounded by a block size, not by the gallery.
Arrays in, numbers out (the model-running side is pipelines/search.py); plus the picture of one query's
results.

`search_top_k` walks the gallery a block of rows at a time (a NumPy array or a `np.memmap` of a feature cache
on disk, so a 1M-image gallery never has to be in memory): one matrix product per block (eval.distance), the
block's K best by `np.argpartition`, merged with the K best so far. Memory: the query features, one block of
gallery rows (at most `block_elements` values), one (queries x block) distance block (the same bound) and
(queries x 2K) candidates. Results are ordered by ascending distance, ties by gallery index (among equal
distances at a block's K-th place, `argpartition` keeps any one).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from eval.distance import as_features, distance_block, prepare, rows_per_block
from eval.reports import MATCH_COLOUR, MISMATCH_COLOUR, QUERY_COLOUR, _pyplot, _save, _tile

DEFAULT_BLOCK_ELEMENTS = 8_000_000  # query x gallery distances per block: 32 MB of float32
UNKNOWN_COLOUR = (150, 150, 150)  # border of a result whose identity, or the query's, is unknown


def search_top_k(query, gallery, k: int, metric: str = "euclidean",
                 block_elements: int = DEFAULT_BLOCK_ELEMENTS) -> tuple[np.ndarray, np.ndarray]:
    """(distances (Q, K) float32, gallery indices (Q, K) int64) of the K nearest gallery rows of each query,
    nearest first; K is min(k, gallery size). `gallery` is anything 2-D that slices by rows (array, memmap)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    query = as_features(query, "query features")
    shape = getattr(gallery, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] == 0:
        raise ValueError(f"gallery features must be a non-empty (N, D) array, got shape {shape}")
    if shape[1] != query.shape[1]:
        raise ValueError(f"feature dimensions differ: queries {query.shape[1]}, gallery {shape[1]}")
    total = int(shape[0])
    k = min(k, total)
    prepared_query, query_sq = prepare(query, metric)
    best_d = np.empty((len(query), 0), np.float32)
    best_i = np.empty((len(query), 0), np.int64)
    # a block bounds both the distances (queries x rows) and the copy of the gallery rows (rows x dims)
    step = max(min(rows_per_block(len(query), block_elements), rows_per_block(shape[1], block_elements)), k)
    rows = np.arange(len(query))[:, None]
    for start in range(0, total, step):
        block = as_features(gallery[start : start + step], f"gallery features rows {start}..")
        prepared_block, block_sq = prepare(block, metric)
        d = distance_block(prepared_query, query_sq, prepared_block, block_sq, metric)
        if d.shape[1] > k:
            keep = np.argpartition(d, k - 1, axis=1)[:, :k]
        else:
            keep = np.broadcast_to(np.arange(d.shape[1]), d.shape)
        cand_d = np.concatenate([best_d, d[rows, keep]], axis=1)
        cand_i = np.concatenate([best_i, keep + start], axis=1)
        order = np.lexsort((cand_i, cand_d))[:, :k]  # by distance, then by index
        best_d, best_i = cand_d[rows, order], cand_i[rows, order]
    return best_d, best_i


def result_matches(query_ids: np.ndarray, gallery_ids: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(Q, K) object array: True/False where the query's and the result's identities are both known (>= 0),
    None where either is unknown (unlabelled images)."""
    query_ids = np.asarray(query_ids)
    found = np.asarray(gallery_ids)[indices]
    known = (query_ids[:, None] >= 0) & (found >= 0)
    out = np.full(indices.shape, None, dtype=object)
    out[known] = (found == query_ids[:, None])[known]
    return out


def draw_search_result(path: str | Path, query_image: np.ndarray, result_images: Sequence[np.ndarray],
                       distances: Sequence[float], matches: Sequence[bool | None], query_caption: str = "query",
                       captions: Sequence[str] | None = None, tile: int = 128) -> Path:
    """One row: the query (blue border), then its results with their distances; green border for the same
    identity, red for another, grey where an identity is unknown."""
    plt = _pyplot()
    border = max(3, tile // 24)
    fig, axes = plt.subplots(1, len(result_images) + 1, figsize=((len(result_images) + 1) * 1.35, 1.75),
                             squeeze=False)
    axes = axes[0]
    axes[0].imshow(_tile(query_image, tile, QUERY_COLOUR, border))
    axes[0].set_title(query_caption, fontsize=6)
    for i, image in enumerate(result_images):
        colour = UNKNOWN_COLOUR if matches[i] is None else (MATCH_COLOUR if matches[i] else MISMATCH_COLOUR)
        axes[i + 1].imshow(_tile(image, tile, colour, border))
        caption = f"#{i + 1}  d={distances[i]:.3g}" + (f"\n{captions[i]}" if captions else "")
        axes[i + 1].set_title(caption, fontsize=5.5, color=np.array(colour) / 255)
    for ax in axes:
        ax.axis("off")
    fig.subplots_adjust(wspace=0.06)
    return _save(fig, path)
