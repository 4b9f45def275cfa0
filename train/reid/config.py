"""The ReID training config: every configuration of the paper is a switch here (docs/REID.md).

    inputs      rgb | heatmaps (H) | segments (S)
    keypoints   K: the 108 keypoint values concatenated after pooling
    multitask   MT: colour and type heads
    loss        xent | htri | xent+htri
    data        R (real only), S (synthetic only), RS (mixed): decided by the dataset directories given

`run_name(config, data_tag)` spells a run the way the paper's tables do, e.g. "RS+MT+K+H_xent+htri".
"""
from __future__ import annotations

from dataclasses import dataclass, field

from synth.config import Config
from train.reid.losses import LOSS_CHOICES
from train.reid.model import EXTRA_CHANNELS, ReidArch

# Manifest `source` values that mean rendered (synthetic) data; anything else counts as real.
SYNTHETIC_SOURCES = ("synthetic", "toy", "blender")


@dataclass
class ReidConfig(Config):
    # filled in by train_reid, so the saved config says what the run is and what it was trained on
    name: str = ""
    data_dirs: list[str] = field(default_factory=list)
    num_identities: int = 0
    # model
    backbone: str = "densenet121"
    pretrained: bool = True  # ImageNet weights when found locally (torch hub cache or weights_path)
    weights_path: str | None = None
    inputs: str = "rgb"
    keypoints: bool = False
    multitask: bool = False
    feature_dim: int = 1024
    attribute_dim: int = 512
    bnneck: bool = False  # batch-norm neck (Luo et al. 2019): lets xent learn beside htri without ImageNet
    image_size: tuple[int, int] = (256, 256)  # height, width
    channel_size: tuple[int, int] = (64, 64)  # grid the loaders ship heatmaps/segments on (upsampled on the device)
    # losses
    loss: str = "xent+htri"
    id_weight: float = 1.0
    triplet_weight: float = 1.0
    color_weight: float = 0.125
    type_weight: float = 0.125
    margin: float = 0.3
    label_smoothing: float = 0.0
    # data
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    p: int = 8  # identities per batch
    k: int = 4  # images per identity
    workers: int = 4
    pose_model: str | None = None  # pose run dir used to write missing sidecars before training
    # augmentation
    crop_scale: float = 1.125  # random resize-crop: enlarge by this factor, crop back to image_size
    crop_prob: float = 0.5
    flip_prob: float = 0.5
    erase_prob: float = 0.5  # random occlusion (random erasing on the RGB channels)
    # optimisation
    lr: float = 3e-4
    weight_decay: float = 5e-4
    epochs: int = 60
    milestones: list[int] = field(default_factory=lambda: [20, 40])
    gamma: float = 0.1
    amp: bool = True  # CUDA only
    seed: int = 0
    device: str = "auto"
    # validation (query/gallery retrieval on held-out identities)
    val_splits: list[str] = field(default_factory=lambda: ["val", "query", "gallery"])
    val_every: int = 5  # epochs; 0 = never
    eval_batch_size: int = 64
    max_steps_per_epoch: int = 0  # 0 = a full P x K epoch; a cap for smoke runs and benchmarks

    def __post_init__(self):
        if self.inputs not in EXTRA_CHANNELS:
            raise ValueError(f"inputs must be one of {sorted(EXTRA_CHANNELS)}, got {self.inputs!r}")
        if self.loss not in LOSS_CHOICES:
            raise ValueError(f"loss must be one of {LOSS_CHOICES}, got {self.loss!r}")
        if self.p < 2 and "htri" in self.loss:
            raise ValueError("the triplet loss needs P >= 2 identities per batch")

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def arch(self, num_identities: int) -> ReidArch:
        return ReidArch(
            backbone=self.backbone, inputs=self.inputs, keypoints=self.keypoints, multitask=self.multitask,
            num_identities=num_identities, feature_dim=self.feature_dim, attribute_dim=self.attribute_dim,
            bnneck=self.bnneck,
        )

    def pose_fields(self) -> tuple[str, ...]:
        """The pose sidecar fields this configuration reads: keypoints for K, heatmaps or segments for H or S (a
        keypoints-only sidecar, as the importers write from PAMTRI CSVs, serves RGB+K training)."""
        fields = ("keypoints",) if self.keypoints else ()
        return fields + ((self.inputs,) if self.inputs != "rgb" else ())

    def needs_pose(self) -> bool:
        return bool(self.pose_fields())


def data_tag(sources: list[str]) -> str:
    """R, S or RS from the manifests' `source` fields."""
    synthetic = [s in SYNTHETIC_SOURCES for s in sources]
    if all(synthetic):
        return "S"
    return "RS" if any(synthetic) else "R"


def run_name(config: ReidConfig, tag: str) -> str:
    parts = [tag]
    if config.multitask:
        parts.append("MT")
    if config.keypoints:
        parts.append("K")
    if config.inputs != "rgb":
        parts.append({"heatmaps": "H", "segments": "S"}[config.inputs])
    return "+".join(parts) + f"_{config.loss}"
