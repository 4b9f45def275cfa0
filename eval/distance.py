"""Input checks and pairwise distances for ReID features. numpy only.

Distances are computed in float32 blocks with one BLAS matrix product each, so a caller can walk over a huge
query x gallery matrix a block of rows at a time and never hold all of it.
"""
from __future__ import annotations

import numpy as np

METRICS = ("euclidean", "sqeuclidean", "cosine")


def as_features(features, name: str) -> np.ndarray:
    """A 2-D float32 C-contiguous copy-if-needed of `features`; a clear ValueError for empty or non-finite input."""
    array = np.asarray(features)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples, dims), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature dimensions")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"{name} has NaN or infinite values in {bad.size} rows (first: {bad[:5].tolist()})")
    return array


def check_feature_pair(query_features, gallery_features) -> tuple[np.ndarray, np.ndarray]:
    """Query and gallery features as checked float32 arrays of the same dimension."""
    qf = as_features(query_features, "query_features")
    gf = as_features(gallery_features, "gallery_features")
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"query features are {qf.shape[1]}-d but gallery features are {gf.shape[1]}-d")
    return qf, gf


def as_labels(labels, name: str, length: int, length_of: str) -> np.ndarray:
    """A 1-D int64 array of `length` labels, or a ValueError naming both arrays when the lengths differ."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.shape[0] != length:
        raise ValueError(f"{name} has {array.shape[0]} entries but {length_of} has {length}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown distance metric {metric!r}; choose one of {METRICS}")
    return metric


def prepare(features: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    """What `distance_block` needs per side: the (normalised, for cosine) features and squared norms."""
    check_metric(metric)
    if metric == "cosine":
        norms = np.linalg.norm(features, axis=1)
        zero = norms == 0
        if zero.any():
            raise ValueError(f"cosine distance is undefined for all-zero feature rows {np.flatnonzero(zero)[:5].tolist()}")
        return features / norms[:, None], None
    return features, np.einsum("ij,ij->i", features, features)


def distance_block(a: np.ndarray, a_sq, b: np.ndarray, b_sq, metric: str) -> np.ndarray:
    """Distances (len(a), len(b)) float32 between rows prepared by `prepare`.

    euclidean: ||a - b||; sqeuclidean: its square; cosine: 1 - cos(a, b). The squared distance is expanded as
    |a|^2 + |b|^2 - 2 a.b (one matrix product) and clipped at 0 against rounding.
    """
    out = a @ b.T
    if metric == "cosine":
        np.subtract(1.0, out, out=out)
        return out
    out *= -2.0
    out += a_sq[:, None]
    out += b_sq[None, :]
    np.maximum(out, 0.0, out=out)
    if metric == "euclidean":
        np.sqrt(out, out=out)
    return out


def pairwise_distances(a, b, metric: str = "euclidean") -> np.ndarray:
    """The full distance matrix between two feature sets; for small sets (use blocks for large ones)."""
    a = as_features(a, "a")
    b = as_features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    pa, sa = prepare(a, metric)
    pb, sb = prepare(b, metric)
    return distance_block(pa, sa, pb, sb, metric)


def rows_per_block(num_columns: int, block_elements: int) -> int:
    """How many rows of a `num_columns`-wide matrix fit in a block of `block_elements` values (at least 1)."""
    return max(1, block_elements // max(1, num_columns))
