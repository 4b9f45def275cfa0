"""Mesh helpers of `cli.py assets import`: triangle areas and normals, area-uniform surface samples, closest
points on triangles (snapping keypoints to the surface), connected parts. Pure numpy (scipy for the parts).
"""
from __future__ import annotations

import numpy as np


def triangle_areas_normals(verts, tris):
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    cross = np.cross(b - a, c - a)
    norm = np.linalg.norm(cross, axis=1)
    return 0.5 * norm, cross / np.maximum(norm, 1e-30)[:, None]


def sample_surface(verts, tris, areas, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n points uniformly by area, and the triangle index of each."""
    p = areas / areas.sum()
    idx = rng.choice(len(tris), size=n, p=p)
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    a, b, c = verts[tris[idx, 0]], verts[tris[idx, 1]], verts[tris[idx, 2]]
    return a + u[:, None] * (b - a) + v[:, None] * (c - a), idx


def closest_points_on_triangles(p, a, b, c):
    """Closest point to p on each triangle (a, b, c) (arrays (K, 3)), Ericson's method."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = np.maximum(va + vb + vc, 1e-30)
    v = vb / denom
    w = vc / denom
    out = a + ab * v[:, None] + ac * w[:, None]
    # regions (vertex / edge), later rules override earlier ones in priority order
    m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    t = d1 / np.where(np.abs(d1 - d3) > 1e-30, d1 - d3, 1)
    out[m] = (a + ab * t[:, None])[m]
    m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    t = d2 / np.where(np.abs(d2 - d6) > 1e-30, d2 - d6, 1)
    out[m] = (a + ac * t[:, None])[m]
    m = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    t = (d4 - d3) / np.where(np.abs((d4 - d3) + (d5 - d6)) > 1e-30, (d4 - d3) + (d5 - d6), 1)
    out[m] = (b + (c - b) * t[:, None])[m]
    m = (d6 >= 0) & (d5 <= d6)
    out[m] = c[m]
    m = (d3 >= 0) & (d4 <= d3)
    out[m] = b[m]
    m = (d1 <= 0) & (d2 <= 0)
    out[m] = a[m]
    return out


def snap_to_surface(points, verts, tris, mask=None, radius=0.25):
    """Each point moved to the nearest point of the triangles (of `mask` when given). Returns (snapped, dist)."""
    tri_idx = np.arange(len(tris)) if mask is None else np.flatnonzero(mask)
    a, b, c = verts[tris[tri_idx, 0]], verts[tris[tri_idx, 1]], verts[tris[tri_idx, 2]]
    lo, hi = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    out, dist = np.array(points, float), np.zeros(len(points))
    for i, p in enumerate(out):
        r = radius
        while True:
            near = np.all((lo <= p + r) & (hi >= p - r), axis=1)
            if near.any() or r > 100:
                break
            r *= 4
        q = closest_points_on_triangles(np.broadcast_to(p, (near.sum(), 3)), a[near], b[near], c[near])
        d = np.linalg.norm(q - p, axis=1)
        j = int(np.argmin(d))
        out[i], dist[i] = q[j], d[j]
    return out, dist


def connected_parts(tris: np.ndarray, verts: np.ndarray, tol: float) -> np.ndarray:
    """Label of the connected part of every triangle (vertices closer than `tol` are welded first)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    key = np.round(verts / tol).astype(np.int64)
    _, weld = np.unique(key, axis=0, return_inverse=True)
    weld = weld.ravel()
    t = weld[tris]
    n = int(weld.max()) + 1
    rows = np.concatenate([t[:, 0], t[:, 1]])
    cols = np.concatenate([t[:, 1], t[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[t[:, 0]]


def points_of(mask, verts, tris, samples, sample_tri):
    """Vertices of the masked triangles plus the area samples that fall on them."""
    v = verts[np.unique(tris[mask])] if mask.any() else np.zeros((0, 3))
    return np.concatenate([v, samples[mask[sample_tri]]])
