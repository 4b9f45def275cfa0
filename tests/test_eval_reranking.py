"""k-reciprocal re-ranking: the blockwise sparse version against a dense, loop-by-loop reference."""
import numpy as np
import pytest

from eval.distance import pairwise_distances
from eval.reid_metrics import evaluate_distance_matrix, evaluate_reid
from eval.reranking import RerankConfig, rerank_distances, stable_top_k


def reference_rerank(qf, gf, k1, k2, lam, metric="euclidean"):
    """Zhong et al.'s re-ranking written out with dense matrices and Python sets."""
    feats = np.concatenate([qf, gf])
    n, nq = len(feats), len(qf)
    d = pairwise_distances(feats, feats, "cosine" if metric == "cosine" else "sqeuclidean").astype(np.float64)
    dn = d / np.where(d.max(axis=1, keepdims=True) > 0, d.max(axis=1, keepdims=True), 1.0)
    order = np.argsort(d, axis=1, kind="stable")  # ties: lower index first

    def reciprocal(i, k):
        return {j for j in order[i, : k + 1] if i in order[j, : k + 1]}

    half = int(np.around(k1 / 2))
    V = np.zeros((n, n))
    for i in range(n):
        base = reciprocal(i, k1)
        expanded = set(base)
        for c in base:
            cand = reciprocal(c, half)
            if 3 * len(cand & base) > 2 * len(cand):
                expanded |= cand
        members = sorted(expanded)
        w = np.exp(-dn[i, members])
        V[i, members] = w / w.sum()
    if k2 > 1:
        V = np.stack([V[order[i, :k2]].mean(axis=0) for i in range(n)])
    final = np.zeros((nq, n - nq))
    for q in range(nq):
        for g in range(n - nq):
            shared = np.minimum(V[q], V[nq + g]).sum()
            final[q, g] = (1 - lam) * (1 - shared / (2 - shared)) + lam * dn[q, nq + g]
    return final


def clustered(rng, num_q, num_g, num_ids=6, dim=8):
    centres = rng.normal(size=(num_ids, dim)) * 2
    q_ids, g_ids = rng.integers(0, num_ids, num_q), rng.integers(0, num_ids, num_g)
    qf = (centres[q_ids] + rng.normal(size=(num_q, dim))).astype(np.float32)
    gf = (centres[g_ids] + rng.normal(size=(num_g, dim))).astype(np.float32)
    return qf, gf, q_ids, g_ids


@pytest.mark.parametrize(
    "seed, k1, k2, lam, metric",
    [(0, 20, 6, 0.3, "euclidean"), (1, 7, 3, 0.3, "euclidean"), (2, 5, 1, 0.0, "euclidean"),
     (3, 9, 4, 0.5, "cosine"), (4, 3, 2, 1.0, "euclidean")],
)
def test_rerank_matches_dense_reference(seed, k1, k2, lam, metric):
    rng = np.random.default_rng(seed)
    qf, gf, _, _ = clustered(rng, 14, 40)
    config = RerankConfig(k1=k1, k2=k2, lambda_value=lam)
    expected = reference_rerank(qf, gf, k1, k2, lam, metric)
    # Small blocks: the neighbour pass and the Jaccard pass run over several row blocks.
    got = rerank_distances(qf, gf, config, metric=metric, block_elements=90)
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_rerank_on_tiny_sets_where_k_exceeds_the_items():
    rng = np.random.default_rng(5)
    qf, gf, _, _ = clustered(rng, 3, 5)
    np.testing.assert_allclose(rerank_distances(qf, gf, RerankConfig()), reference_rerank(qf, gf, 20, 6, 0.3),
                               atol=2e-5)


def test_reranked_metrics_equal_metrics_of_reranked_matrix():
    rng = np.random.default_rng(6)
    qf, gf, q_ids, g_ids = clustered(rng, 20, 60)
    q_cams, g_cams = rng.integers(0, 3, 20), rng.integers(0, 3, 60)
    config = RerankConfig(k1=8, k2=3)
    result = evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, rerank=config, block_elements=200)
    expected = evaluate_distance_matrix(reference_rerank(qf, gf, 8, 3, 0.3), q_ids, g_ids, q_cams, g_cams)
    assert result.mAP == pytest.approx(expected.mAP, abs=1e-9)
    np.testing.assert_allclose(result.cmc, expected.cmc)
    assert result.summary()["rerank"] == {"k1": 8, "k2": 3, "lambda_value": 0.3}


def test_stable_top_k_equals_stable_argsort_with_ties():
    rng = np.random.default_rng(7)
    block = rng.integers(0, 4, size=(30, 25)).astype(np.float32)  # many ties, also across the cut
    for k in (1, 3, 8, 25):
        np.testing.assert_array_equal(stable_top_k(block, k), np.argsort(block, axis=1, kind="stable")[:, :k])


def test_bad_rerank_config():
    with pytest.raises(ValueError, match="k1 >= 1"):
        RerankConfig(k1=0)
    with pytest.raises(ValueError, match="lambda"):
        RerankConfig(lambda_value=1.5)
