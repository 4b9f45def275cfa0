"""ReID losses (docs/REID.md): identity cross-entropy (label smoothing optional), batch-hard triplet, and the
attribute cross-entropies of the multi-task heads, combined with the configured weights."""
from __future__ import annotations

import torch
from torch.nn import functional as F

LOSS_CHOICES = ("xent", "htri", "xent+htri")


def batch_hard_triplet_loss(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Mean over anchors of max(0, margin + hardest positive distance - hardest negative distance), with
    Euclidean distances. Anchors with no positive or no negative in the batch are left out."""
    features = features.float()
    dist = torch.cdist(features, features).clamp_min(1e-12)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    valid = positive.any(1) & negative.any(1)
    if not valid.any():
        return features.sum() * 0.0
    hardest_pos = dist.masked_fill(~positive, float("-inf")).amax(1)
    hardest_neg = dist.masked_fill(~negative, float("inf")).amin(1)
    return F.relu(margin + hardest_pos - hardest_neg)[valid].mean()


def attribute_targets(ids: torch.Tensor) -> torch.Tensor:
    """VeRi attribute ids (1-based, 0 unknown) to class indices (0-based, -1 ignored)."""
    return ids.long() - 1


class ReidLoss:
    """Callable on (network outputs, batch) -> (total loss, {component: value}).

    `loss` picks identity terms: "xent", "htri" or "xent+htri". Colour and type terms enter when the
    outputs hold their logits (multi-task). Samples with unknown colour/type (id 0) do not count.
    """

    def __init__(
        self,
        loss: str = "xent+htri",
        id_weight: float = 1.0,
        triplet_weight: float = 1.0,
        color_weight: float = 0.125,
        type_weight: float = 0.125,
        margin: float = 0.3,
        label_smoothing: float = 0.0,
    ):
        if loss not in LOSS_CHOICES:
            raise ValueError(f"loss must be one of {LOSS_CHOICES}, got {loss!r}")
        self.use_xent = "xent" in loss
        self.use_htri = "htri" in loss
        self.id_weight, self.triplet_weight = id_weight, triplet_weight
        self.color_weight, self.type_weight = color_weight, type_weight
        self.margin, self.label_smoothing = margin, label_smoothing

    def _attribute(self, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        target = attribute_targets(ids)
        if not (target >= 0).any():
            return logits.float().sum() * 0.0
        return F.cross_entropy(logits.float(), target, ignore_index=-1)

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]):
        parts: dict[str, torch.Tensor] = {}
        total = outputs["feature"].float().sum() * 0.0
        if self.use_xent:
            parts["xent"] = F.cross_entropy(outputs["id_logits"].float(), batch["pid"], label_smoothing=self.label_smoothing)
            total = total + self.id_weight * parts["xent"]
        if self.use_htri:
            triplet_feature = outputs.get("triplet_feature", outputs["feature"])
            parts["htri"] = batch_hard_triplet_loss(triplet_feature, batch["pid"], self.margin)
            total = total + self.triplet_weight * parts["htri"]
        if "color_logits" in outputs:
            parts["color"] = self._attribute(outputs["color_logits"], batch["color_id"])
            total = total + self.color_weight * parts["color"]
        if "type_logits" in outputs:
            parts["type"] = self._attribute(outputs["type_logits"], batch["type_id"])
            total = total + self.type_weight * parts["type"]
        return total, {k: float(v.detach()) for k, v in parts.items()}
