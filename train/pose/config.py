"""Typed configuration of a pose run. Defaults follow the paper (docs/POSE.md); `tiny()` is the CPU/test variant
of the same code."""
from __future__ import annotations

from dataclasses import dataclass, field

from synth.config import Config


@dataclass
class PoseModelConfig(Config):
    backbone: str = "hrnet_w32"  # any timm HRNet; hrnet_w18_small for CPU runs and tests
    input_size: int = 256  # square network input; heatmaps are input_size / 4
    pretrained: str | None = None  # a weights file (--pretrained PATH); None: timm's cache when present


@dataclass
class PoseAugmentConfig(Config):
    scale: float = 0.35  # box scale factor ~ clip(1 + N(0, scale), 1 - scale, 1 + scale) (HRNet's default)
    rotation: float = 45.0  # degrees ~ clip(N(0, rotation), -2 rotation, 2 rotation) ...
    rotation_prob: float = 0.6  # ... applied with this probability
    shift: float = 0.05  # box centre jitter, fraction of the box size
    flip: float = 0.5
    color: float = 0.25  # brightness/contrast/saturation jitter amplitude (0 disables)
    hue: float = 0.02
    occlusion: float = 0.3  # probability of a random-erasing rectangle
    occlusion_area: tuple[float, float] = (0.02, 0.15)


VISIBILITY_SOURCES = ("geometric", "annotator")


@dataclass
class PoseConfig(Config):
    data: list[str] = field(default_factory=list)  # dataset directories (synthetic and real)
    weights: list[float] = field(default_factory=list)  # per-dataset sampling weights; empty = by size
    train_split: str = "train"
    val_split: str = "val"  # used where a dataset has it; otherwise val_fraction of train is held out
    val_fraction: float = 0.05
    val_max: int = 2000  # validation samples per epoch at most (a fixed, seeded subset)
    samples_per_epoch: int = 0  # 0: the size of the training set
    model: PoseModelConfig = field(default_factory=PoseModelConfig)
    augment: PoseAugmentConfig = field(default_factory=PoseAugmentConfig)
    padding: float = 1.25  # the crop is the whole image grown to a square and by this factor
    sigma: float = 2.0  # Gaussian target, heatmap pixels
    train_occluded: bool = False  # also train on occluded (code 1) keypoints whose position is known
    # Which visibility codes weight the loss and count in PCK: "geometric" (the stored `keypoints` codes, what is
    # actually seen) or "annotator" (`annotator_visibility` where a dataset has it: VeRi's marking habits,
    # synth/annotation.py; real datasets' own codes are annotators' marks already, so they are used as they are).
    visibility: str = "geometric"
    epochs: int = 210
    milestones: tuple[int, ...] = (170, 200)
    lr: float = 1e-3
    lr_factor: float = 0.1
    batch_size: int = 32  # per process
    workers: int = 4
    flip_test: bool = True
    amp: bool = True
    seed: int = 0
    device: str = "auto"

    @classmethod
    def tiny(cls, **changes) -> "PoseConfig":
        """The CPU/test configuration: small HRNet, 64 px input, short schedule."""
        base = cls(
            model=PoseModelConfig(backbone="hrnet_w18_small", input_size=64),
            epochs=30, milestones=(25,), batch_size=8, workers=0, val_max=64,
        )
        return base.replace(**changes)
