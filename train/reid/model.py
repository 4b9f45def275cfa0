"""The PAMTRI multi-task ReID network (docs/REID.md).

    image (3 + E channels) -> backbone -> global average pool -> [concat 108 keypoint values]
        -> fc 1024 + LeakyReLU -> ReID feature -> identity classifier
                                 (bnneck: -> BatchNorm1d -> retrieval feature -> identity classifier; the
                                  triplet loss takes the feature before the neck)
        -> fc 512  + LeakyReLU -> colour classifier          (multi-task only)
        -> fc 512  + LeakyReLU -> type classifier            (multi-task only)

E is 0 (RGB), 36 (heatmaps) or 13 (segments). The backbone's first convolution is widened for the extra
channels: the RGB filters are copied unchanged and the new input channels get random normal (std 0.02)
weights, so an ImageNet backbone starts out computing exactly what it computed on RGB plus a small
perturbation.

Backbones: `densenet121` (torchvision, the paper's), `densenet_tiny` (the same torchvision DenseNet class with
a few small blocks, for CPU tests) and any timm model by name (`resnet18`, `timm:efficientnet_b0`, ...).
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from synth.vocabulary import NUM_COLORS, NUM_KEYPOINTS, NUM_SEGMENTS, NUM_TYPES
from train.pose.model import _cached_imagenet_weights, _read_weights

log = logging.getLogger(__name__)

EXTRA_CHANNELS = {"rgb": 0, "heatmaps": NUM_KEYPOINTS, "segments": NUM_SEGMENTS}
CHANNEL_MEAN, CHANNEL_STD = 0.449, 0.226  # docs/REID.md: normalisation of the heatmap / segment channels
KEYPOINT_VALUES = NUM_KEYPOINTS * 3
NEW_CHANNEL_STD = 0.02
TORCHVISION_DENSENET121_FILE = "densenet121-a639ec97.pth"  # torchvision's ImageNet weights, in torch hub's cache


@dataclass(frozen=True)
class ReidArch:
    """Everything that fixes the shape of the network's parameters: a checkpoint only loads into the same."""

    backbone: str = "densenet121"
    inputs: str = "rgb"  # rgb | heatmaps | segments
    keypoints: bool = False
    multitask: bool = False
    num_identities: int = 0
    feature_dim: int = 1024
    attribute_dim: int = 512
    bnneck: bool = False

    def __post_init__(self):
        if self.inputs not in EXTRA_CHANNELS:
            raise ValueError(f"inputs must be one of {sorted(EXTRA_CHANNELS)}, got {self.inputs!r}")

    @property
    def in_channels(self) -> int:
        return 3 + EXTRA_CHANNELS[self.inputs]

    def signature(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if not self.bnneck:  # checkpoints from before the option existed stay loadable
            del out["bnneck"]
        return out


# --- widening the first convolution ------------------------------------------------------------------------


def widen_conv(conv: nn.Conv2d, extra: int, std: float = NEW_CHANNEL_STD, generator=None) -> nn.Conv2d:
    """A copy of `conv` taking `extra` more input channels: the existing filters are kept exactly, the
    weights of the new input channels are drawn from N(0, std)."""
    if extra == 0:
        return conv
    if conv.groups != 1:
        raise ValueError("cannot widen a grouped first convolution")
    wide = nn.Conv2d(
        conv.in_channels + extra, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        conv.dilation, 1, conv.bias is not None, conv.padding_mode,
        device=conv.weight.device, dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        wide.weight[:, : conv.in_channels] = conv.weight
        new = torch.empty_like(wide.weight[:, conv.in_channels:])
        new.normal_(0.0, std, generator=generator)
        wide.weight[:, conv.in_channels:] = new
        if conv.bias is not None:
            wide.bias.copy_(conv.bias)
    return wide


def first_conv_name(model: nn.Module) -> str:
    """The name of the module that sees the RGB input: timm's `first_conv` when it declares one, else the
    first Conv2d with 3 input channels in registration order."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    name = cfg.get("first_conv")
    if isinstance(name, str):
        try:
            if isinstance(model.get_submodule(name), nn.Conv2d):
                return name
        except AttributeError:
            pass
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            return name
    raise ValueError(f"{type(model).__name__}: no Conv2d with 3 input channels to widen")


def widen_first_conv(model: nn.Module, extra: int, std: float = NEW_CHANNEL_STD) -> str:
    """Replace the model's first convolution, in place, with a widened copy; returns its name."""
    name = first_conv_name(model)
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, widen_conv(getattr(parent, leaf), extra, std))
    return name


# --- backbones ---------------------------------------------------------------------------------------------


class TorchvisionDenseNet(nn.Module):
    """torchvision's DenseNet features with the classifier's ReLU + global average pool."""

    def __init__(self, densenet: nn.Module):
        super().__init__()
        self.features = densenet.features
        self.num_features = densenet.classifier.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x), inplace=True)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def _imagenet_densenet121(weights_path: str | Path | None) -> tuple[dict, Path] | None:
    """ImageNet weights for DenseNet121 from `weights_path` or torch hub's cache, or None when absent
    (no download: the toolkit must run offline)."""
    candidates = [Path(weights_path)] if weights_path else []
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_DENSENET121_FILE)
    for path in candidates:
        if path.exists():
            state = torch.load(path, map_location="cpu", weights_only=True)
            # torchvision's old checkpoints name layers "norm.1"; its own loader renames them like this.
            pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")
            fixed = {}
            for key, value in state.items():
                match = pattern.match(key)
                fixed[match.group(1) + match.group(2) if match else key] = value
            log.info("DenseNet121: ImageNet weights from %s", path)
            return fixed, path
    if weights_path:
        raise FileNotFoundError(f"{weights_path}: pretrained weights file not found")
    log.warning("DenseNet121: no ImageNet weights in %s; random initialisation", candidates[-1].parent)
    return None


