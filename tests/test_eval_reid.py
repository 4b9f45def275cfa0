"""ReID metrics against a slow, obviously-correct reference on small random cases."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from eval.distance import pairwise_distances
from eval.reid_metrics import evaluate_distance_matrix, evaluate_reid


def reference_metrics(distmat, q_ids, g_ids, q_cams, g_cams, max_rank, rank_k, denominator="all"):
    """The Market-1501 protocol written out one query at a time, straight from its definition."""
    aps, aps_k, inps, cmc_hits, skipped = [], [], [], [], 0
    for q in range(distmat.shape[0]):
        keep = [g for g in range(distmat.shape[1]) if not (g_ids[g] == q_ids[q] and g_cams[g] == q_cams[q])]
        ranked = sorted(keep, key=lambda g: (distmat[q, g], g))  # ties: lower gallery index first
        relevant = [g_ids[g] == q_ids[q] for g in ranked]
        num_rel = sum(relevant)
        if num_rel == 0:
            skipped += 1
            continue
        precisions, found = [], 0
        for position, is_rel in enumerate(relevant, start=1):
            if is_rel:
                found += 1
                precisions.append(found / position)
        aps.append(sum(precisions) / num_rel)
        top_precisions, found = [], 0
        for position, is_rel in enumerate(relevant[:rank_k], start=1):
            if is_rel:
                found += 1
                top_precisions.append(found / position)
        aps_k.append(sum(top_precisions) / (num_rel if denominator == "all" else min(num_rel, rank_k)))
        last = max(i for i, r in enumerate(relevant) if r) + 1
        inps.append(num_rel / last)
        first = relevant.index(True)
        cmc_hits.append([first < k for k in range(1, max_rank + 1)])
    return {
        "mAP": np.mean(aps),
        "mAP_at_k": np.mean(aps_k),
        "mINP": np.mean(inps),
        "cmc": np.mean(np.array(cmc_hits, dtype=float), axis=0),
        "skipped": skipped,
        "ap": aps,
    }


def random_case(rng, num_q=25, num_g=70, num_ids=9, num_cams=3, dim=6, quantise=False):
    q_ids = rng.integers(0, num_ids, num_q)
    g_ids = rng.integers(0, num_ids - 2, num_g)  # ids num_ids-2 and num_ids-1 never appear in the gallery
    q_cams = rng.integers(0, num_cams, num_q)
    g_cams = rng.integers(0, num_cams, num_g)
    centres = rng.normal(size=(num_ids, dim))
    qf = centres[q_ids] + rng.normal(scale=0.9, size=(num_q, dim))
    gf = centres[g_ids] + rng.normal(scale=0.9, size=(num_g, dim))
    if quantise:  # few distinct feature values: many exactly equal distances
        qf, gf = np.round(qf), np.round(gf)
    return qf.astype(np.float32), gf.astype(np.float32), q_ids, g_ids, q_cams, g_cams


def assert_matches_reference(result, ref):
    assert result.num_skipped == ref["skipped"]
    np.testing.assert_allclose(result.mAP, ref["mAP"], rtol=1e-12)
    np.testing.assert_allclose(result.mAP_at_k, ref["mAP_at_k"], rtol=1e-12)
    np.testing.assert_allclose(result.mINP, ref["mINP"], rtol=1e-12)
    np.testing.assert_allclose(result.cmc, ref["cmc"], rtol=1e-12)
    np.testing.assert_allclose(result.ap[~np.isnan(result.ap)], ref["ap"], rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("quantise", [False, True])
def test_metrics_match_reference(seed, quantise):
    rng = np.random.default_rng(seed)
    qf, gf, q_ids, g_ids, q_cams, g_cams = random_case(rng, quantise=quantise)
    distmat = pairwise_distances(qf, gf)
    if quantise:
        assert len(np.unique(distmat)) < distmat.size / 2, "the tie case should have many equal distances"
    ref = reference_metrics(distmat, q_ids, g_ids, q_cams, g_cams, max_rank=50, rank_k=7)
    assert ref["skipped"] > 0, "identities missing from the gallery must give skipped queries"
    # Tiny blocks: many blocks, each scored separately.
    result = evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, max_rank=50, rank_k=7, block_elements=150)
    assert_matches_reference(result, ref)
    result = evaluate_distance_matrix(distmat, q_ids, g_ids, q_cams, g_cams, max_rank=50, rank_k=7)
    assert_matches_reference(result, ref)


def test_rank_k_min_denominator_matches_reference():
    rng = np.random.default_rng(11)
    qf, gf, q_ids, g_ids, q_cams, g_cams = random_case(rng, num_g=90, num_ids=6)
    distmat = pairwise_distances(qf, gf)
    ref = reference_metrics(distmat, q_ids, g_ids, q_cams, g_cams, max_rank=20, rank_k=5, denominator="min")
    result = evaluate_distance_matrix(distmat, q_ids, g_ids, q_cams, g_cams, max_rank=20, rank_k=5,
                                      rank_k_denominator="min")
    np.testing.assert_allclose(result.mAP_at_k, ref["mAP_at_k"], rtol=1e-12)


def test_query_whose_only_matches_share_its_camera_is_skipped():
    # Query 0 (id 1, camera 0): its only same-id gallery items are on camera 0, so it is skipped even though a
    # same-id item is the nearest. Query 1 (id 2, camera 0) has a match on camera 1.
    gallery_ids = np.array([1, 1, 2, 3, 2])
    gallery_cams = np.array([0, 0, 1, 1, 0])
    distmat = np.array([[0.1, 0.2, 0.5, 0.4, 0.3], [0.9, 0.8, 0.6, 0.2, 0.1]])
    result = evaluate_distance_matrix(distmat, [1, 2], gallery_ids, [0, 0], gallery_cams, max_rank=5)
    assert result.num_skipped == 1 and result.skipped.tolist() == [0]
    # Query 1 after junk removal (gallery 4 is junk): ranking 3 (id 3), 2 (id 2), 1, 0 -> first hit at rank 2.
    assert result.first_hit.tolist() == [-1, 1]
    assert result.mAP == pytest.approx(1 / 2)
    assert result.cmc.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert result.mINP == pytest.approx(1 / 2)


def test_hand_computed_ap():
    # True matches at ranks 1 and 3 of 4: AP = (1/1 + 2/3) / 2, rank-2 mAP = (1/1) / 2, INP = 2/3.
    distmat = np.array([[0.1, 0.2, 0.3, 0.4]])
    result = evaluate_distance_matrix(distmat, [5], [5, 6, 5, 7], [0], [1, 1, 1, 1], max_rank=4, rank_k=2)
    assert result.mAP == pytest.approx((1 + 2 / 3) / 2)
    assert result.mAP_at_k == pytest.approx(0.5)
    assert result.mINP == pytest.approx(2 / 3)
    assert result.cmc.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_ties_are_broken_by_gallery_index():
    # All distances equal: the ranking is the gallery order, so the true match at index 2 ranks third.
    result = evaluate_distance_matrix(np.zeros((1, 4)), [1], [0, 0, 1, 0], [0], [1, 1, 1, 1], max_rank=4)
    assert result.first_hit.tolist() == [2]
    assert result.mAP == pytest.approx(1 / 3)


def test_cosine_distance_and_cosine_metrics():
    rng = np.random.default_rng(3)
    qf, gf, q_ids, g_ids, q_cams, g_cams = random_case(rng)
    np.testing.assert_allclose(pairwise_distances(qf, gf, "cosine"), cdist(qf, gf, "cosine"), atol=1e-5)
    np.testing.assert_allclose(pairwise_distances(qf, gf, "euclidean"), cdist(qf, gf), atol=1e-4)
    ref = reference_metrics(cdist(qf, gf, "cosine"), q_ids, g_ids, q_cams, g_cams, max_rank=10, rank_k=100)
    result = evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, metric="cosine", max_rank=10)
    np.testing.assert_allclose(result.mAP, ref["mAP"], rtol=1e-9)
    np.testing.assert_allclose(result.cmc, ref["cmc"], rtol=1e-9)


def test_keep_top_lists_ranked_gallery_without_junk():
    rng = np.random.default_rng(4)
    qf, gf, q_ids, g_ids, q_cams, g_cams = random_case(rng)
    distmat = pairwise_distances(qf, gf)
    result = evaluate_reid(qf, gf, q_ids, g_ids, q_cams, g_cams, keep_top=5, block_elements=200)
    for q in range(len(qf)):
        keep = [g for g in range(len(gf)) if not (g_ids[g] == q_ids[q] and g_cams[g] == q_cams[q])]
        expected = sorted(keep, key=lambda g: (distmat[q, g], g))[:5]
        assert result.top_indices[q].tolist() == expected


def test_clustered_features_score_perfectly():
    ids = np.repeat(np.arange(5), 4)
    cams = np.tile(np.arange(4), 5)
    feats = np.eye(8, dtype=np.float32)[ids] * 10 + np.random.default_rng(0).normal(scale=0.01, size=(20, 8))
    result = evaluate_reid(feats[::4], feats, ids[::4], ids, cams[::4], cams)
    assert result.mAP == pytest.approx(1.0) and result.rank(1) == 1.0 and result.mINP == pytest.approx(1.0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(query_features=a["query_features"][:0], query_ids=a["query_ids"][:0],
                            query_cams=a["query_cams"][:0]), "empty"),
        (lambda a: a.update(query_ids=a["query_ids"][:-1]), "query_ids has 3 entries but query_features has 4"),
        (lambda a: a.update(gallery_cams=a["gallery_cams"][:-2]), "gallery_cams has"),
        (lambda a: a["gallery_features"].__setitem__((2, 1), np.nan), "NaN"),
        (lambda a: a.update(gallery_features=a["gallery_features"][:, :3]), "query features are 4-d"),
        (lambda a: a.update(metric="manhattan"), "unknown distance metric"),
        (lambda a: a.update(gallery_ids=np.array([9, 9, 9, 9, 9, 9])), "no query has a true match"),
    ],
)
def test_bad_input_gives_clear_error(change, message):
    rng = np.random.default_rng(0)
    args = dict(
        query_features=rng.normal(size=(4, 4)).astype(np.float32),
        gallery_features=rng.normal(size=(6, 4)).astype(np.float32),
        query_ids=np.array([0, 1, 2, 0]), gallery_ids=np.array([0, 1, 2, 0, 1, 2]),
        query_cams=np.zeros(4, int), gallery_cams=np.ones(6, int),
    )
    change(args)
    with pytest.raises(ValueError, match=message):
        evaluate_reid(**args)


def test_bad_distance_matrix():
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate_distance_matrix(np.array([[0.1, np.nan]]), [1], [1, 2], [0], [1, 1])
    with pytest.raises(ValueError, match="rows"):
        evaluate_distance_matrix(np.zeros((2, 3)), [1], [1, 2, 3], [0], [1, 1, 1])
