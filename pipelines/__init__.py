"""Pipelines: the work that composes rendering (synth), training (train) and evaluation (eval), above all
three. Each is what one CLI command or the demo runs (docs/ARCHITECTURE.md):

- pipelines.demo: `cli.py demo`, every stage on small built-in defaults (DemoConfig, run_demo)
- pipelines.reid: ReID training, feature extraction and evaluate-a-model, with missing pose sidecars made first
- pipelines.pose_accuracy: `cli.py evaluate-pose`, PCK of a trained pose network (evaluate_pose)
- pipelines.pose_sidecars: missing `<shard>.pose.h5` sidecars written with a pose network
- pipelines.search: `cli.py search`, rank a gallery for your own query images
"""
