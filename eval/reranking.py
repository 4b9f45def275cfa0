"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), blockwise and sparse so large galleries fit in memory.

The method, over all N = queries + gallery items with base distance d (squared Euclidean, or 1 - cos):
1. dn(i, j) = d(i, j) / max_j' d(i, j')  (each row scaled to [0, 1], as the authors' code does);
   top(i) = items ordered by (d(i, .), index), item i itself first.
2. R(i, k) = {j in top(i)[:k+1] : i in top(j)[:k+1]}  (k-reciprocal neighbours).
3. R*(i) = R(i, k1) plus every R(c, round(k1/2)) of c in R(i, k1) that shares more than 2/3 of its members
   with R(i, k1) (the 2/3 test is done in integers: 3 * shared > 2 * size).
4. V(i, j) = exp(-dn(i, j)) / sum over R*(i), for j in R*(i); 0 elsewhere.
5. Query expansion (k2 > 1): V(i) <- mean of V(top(i)[m]) for m < k2.
6. Jaccard distance J(q, g) = 1 - s / (2 - s), s = sum_k min(V(q, k), V(g, k)).
7. final(q, g) = (1 - lambda) J(q, g) + lambda dn(q, g).

The authors' code holds several dense N x N matrices (distances, argsort, V); here only the top-(k1+1)
neighbour table (N x 21) and the sparse V are kept, distances are recomputed a block of rows at a time, and the
query x gallery result is produced in row blocks that the metric code consumes one by one. Memory is
O(N (k1 + nnz(V) / N) + block); time is dominated by the N x N x D distance products.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from eval.distance import check_feature_pair, check_metric, distance_block, prepare, rows_per_block

DEFAULT_BLOCK_ELEMENTS = 8_000_000
_EXPANSION_BUDGET = 2_000_000  # (query, neighbour, gallery) triples per Jaccard block
_PAIR_BATCH = 8192  # (i, j) pairs per batch when computing expansion weights


@dataclass(frozen=True)
class RerankConfig:
    k1: int = 20
    k2: int = 6
    lambda_value: float = 0.3

    def __post_init__(self):
        if self.k1 < 1 or self.k2 < 1:
            raise ValueError(f"re-ranking needs k1 >= 1 and k2 >= 1, got k1={self.k1}, k2={self.k2}")
        if not 0.0 <= self.lambda_value <= 1.0:
            raise ValueError(f"re-ranking lambda must be in [0, 1], got {self.lambda_value}")

    def as_dict(self) -> dict:
        return asdict(self)


def base_metric(metric: str) -> str:
    """Re-ranking works on squared Euclidean distances (as the authors' code) or on cosine distances."""
    check_metric(metric)
    return "cosine" if metric == "cosine" else "sqeuclidean"


def stable_top_k(block: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k smallest values per row, ordered by (value, column index), exactly as a stable
    argsort's first k columns (ties at the cut included)."""
    n = block.shape[1]
    if k >= n:
        return np.argsort(block, axis=1, kind="stable")
    part = np.argpartition(block, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(block, part, axis=1)
    order = np.lexsort((part, vals), axis=1)
    part = np.take_along_axis(part, order, axis=1)
    # argpartition may cut a run of equal values arbitrarily: redo those rows with a stable sort.
    kth = np.take_along_axis(block, part[:, -1:], axis=1)
    cut = (block == kth).sum(axis=1) != (np.take_along_axis(block, part, axis=1) == kth).sum(axis=1)
    for r in np.flatnonzero(cut):
        part[r] = np.argsort(block[r], kind="stable")[:k]
    return part


def _reciprocal(nbr: np.ndarray, k: int, rows_per_step: int = 8192) -> np.ndarray:
    """R(i, k) as a padded (N, k+1) array of item indices, -1 where top(i)[m] is not reciprocal."""
    fwd = nbr[:, : k + 1]
    out = np.full_like(fwd, -1)
    for s in range(0, len(nbr), rows_per_step):
        f = fwd[s : s + rows_per_step]
        back = nbr[f, : k + 1]  # (B, k+1, k+1)
        mine = np.arange(s, s + len(f))[:, None, None]
        out[s : s + len(f)] = np.where((back == mine).any(axis=2), f, -1)
    return out


def _expanded_sets(r_k1: np.ndarray, r_half: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) pairs of R*(i) for the given rows: R(i, k1) plus the qualifying R(c, k1/2) (module docstring)."""
    base = r_k1[rows]  # (B, k1+1)
    cand = r_half[np.maximum(base, 0)]  # (B, k1+1, h+1)
    cand = np.where(base[:, :, None] >= 0, cand, -1)
    size = (cand >= 0).sum(axis=2)
    shared = ((cand[:, :, :, None] == base[:, None, None, :]) & (cand[:, :, :, None] >= 0)).any(axis=3).sum(axis=2)
    take = (size > 0) & (3 * shared > 2 * size)
    merged = np.concatenate([base, np.where(take[:, :, None], cand, -1).reshape(len(rows), -1)], axis=1)
    merged.sort(axis=1)
    keep = merged >= 0
    keep[:, 1:] &= merged[:, 1:] != merged[:, :-1]
    r, c = np.nonzero(keep)
    return rows[r], merged[r, c]


def _pair_distances(feats, sq, i, j, metric) -> np.ndarray:
    """Base distances of individual (i, j) pairs, in batches so the gathered rows stay small."""
    out = np.empty(len(i), dtype=np.float32)
    for s in range(0, len(i), _PAIR_BATCH):
        a, b = i[s : s + _PAIR_BATCH], j[s : s + _PAIR_BATCH]
        dot = np.einsum("pd,pd->p", feats[a], feats[b])
        if metric == "cosine":
            out[s : s + len(a)] = 1.0 - dot
        else:
            out[s : s + len(a)] = np.maximum(sq[a] + sq[b] - 2.0 * dot, 0.0)
    return out


def _gather_ranges(indptr: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions into a CSC matrix's data of all entries of the given columns, and each column's count."""
    starts = indptr[cols]
    counts = indptr[cols + 1] - starts
    total = int(counts.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return offsets + np.arange(total), counts


class _Reranker:
    def __init__(self, qf: np.ndarray, gf: np.ndarray, config: RerankConfig, metric: str, block_elements: int):
        self.config = config
        self.metric = base_metric(metric)
        self.num_q, self.num_g = len(qf), len(gf)
        feats = np.concatenate([qf, gf], axis=0)
        self.feats, self.sq = prepare(feats, self.metric)
        self.block_elements = block_elements
        n = len(feats)
        self.half = int(np.around(config.k1 / 2))
        self.k_table = min(n, max(config.k1 + 1, config.k2))
        self.nbr, self.row_max = self._neighbours()
        self.V = self._weights()

    def _distance_rows(self, start: int, stop: int, cols=slice(None)) -> np.ndarray:
        """Base distances of items start:stop to the items `cols` (all by default)."""
        sq = self.sq
        return distance_block(
            self.feats[start:stop], None if sq is None else sq[start:stop],
            self.feats[cols], None if sq is None else sq[cols], self.metric,
        )

    def _neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.feats)
        nbr = np.empty((n, self.k_table), dtype=np.int64)
        row_max = np.empty(n, dtype=np.float32)
        step = rows_per_block(n, self.block_elements)
        for s in range(0, n, step):
            block = self._distance_rows(s, min(s + step, n))
            row_max[s : s + len(block)] = block.max(axis=1)
            nbr[s : s + len(block)] = stable_top_k(block, self.k_table)
        # A row of identical points has max 0: any finite scale keeps dn = 0 there.
        row_max[row_max <= 0] = 1.0
        return nbr, row_max

    def _weights(self) -> sp.csr_matrix:
        n = len(self.feats)
        k1 = min(self.config.k1, self.k_table - 1)
        half = min(self.half, self.k_table - 1)
        r_k1 = _reciprocal(self.nbr, k1)
        r_half = _reciprocal(self.nbr, half)
        rows_i, rows_j = [], []
        step = 4096
        for s in range(0, n, step):
            i, j = _expanded_sets(r_k1, r_half, np.arange(s, min(s + step, n)))
            rows_i.append(i)
            rows_j.append(j)
        i = np.concatenate(rows_i)
        j = np.concatenate(rows_j)
        dn = _pair_distances(self.feats, self.sq, i, j, self.metric).astype(np.float64) / self.row_max[i]
        w = np.exp(-dn)
        w /= np.bincount(i, weights=w, minlength=n)[i]
        V = sp.csr_matrix((w, (i, j)), shape=(n, n))
        k2 = self.config.k2
        if k2 > 1:
            k2 = min(k2, self.k_table)
            avg = sp.csr_matrix(
                (np.full(n * k2, 1.0 / k2), (np.repeat(np.arange(n), k2), self.nbr[:, :k2].ravel())), shape=(n, n)
            )
            V = (avg @ V).tocsr()
        V.sum_duplicates()
        V.eliminate_zeros()
        return V

    def blocks(self) -> Iterator[tuple[int, int, np.ndarray]]:
        nq, ng = self.num_q, self.num_g
        vq = self.V[:nq].tocsr()
        vg = self.V[nq:].tocsc()
        col_counts = np.diff(vg.indptr)
        # Work per query = sum over its nonzero columns of that column's gallery entries.
        pattern = vq.copy()
        pattern.data = np.ones_like(pattern.data)
        work = np.asarray(pattern @ col_counts).ravel()
        max_rows = rows_per_block(ng, self.block_elements)
        lam = self.config.lambda_value
        start = 0
        while start < nq:
            stop = start + 1
            budget = work[start]
            while stop < nq and stop - start < max_rows and budget + work[stop] <= _EXPANSION_BUDGET:
                budget += work[stop]
                stop += 1
            sub = vq[start:stop]
            local_rows = np.repeat(np.arange(stop - start), np.diff(sub.indptr))
            pos, counts = _gather_ranges(vg.indptr, sub.indices)
            mins = np.minimum(np.repeat(sub.data, counts), vg.data[pos])
            flat = np.repeat(local_rows, counts) * ng + vg.indices[pos]
            shared = np.bincount(flat, weights=mins, minlength=(stop - start) * ng).reshape(stop - start, ng)
            del local_rows, pos, counts, mins, flat
            denominator = 2.0 - shared
            np.divide(shared, denominator, out=shared)
            del denominator
            np.subtract(1.0, shared, out=shared)  # Jaccard distance
            out = shared.astype(np.float32)
            del shared
            out *= 1.0 - lam
            if lam > 0:
                dn = self._distance_rows(start, stop, slice(nq, None))
                dn /= self.row_max[start:stop, None]
                out += lam * dn
            yield start, stop, out
            start = stop


def rerank_blocks(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    config: RerankConfig | None = None,
    metric: str = "euclidean",
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Re-ranked query x gallery distances as row blocks `(start, stop, block)`; features must be checked
    float32 arrays (see `eval.distance.check_feature_pair`)."""
    reranker = _Reranker(query_features, gallery_features, config or RerankConfig(), metric, block_elements)
    yield from reranker.blocks()


def rerank_distances(query_features, gallery_features, config: RerankConfig | None = None, metric: str = "euclidean",
                     block_elements: int = DEFAULT_BLOCK_ELEMENTS) -> np.ndarray:
    """The whole re-ranked (queries, gallery) distance matrix, for sets small enough to hold it."""
    qf, gf = check_feature_pair(query_features, gallery_features)
    out = np.empty((len(qf), len(gf)), dtype=np.float32)
    for start, stop, block in rerank_blocks(qf, gf, config, metric, block_elements):
        out[start:stop] = block
    return out
