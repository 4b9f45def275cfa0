"""Vehicle pose estimation: HRNet heatmaps for the 36 keypoints (docs/POSE.md).

- `config.PoseConfig`: every setting of a run (model, data mixing, targets, augmentation, schedule).
- `model.build_pose_model(config.model)`: timm HRNet stride-4 branch + 1x1 head.
- `data.PoseDataset`, `data.MixedSampler`: crops, augmentation and Gaussian targets; dataset mixing.
- `train.train_pose(config, out_dir)`: the trainer (on train.engine).
- `predict.predict_pose(run_dir, data_dirs)`: writes `<shard>.pose.h5` sidecars.
"""
