"""Measuring: ReID retrieval metrics, re-ranking, attribute accuracy, pose PCK (numpy/scipy only, arrays in,
numbers out), and the reports and CLI glue around them. See docs/EVALUATION.md.

- eval.reid_metrics: evaluate_reid, evaluate_distance_matrix, evaluate_blocks, ReidMetrics
- eval.reranking: RerankConfig, rerank_blocks, rerank_distances
- eval.attributes: attribute_accuracy, AttributeResult
- eval.pose_metrics: pck, PoseResult, format_pck_table, pose_examples
- eval.features: FeatureSet (the .npz feature file)
- eval.reports: tables, CMC / confusion plots, ranked-gallery and keypoint pictures (matplotlib, Agg)
- eval.evaluate: what `cli.py evaluate-reid` runs
"""
