"""Colour and type accuracy (docs/EVALUATION.md): predicted vs ground-truth VeRi ids, overall, per class, and the
confusion matrix. numpy only.

Ids follow synth.vocabulary: 1-based classes, 0 = unknown. Samples whose ground truth is unknown are not
scored (their number is reported); a prediction of 0 counts as wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.vocabulary import COLOR_NAMES, TYPE_NAMES


@dataclass
class AttributeResult:
    attribute: str
    names: tuple[str, ...]  # names[i] for id i; names[0] is "unknown"
    accuracy: float  # over scored samples; NaN when none
    num_scored: int
    num_unknown: int  # samples with unknown ground truth, not scored
    confusion: np.ndarray  # (C+1, C+1) counts, rows = ground truth id, columns = predicted id

    @property
    def per_class(self) -> dict[str, dict]:
        """Per ground-truth class: accuracy (recall) and number of samples, for classes that occur."""
        out = {}
        for cid in range(1, len(self.names)):
            total = int(self.confusion[cid].sum())
            if total:
                out[self.names[cid]] = {"accuracy": float(self.confusion[cid, cid] / total), "count": total}
        return out

    def summary(self) -> dict:
        return {
            "accuracy": None if np.isnan(self.accuracy) else float(self.accuracy),
            "num_scored": self.num_scored,
            "num_unknown": self.num_unknown,
            "per_class": self.per_class,
            "confusion": self.confusion.tolist(),
            "names": list(self.names),
        }


def attribute_accuracy(predicted, truth, names: tuple[str, ...] | str) -> AttributeResult:
    """Accuracy of `predicted` ids against `truth` ids. `names`: "color", "type" or the id -> name tuple."""
    attribute = names if isinstance(names, str) else "attribute"
    if isinstance(names, str):
        if names not in ("color", "type"):
            raise ValueError(f"attribute must be 'color' or 'type', got {names!r}")
        names = COLOR_NAMES if names == "color" else TYPE_NAMES
    predicted = np.asarray(predicted)
    truth = np.asarray(truth)
    if predicted.shape != truth.shape or predicted.ndim != 1:
        raise ValueError(f"{attribute}: predicted {predicted.shape} and ground truth {truth.shape} must be equal-length 1-D arrays")
    num_classes = len(names)
    for label, values in (("predicted", predicted), ("ground-truth", truth)):
        if values.size and (not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{attribute}: {label} ids must be integers in 0..{num_classes - 1}")
    predicted = predicted.astype(np.int64)
    truth = truth.astype(np.int64)
    confusion = np.bincount(truth * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)
    known = truth > 0
    num_scored = int(known.sum())
    accuracy = float((predicted[known] == truth[known]).mean()) if num_scored else float("nan")
    return AttributeResult(attribute, tuple(names), accuracy, num_scored, int((~known).sum()), confusion)
