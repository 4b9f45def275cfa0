"""ReID retrieval metrics under the Market-1501 protocol (docs/EVALUATION.md). numpy only: arrays in, numbers out.

Protocol, per query:
- gallery items with the query's vehicle id AND camera id are removed ("junk": the same vehicle seen by the
  same camera, including the query image itself where the gallery holds a copy, as in VeRi-776);
- the remaining items are ranked by ascending distance, ties broken by gallery index (a stable sort), so every
  metric is a deterministic function of the distance matrix;
- a query with no remaining true match is skipped and counted in `num_skipped`.

Metrics over valid queries: AP (mean of the precision at each true match over the whole ranked list), mAP,
CMC rank-k (fraction of queries with a true match in the top k), rank-k mAP (AP restricted to the top k; its
denominator is all true matches by default, see `evaluate_blocks`), and mINP (Ye et al. 2021: number of true
matches / rank of the last true match).

Speed: one float32 matrix product and one `np.sort` per block of query rows; the ranks of the true matches are
found by binary search in the sorted row, so no argsort of the gallery is ever needed. Memory is bounded by the
block size, not by the number of queries x gallery items.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from eval.distance import as_labels, check_feature_pair, check_metric, distance_block, prepare, rows_per_block
from eval.reranking import rerank_blocks

DEFAULT_BLOCK_ELEMENTS = 8_000_000  # values per query x gallery block: 32 MB of float32
RANK_K_DENOMINATORS = ("all", "min")


@dataclass
class ReidMetrics:
    """Results of one ReID evaluation. Scores are fractions in [0, 1]; per-query arrays are NaN (or -1 for
    ranks) for skipped queries."""

    mAP: float
    cmc: np.ndarray  # (max_rank,): cmc[k - 1] is rank-k accuracy
    mAP_at_k: float  # rank-k mAP, k = rank_k
    mINP: float
    rank_k: int
    rank_k_denominator: str
    num_queries: int
    num_gallery: int
    num_valid: int
    ap: np.ndarray  # (Q,) AP per query
    ap_at_k: np.ndarray  # (Q,) rank-k AP per query
    inp: np.ndarray  # (Q,) INP per query
    first_hit: np.ndarray  # (Q,) 0-based rank of the first true match, -1 when skipped
    num_matches: np.ndarray  # (Q,) true matches after junk removal (0 = skipped)
    top_indices: np.ndarray | None = None  # (Q, keep_top) gallery indices in ranked order, -1 padded
    extra: dict = field(default_factory=dict)

    @property
    def num_skipped(self) -> int:
        return self.num_queries - self.num_valid

    @property
    def skipped(self) -> np.ndarray:
        """Indices of the queries without a true match in the gallery (after junk removal)."""
        return np.flatnonzero(self.num_matches == 0)

    def rank(self, k: int) -> float:
        """CMC rank-k accuracy (k >= 1); beyond the computed curve the curve's last value (it is flat there
        only when the gallery is shorter than the curve)."""
        if k < 1:
            raise ValueError("rank k starts at 1")
        if k > len(self.cmc):
            raise ValueError(f"rank {k} is past the computed CMC curve (max_rank={len(self.cmc)})")
        return float(self.cmc[k - 1])

    def summary(self) -> dict:
        """The JSON-friendly numbers (fractions), CMC up to its computed length."""
        out = {
            "mAP": float(self.mAP),
            **{f"rank{k}": self.rank(k) for k in (1, 5, 10, 20) if k <= len(self.cmc)},
            f"mAP@{self.rank_k}": float(self.mAP_at_k),
            "mINP": float(self.mINP),
            "cmc": [float(v) for v in self.cmc],
            "rank_k": self.rank_k,
            "rank_k_denominator": self.rank_k_denominator,
            "num_queries": self.num_queries,
            "num_gallery": self.num_gallery,
            "num_valid_queries": self.num_valid,
            "num_skipped_queries": self.num_skipped,
        }
        out.update(self.extra)
        return out


class _GalleryIndex:
    """Gallery indices grouped by identity, so each query finds its same-id items without a full-row scan."""

    def __init__(self, gallery_ids: np.ndarray, gallery_cams: np.ndarray):
        order = np.argsort(gallery_ids, kind="stable")
        ids_sorted = gallery_ids[order]
        uniq, starts = np.unique(ids_sorted, return_index=True)
        ends = np.append(starts[1:], len(order))
        self._groups = {int(u): order[s:e] for u, s, e in zip(uniq, starts, ends)}  # ascending gallery index
        self.cams = gallery_cams
        self._empty = np.empty(0, dtype=np.int64)

    def split(self, vid: int, cam: int) -> tuple[np.ndarray, np.ndarray]:
        """(true matches, junk) gallery indices of a query, both ascending."""
        same = self._groups.get(int(vid), self._empty)
        junk = self.cams[same] == cam
        return same[~junk], same[junk]


def _ranks_of(row_sorted: np.ndarray, row: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """0-based ranks, ascending, of `positives` (gallery indices) in `row` ordered by (distance, index).

    `row_sorted` is `row` sorted; junk entries are +inf in both and sort last.
    """
    d = row[positives]
    order = np.argsort(d, kind="stable")  # positives ascend by index, so ties stay in index order
    d = d[order]
    idx = positives[order]
    left = np.searchsorted(row_sorted, d, side="left")
    right = np.searchsorted(row_sorted, d, side="right")
    ties = right - left > 1
    if ties.any():
        # Among equal distances the lower gallery index ranks first.
        ranks = left.copy()
        for value in np.unique(d[ties]):
            equal = np.flatnonzero(row == value)
            sel = ties & (d == value)
            ranks[sel] += np.searchsorted(equal, idx[sel])
        return ranks
    return left


def _top_k(block: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest values per row, ordered by (value, index); inf entries become -1."""
    n = block.shape[1]
    k_eff = min(k, n)
    if k_eff < n:
        part = np.argpartition(block, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.broadcast_to(np.arange(n), block.shape).copy()
    vals = np.take_along_axis(block, part, axis=1)
    order = np.lexsort((part, vals), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    top[~np.isfinite(np.take_along_axis(vals, order, axis=1))] = -1
    if k_eff < k:
        top = np.concatenate([top, np.full((block.shape[0], k - k_eff), -1, top.dtype)], axis=1)
    return top


def evaluate_blocks(
    blocks: Iterable[tuple[int, int, np.ndarray]],
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    max_rank: int = 50,
    rank_k: int = 100,
    rank_k_denominator: str = "all",
    keep_top: int = 0,
    blocks_writable: bool = False,
) -> ReidMetrics:
    """Score distance-matrix row blocks `(start, stop, block)` that together cover all queries once.

    `rank_k_denominator`: "all" divides the precision sum over the top-k true matches by the number of all
    true matches (the area under the precision-recall curve cut at rank k; AP@k <= AP); "min" divides by
    min(true matches, k) (the information-retrieval AP@k). `keep_top` > 0 also records each query's top
    gallery indices (for ranked-gallery pictures). `blocks_writable` lets the scorer mark junk in place.
    """
    if max_rank < 1 or rank_k < 1:
        raise ValueError("max_rank and rank_k must be >= 1")
    if rank_k_denominator not in RANK_K_DENOMINATORS:
        raise ValueError(f"rank_k_denominator must be one of {RANK_K_DENOMINATORS}, got {rank_k_denominator!r}")
    q_ids = as_labels(query_ids, "query_ids", len(query_ids), "query_ids")
    num_q = len(q_ids)
    if num_q == 0:
        raise ValueError("empty query set: nothing to evaluate")
    q_cams = as_labels(query_cams, "query_cams", num_q, "query_ids")
    g_ids = as_labels(gallery_ids, "gallery_ids", len(gallery_ids), "gallery_ids")
    num_g = len(g_ids)
    if num_g == 0:
        raise ValueError("empty gallery: nothing to rank")
    g_cams = as_labels(gallery_cams, "gallery_cams", num_g, "gallery_ids")
    gallery = _GalleryIndex(g_ids, g_cams)

    ap = np.full(num_q, np.nan)
    ap_k = np.full(num_q, np.nan)
    inp = np.full(num_q, np.nan)
    first_hit = np.full(num_q, -1, dtype=np.int64)
    num_matches = np.zeros(num_q, dtype=np.int64)
    top = np.full((num_q, keep_top), -1, dtype=np.int64) if keep_top > 0 else None
    covered = np.zeros(num_q, dtype=bool)

    for start, stop, block in blocks:
        block = np.asarray(block)
        if not np.issubdtype(block.dtype, np.floating):  # junk is marked +inf, which integers cannot hold
            if not (np.issubdtype(block.dtype, np.integer) or block.dtype == bool):
                raise ValueError(f"distance matrix of dtype {block.dtype}: expected numbers")
            block = block.astype(np.float64)
        if block.shape != (stop - start, num_g):
            raise ValueError(f"distance block for queries {start}:{stop} has shape {block.shape}, expected {(stop - start, num_g)}")
        if not np.isfinite(block).all():
            raise ValueError(f"distance matrix has NaN or infinite values in query rows {start}:{stop}")
        if covered[start:stop].any():
            raise ValueError(f"query rows {start}:{stop} were scored twice")
        covered[start:stop] = True
        work = block if blocks_writable else block.copy()
        splits = [gallery.split(q_ids[q], q_cams[q]) for q in range(start, stop)]
        for r, (_, junk) in enumerate(splits):
            work[r, junk] = np.inf
        ordered = np.sort(work, axis=1)
        if top is not None:
            top[start:stop] = _top_k(work, keep_top)
        for r, (positives, _) in enumerate(splits):
            q = start + r
            if positives.size == 0:
                continue
            ranks = _ranks_of(ordered[r], work[r], positives)
            hits = np.arange(1, ranks.size + 1)
            precision = hits / (ranks + 1.0)
            num_matches[q] = ranks.size
            first_hit[q] = ranks[0]
            ap[q] = precision.mean()
            in_k = ranks < rank_k
            denominator = ranks.size if rank_k_denominator == "all" else min(ranks.size, rank_k)
            ap_k[q] = precision[in_k].sum() / denominator
            inp[q] = ranks.size / (ranks[-1] + 1.0)
    if not covered.all():
        missing = np.flatnonzero(~covered)
        raise ValueError(f"distance blocks did not cover queries {missing[:5].tolist()} ({missing.size} in all)")

    valid = num_matches > 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            f"no query has a true match in the gallery after removing same-id same-camera items ({num_q} queries)"
        )
    hist = np.bincount(first_hit[valid], minlength=max_rank)[:max_rank]
    cmc = np.cumsum(hist) / num_valid
    return ReidMetrics(
        mAP=float(np.mean(ap[valid])),
        cmc=cmc,
        mAP_at_k=float(np.mean(ap_k[valid])),
        mINP=float(np.mean(inp[valid])),
        rank_k=rank_k,
        rank_k_denominator=rank_k_denominator,
        num_queries=num_q,
        num_gallery=num_g,
        num_valid=num_valid,
        ap=ap,
        ap_at_k=ap_k,
        inp=inp,
        first_hit=first_hit,
        num_matches=num_matches,
        top_indices=top,
    )


def feature_blocks(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    metric: str = "euclidean",
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Query x gallery distance blocks computed on the fly from checked float32 features."""
    pq, sq = prepare(query_features, metric)
    pg, sg = prepare(gallery_features, metric)
    step = rows_per_block(len(pg), block_elements)
    for start in range(0, len(pq), step):
        stop = min(start + step, len(pq))
        yield start, stop, distance_block(pq[start:stop], None if sq is None else sq[start:stop], pg, sg, metric)


def evaluate_reid(
    query_features,
    gallery_features,
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    metric: str = "euclidean",
    rerank=None,
    max_rank: int = 50,
    rank_k: int = 100,
    rank_k_denominator: str = "all",
    keep_top: int = 0,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> ReidMetrics:
    """Evaluate query features against gallery features (Market-1501 protocol, see the module docstring).

    `metric`: "euclidean" (the paper's) or "cosine" ("sqeuclidean" ranks like "euclidean"). `rerank`: None,
    or an `eval.reranking.RerankConfig` for k-reciprocal re-ranking. The distance matrix is never held whole:
    it is computed `block_elements` values at a time.
    """
    check_metric(metric)
    qf, gf = check_feature_pair(query_features, gallery_features)
    labels = (
        as_labels(query_ids, "query_ids", len(qf), "query_features"),
        as_labels(gallery_ids, "gallery_ids", len(gf), "gallery_features"),
        as_labels(query_cams, "query_cams", len(qf), "query_features"),
        as_labels(gallery_cams, "gallery_cams", len(gf), "gallery_features"),
    )
    if rerank is not None:
        blocks = rerank_blocks(qf, gf, rerank, metric=metric, block_elements=block_elements)
    else:
        blocks = feature_blocks(qf, gf, metric, block_elements)
    result = evaluate_blocks(
        blocks, *labels, max_rank=max_rank, rank_k=rank_k, rank_k_denominator=rank_k_denominator,
        keep_top=keep_top, blocks_writable=True,
    )
    result.extra.update({"metric": metric, "rerank": None if rerank is None else rerank.as_dict()})
    return result


def evaluate_distance_matrix(
    distmat,
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    max_rank: int = 50,
    rank_k: int = 100,
    rank_k_denominator: str = "all",
    keep_top: int = 0,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> ReidMetrics:
    """Evaluate a precomputed (queries, gallery) distance matrix (smaller = more similar)."""
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distance matrix must be 2-D, got shape {distmat.shape}")
    num_q, num_g = distmat.shape
    if num_q == 0:
        raise ValueError("empty query set: the distance matrix has 0 rows")
    q_ids = as_labels(query_ids, "query_ids", num_q, "the distance matrix's rows")
    g_ids = as_labels(gallery_ids, "gallery_ids", num_g, "the distance matrix's columns")
    q_cams = as_labels(query_cams, "query_cams", num_q, "the distance matrix's rows")
    g_cams = as_labels(gallery_cams, "gallery_cams", num_g, "the distance matrix's columns")
    step = rows_per_block(num_g, block_elements)
    blocks = ((s, min(s + step, num_q), distmat[s : s + step]) for s in range(0, num_q, step))
    return evaluate_blocks(
        blocks, q_ids, g_ids, q_cams, g_cams, max_rank=max_rank, rank_k=rank_k,
        rank_k_denominator=rank_k_denominator, keep_top=keep_top,
    )
