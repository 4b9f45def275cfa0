"""Pose network: a timm HRNet's stride-4 high-resolution branch and a 1x1 convolution to 36 heatmaps.

This is the SimpleBaseline/HRNet pose head (the "final layer" of HRNet pose models) on timm's backbone, so any
timm HRNet width works through the same code: hrnet_w32 for the paper, hrnet_w18_small for CPU runs and tests.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from synth.vocabulary import NUM_KEYPOINTS
from train.pose.config import PoseModelConfig

log = logging.getLogger(__name__)
ARCH_NAME = "pose_hrnet"
STRIDE = 4


def architecture(config: PoseModelConfig) -> dict:
    """The options that define the network (the checkpoint signature's `arch`)."""
    return {"backbone": config.backbone, "num_keypoints": NUM_KEYPOINTS, "stride": STRIDE}


class PoseHRNet(nn.Module):
    def __init__(self, backbone: str = "hrnet_w32", num_keypoints: int = NUM_KEYPOINTS):
        super().__init__()
        import timm

        if not backbone.startswith("hrnet"):
            raise ValueError(f"pose backbone must be a timm HRNet (hrnet_w18_small ... hrnet_w64), got {backbone!r}")
        # feature_location='' gives the raw branch outputs (not the classification "incre" modules);
        # index 1 is the stride-4 high-resolution branch (index 0 is the stride-2 stem).
        self.backbone = timm.create_model(backbone, pretrained=False, features_only=True, feature_location="",
                                          out_indices=(1,))
        reduction = self.backbone.feature_info.reduction()[0]
        if reduction != STRIDE:
            raise ValueError(f"{backbone}: feature index 1 has stride {reduction}, expected {STRIDE}")
        channels = self.backbone.feature_info.channels()[0]
        self.head = nn.Conv2d(channels, num_keypoints, kernel_size=1)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, 36, H/4, W/4) heatmaps."""
        return self.head(self.backbone(images)[0])


def _cached_imagenet_weights(backbone: str) -> Path | None:
    """timm's ImageNet weights for `backbone` when they are already in the local Hugging Face or torch hub
    cache (nothing is downloaded)."""
    try:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(backbone)
    except Exception:
        return None
    if cfg is None:
        return None
    if getattr(cfg, "hf_hub_id", None):
        try:
            from huggingface_hub import try_to_load_from_cache

            for filename in ("model.safetensors", "pytorch_model.bin"):
                found = try_to_load_from_cache(cfg.hf_hub_id, filename)
                if isinstance(found, str) and os.path.isfile(found):
                    return Path(found)
        except Exception:
            pass
    if getattr(cfg, "url", None):
        hub = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if hub.is_file():
            return hub
    return None


def _read_weights(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict")
    return state


def load_backbone_weights(model: PoseHRNet, path: str | Path) -> int:
    """Load ImageNet (classification) weights into the backbone, keeping the tensors whose names and
    shapes match; returns how many were loaded. Raises ValueError when none match (wrong file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found")
    try:
        state = _read_weights(path)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot read pretrained weights: {type(exc).__name__}: {exc}") from None
    own = model.backbone.state_dict()
    matched = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matched:
        raise ValueError(f"{path}: no tensor matches the {type(model.backbone).__name__} backbone (wrong weights file?)")
    model.backbone.load_state_dict(matched, strict=False)
    return len(matched)


def build_pose_model(config: PoseModelConfig, load_pretrained: bool = True, say=print) -> PoseHRNet:
    """The pose network; with `load_pretrained`, ImageNet weights from `config.pretrained` or timm's cache,
    else it says it trains from scratch."""
    model = PoseHRNet(config.backbone)
    if not load_pretrained:
        model.weights_source = {"imagenet": None, "reason": "weights come from the run's checkpoint"}
        return model
    source = Path(config.pretrained) if config.pretrained else _cached_imagenet_weights(config.backbone)
    if source is None:
        say(f"no ImageNet weights for {config.backbone} (none in timm's cache, no --pretrained): training from scratch")
        model.weights_source = {"imagenet": False, "from": None, "reason": "not cached (no download)"}
        return model
    count = load_backbone_weights(model, source)
    say(f"loaded {count}/{len(model.backbone.state_dict())} backbone tensors from {source}")
    model.weights_source = {"imagenet": True, "from": str(source), "tensors": count}
    return model
