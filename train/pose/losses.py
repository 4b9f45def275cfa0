"""Pose loss: HRNet's visibility-weighted heatmap MSE (docs/POSE.md)."""
from __future__ import annotations

import torch


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """0.5 x mean squared error over (B, 36, h, w), each keypoint's map weighted by `weight` (B, 36):
    unlabelled (and, unless asked, occluded) keypoints contribute nothing."""
    w = weight[:, :, None, None].to(pred.dtype)
    return 0.5 * ((pred.float() - target.float()) ** 2 * w).mean()