_HUB_STATE: dict = {}  # "reachable": False once the hub failed in this process: no second 54 s of retries


def hub_offline() -> bool:
    """True when the Hugging Face hub must not be tried: HF_HUB_OFFLINE is set, an earlier try failed in this
    process, or its host does not answer within 3 s (a download would otherwise spend about a minute in
    retries before giving up)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    if "reachable" not in _HUB_STATE:
        import socket

        try:
            socket.create_connection(("huggingface.co", 443), timeout=3).close()
            _HUB_STATE["reachable"] = True
        except OSError:
            _HUB_STATE["reachable"] = False
    return not _HUB_STATE["reachable"]


def _timm_backbone(name: str, timm_name: str, pretrained: bool, weights_path) -> nn.Module:
    """A timm backbone; ImageNet weights from `weights_path`, else the local caches, else the hub (when it
    can be reached). `net.weights_source` says which."""
    import timm

    try:
        net = timm.create_model(timm_name, pretrained=False, num_classes=0, global_pool="avg")
    except RuntimeError as exc:  # unknown model names raise RuntimeError in timm
        raise ValueError(f"unknown backbone {name!r}: not densenet121/densenet_tiny nor a timm model ({exc})") from None
    source = Path(weights_path) if weights_path else (_cached_imagenet_weights(timm_name) if pretrained else None)
    if source is not None:
        if not source.is_file():
            raise FileNotFoundError(f"{source}: pretrained weights file not found")
        net.load_state_dict(_read_weights(source), strict=False)  # the classifier's tensors are not ours
        net.weights_source = {"imagenet": True, "from": str(source)}
        log.info("%s: ImageNet weights from %s", timm_name, source)
        return net
    if not pretrained:
        net.weights_source = {"imagenet": False, "from": None, "reason": "pretrained off"}
        return net
    if hub_offline():
        log.warning("%s: no ImageNet weights in the local caches and the hub is offline; random initialisation",
                    timm_name)
        net.weights_source = {"imagenet": False, "from": None, "reason": "not cached, hub offline"}
        return net
    try:
        hub = timm.create_model(timm_name, pretrained=True, num_classes=0, global_pool="avg")
    except Exception as exc:
        _HUB_STATE["reachable"] = False
        log.warning("%s: ImageNet weights unavailable (%s); random initialisation", timm_name, exc)
        net.weights_source = {"imagenet": False, "from": None, "reason": f"hub failed: {type(exc).__name__}"}
        return net
    hub.weights_source = {"imagenet": True, "from": f"hub:{(getattr(hub, 'pretrained_cfg', None) or {}).get('hf_hub_id')}"}
    log.info("%s: ImageNet weights downloaded from the hub", timm_name)
    return hub


def build_backbone(name: str, pretrained: bool = True, weights_path: str | Path | None = None) -> nn.Module:
    """A feature extractor module with `.num_features`, mapping (B, 3, H, W) to pooled (B, num_features).
    `.weights_source` records whether ImageNet weights were loaded and from where."""
    import torchvision

    if name == "densenet121":
        net = torchvision.models.densenet121(weights=None)
        found = _imagenet_densenet121(weights_path) if pretrained or weights_path else None
        if found is not None:
            net.load_state_dict(found[0])
        backbone = TorchvisionDenseNet(net)
        backbone.weights_source = {"imagenet": found is not None, "from": str(found[1]) if found else None}
        if found is None:
            backbone.weights_source["reason"] = "pretrained off" if not pretrained else "not cached (no download)"
        return backbone
    if name == "densenet_tiny":
        net = torchvision.models.DenseNet(growth_rate=16, block_config=(2, 2, 2, 2), num_init_features=32, bn_size=2)
        backbone = TorchvisionDenseNet(net)
        backbone.weights_source = {"imagenet": False, "from": None, "reason": "densenet_tiny has no ImageNet weights"}
        return backbone
    return _timm_backbone(name, name.removeprefix("timm:"), pretrained, weights_path)


# --- the network -------------------------------------------------------------------------------------------


def _head(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LeakyReLU(0.01, inplace=True))


class ReidNet(nn.Module):
    """Multi-task ReID network. `forward(images, keypoints=None)` returns a dict: `feature` (B, 1024, the
    retrieval feature), `triplet_feature` (what the triplet loss compares: the same tensor, or with `bnneck`
    the feature before the batch-norm neck), `id_logits`, and with multi-task `color_logits` (B, 10) and
    `type_logits` (B, 9)."""

    def __init__(self, arch: ReidArch, pretrained: bool = True, weights_path: str | Path | None = None):
        super().__init__()
        if arch.num_identities < 1:
            raise ValueError("ReidNet needs num_identities >= 1")
        self.arch = arch
        self.backbone = build_backbone(arch.backbone, pretrained, weights_path)
        widen_first_conv(self.backbone, EXTRA_CHANNELS[arch.inputs])
        pooled = self.backbone.num_features + (KEYPOINT_VALUES if arch.keypoints else 0)
        self.id_head = _head(pooled, arch.feature_dim)
        if arch.bnneck:
            self.neck = nn.BatchNorm1d(arch.feature_dim)
            self.neck.bias.requires_grad_(False)  # a shift would only move every identity's centre alike
        self.id_classifier = nn.Linear(arch.feature_dim, arch.num_identities, bias=not arch.bnneck)
        if arch.multitask:
            self.color_head = _head(pooled, arch.attribute_dim)
            self.color_classifier = nn.Linear(arch.attribute_dim, NUM_COLORS)
            self.type_head = _head(pooled, arch.attribute_dim)
            self.type_classifier = nn.Linear(arch.attribute_dim, NUM_TYPES)

    def forward(
        self,
        images: torch.Tensor,
        keypoints: torch.Tensor | None = None,
        channels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """`images` (B, 3, H, W) normalised RGB, or (B, 3 + E, H, W) already stacked and normalised;
        `channels` (B, E, h, w) heatmaps or segments in [0, 1] registered to the image at any resolution:
        they are upsampled here (on the device, bilinear, pixel-centre aligned) and normalised; `keypoints`
        (B, 108) normalised values."""
        if channels is not None:
            images = torch.cat([images, stack_channels(channels, images.shape[-2:]).to(images.dtype)], dim=1)
        if images.shape[1] != self.arch.in_channels:
            raise ValueError(f"expected {self.arch.in_channels} input channels ({self.arch.inputs}), got {images.shape[1]}")
        pooled = self.backbone(images)
        if self.arch.keypoints:
            if keypoints is None:
                raise ValueError("this network takes keypoints (arch.keypoints=True) but none were given")
            pooled = torch.cat([pooled, keypoints.flatten(1).to(pooled.dtype)], dim=1)
        feature = self.id_head(pooled)
        if self.arch.bnneck:  # the triplet loss sees the feature, the classifier and retrieval its normalised copy
            out = {"triplet_feature": feature, "feature": self.neck(feature)}
        else:
            out = {"triplet_feature": feature, "feature": feature}
        out["id_logits"] = self.id_classifier(out["feature"])
        if self.arch.multitask:
            out["color_logits"] = self.color_classifier(self.color_head(pooled))
            out["type_logits"] = self.type_classifier(self.type_head(pooled))
        return out


def stack_channels(channels: torch.Tensor, size) -> torch.Tensor:
    """Heatmap / segment maps in [0, 1] at any grid registered to the image -> normalised input channels at
    the image's size. Done on the device: the loaders ship the small grids (64 x 64), not 256 x 256 ones."""
    channels = channels.float()
    if tuple(channels.shape[-2:]) != tuple(size):
        channels = F.interpolate(channels, size=tuple(size), mode="bilinear", align_corners=False)
    return (channels - CHANNEL_MEAN) / CHANNEL_STD
