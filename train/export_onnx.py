"""ONNX export of a trained pose or ReID network (`cli.py export onnx`), verified with onnxruntime.

Which network a run holds is read from its checkpoint. Inputs and outputs (float32; the batch axis `batch` is
dynamic, the other axes are the run's sizes), documented in docs/OWN_DATA.md:

pose (`pose_hrnet`)
    in  `image`      (B, 3, S, S)  the crop (whole image grown to a square by `padding`, train.pose.data.input_matrix),
                                   RGB / 255, ImageNet mean/std normalised; S = the run's input_size
    out `heatmaps`   (B, 36, S/4, S/4)
reid (`reid_multitask`)
    in  `image`      (B, 3, H, W)  the whole crop stretched to the run's image_size, normalised as above
    in  `channels`   (B, E, h, w)  only for H (E=36 heatmaps) / S (E=13 segments) runs: the pose sidecar's maps
                                   in [0, 1] registered to the image (h, w = the run's channel_size, 64 x 64);
                                   upsampled and normalised inside the graph
    in  `keypoints`  (B, 108)      only for K runs: x / W - 0.5, y / H - 0.5, confidence - 0.5 per keypoint
    out `feature`    (B, D)        the retrieval feature (Euclidean distance, as in training)
    out `color_logits` (B, 10), `type_logits` (B, 9)   only for multi-task runs (VeRi ids = argmax + 1)

Verification: onnxruntime (CPU) and PyTorch run the same inputs, random ones at another batch size than the
export's (so the dynamic axis is exercised) and real ones from a dataset (`data`, default: the run's own
training data when it is still there); the largest absolute difference of every output must be <= 1e-4
where the output is of magnitude <= 1 (trained heatmaps, features), and <= 1e-4 x its largest magnitude beyond
(float32 rounding grows with the values: an untrained HRNet-W32 gives heatmaps of ~5e3 on random inputs, where
onnxruntime and PyTorch differ by 4e-3, 7e-7 relative). Else nothing is written and ValueError says by how much
it differed.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from synth.vocabulary import NUM_KEYPOINTS
from train.data import ShardDataset
from train.engine import find_checkpoint, load_checkpoint
from train.pose.predict import _Crops, load_pose_model
from train.reid.data import ReidDataset
from train.reid.extract import load_reid_model
from train.reid.model import EXTRA_CHANNELS, KEYPOINT_VALUES

PARITY_TOLERANCE = 1e-4
OPSET = 17
EXPORT_BATCH = 2
CHECK_BATCH = 3
REAL_IMAGES = 8


@dataclass
class ExportReport:
    path: Path
    kind: str  # pose | reid
    inputs: dict[str, list]
    outputs: dict[str, list]
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # "random" / "real" -> worst over outputs
    output_scale: dict[str, float] = field(default_factory=dict)  # largest |output| where that worst was
    real_images: int = 0
    notes: list[str] = field(default_factory=list)

    def format(self) -> str:
        shapes = lambda d: ", ".join(f"{k} {v}" for k, v in d.items())  # noqa: E731
        lines = [f"{self.path}: {self.kind} network; inputs {shapes(self.inputs)}; outputs {shapes(self.outputs)}"]
        lines += [f"  onnxruntime vs PyTorch, {name} inputs: max abs difference {diff:.2e} (outputs up to "
                  f"{self.output_scale[name]:.3g}; bound {PARITY_TOLERANCE:g} x max(1, that))"
                  for name, diff in self.max_abs_diff.items()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"file": str(self.path), "kind": self.kind, "inputs": self.inputs, "outputs": self.outputs,
                "max_abs_diff": self.max_abs_diff, "output_scale": self.output_scale,
                "real_images": self.real_images, "tolerance": PARITY_TOLERANCE,
                "notes": self.notes}


class ReidForExport(nn.Module):
    """The ReID network with named positional inputs and only the deployment outputs."""

    def __init__(self, model: nn.Module, channels: bool, keypoints: bool, multitask: bool):
        super().__init__()
        self.model, self.channels, self.keypoints, self.multitask = model, channels, keypoints, multitask

    def forward(self, image, *extra):
        extra = list(extra)
        channels = extra.pop(0) if self.channels else None
        keypoints = extra.pop(0) if self.keypoints else None
        out = self.model(image, keypoints, channels)
        if self.multitask:
            return out["feature"], out["color_logits"], out["type_logits"]
        return out["feature"]


def _kind(run: str | Path) -> str:
    name = (load_checkpoint(find_checkpoint(run)).get("signature") or {}).get("name")
    if name == "pose_hrnet":
        return "pose"
    if name == "reid_multitask":
        return "reid"
    raise ValueError(f"{run}: checkpoint holds a {name!r} model, neither a pose nor a ReID network")


def _reid(run, which: str):
    model, config, checkpoint = load_reid_model(run, "cpu", which)
    extra = EXTRA_CHANNELS[config.inputs]
    h, w = config.image_size
    inputs = {"image": [3, h, w]}
    if extra:
        inputs["channels"] = [extra, *config.channel_size]
    if config.keypoints:
        inputs["keypoints"] = [KEYPOINT_VALUES]
    outputs = {"feature": [config.feature_dim]}
    if config.multitask:
        outputs.update(color_logits=[model.color_classifier.out_features], type_logits=[model.type_classifier.out_features])
    wrapped = ReidForExport(model, bool(extra), config.keypoints, config.multitask).eval()
    return wrapped, config, checkpoint, inputs, outputs


def _pose(run):
    model, config, checkpoint = load_pose_model(run, "cpu")
    size = config.model.input_size
    return model, config, checkpoint, {"image": [3, size, size]}, {"heatmaps": [NUM_KEYPOINTS, size // 4, size // 4]}


def _random_inputs(inputs: dict[str, list], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in inputs.items():
        if name == "image":
            out[name] = rng.normal(size=(batch, *shape))
        elif name == "channels":
            out[name] = rng.uniform(0, 1, size=(batch, *shape))
        else:
            out[name] = rng.uniform(-0.5, 0.5, size=(batch, *shape))
    return {k: v.astype(np.float32) for k, v in out.items()}


def _real_inputs(kind: str, config, data: list[Path]) -> dict[str, np.ndarray] | None:
    """The first REAL_IMAGES items of the datasets, pre-processed exactly as the PyTorch code does."""
    data = [d for d in data if (Path(d) / "dataset.yaml").is_file()]
    if not data:
        return None
    if kind == "pose":
        base = ShardDataset(data, fields=("image",))
        crops = _Crops(base, np.arange(min(REAL_IMAGES, len(base))), config.model.input_size, config.padding)
        return {"image": torch.stack([crops[i]["image"] for i in range(len(crops))]).numpy()}
    dataset = ReidDataset(data, None, config, train=False)
    items = [dataset[i] for i in range(min(REAL_IMAGES, len(dataset)))]
    out = {"image": torch.stack([it["image"] for it in items]).numpy()}
    if "channels" in items[0]:
        out["channels"] = torch.stack([it["channels"] for it in items]).float().numpy()
    if config.keypoints:
        out["keypoints"] = torch.stack([it["keypoints"] for it in items]).numpy()
    return out


def _max_difference(session, model: nn.Module, feeds: dict[str, np.ndarray]) -> tuple[float, float]:
    """(largest absolute difference, largest |PyTorch output| of that output), for the output whose
    difference is largest relative to max(1, its magnitude)."""
    with torch.no_grad():
        expected = model(*[torch.from_numpy(feeds[name]) for name in feeds])
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = session.run(None, feeds)
    pairs = [(float(np.abs(g - e.float().numpy()).max()), float(e.abs().max())) for g, e in zip(got, expected)]
    return max(pairs, key=lambda pair: pair[0] / max(1.0, pair[1]))


def export_onnx(run: str | Path, out: str | Path, which: str = "best", data: list[str | Path] | None = None,
                opset: int = OPSET) -> ExportReport:
    """Export the network of `run` (pose or ReID; a run directory or checkpoint file) to the ONNX file `out`
    and verify it with onnxruntime (see the module docstring). Returns the report, also written as
    `<out>.json`."""
    try:
        import onnxruntime
    except ImportError:
        raise ValueError("ONNX export needs onnxruntime to verify the file: pip install 'pamtri-synth[onnx]'") from None
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: use a .onnx file name")
    checkpoint_file = find_checkpoint(run, which)
    kind = _kind(checkpoint_file)
    if kind == "pose":
        model, config, checkpoint, inputs, outputs = _pose(checkpoint_file)
        default_data = config.data
    else:
        model, config, checkpoint, inputs, outputs = _reid(run, which)
        default_data = config.data_dirs
    example = tuple(torch.from_numpy(v) for v in _random_inputs(inputs, EXPORT_BATCH, seed=1).values())
    dynamic = {name: {0: "batch"} for name in [*inputs, *outputs]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # The TorchScript exporter: the torch.export one needs onnxscript (another dependency), and these networks
    # trace without data-dependent control flow. Its deprecation and tracer warnings are expected here; the
    # parity check below is what says whether the trace is right.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, example, str(tmp), dynamo=False, input_names=list(inputs),
                          output_names=list(outputs), dynamic_axes=dynamic, opset_version=opset,
                          do_constant_folding=True)
    report = ExportReport(out, kind, {k: ["batch", *v] for k, v in inputs.items()},
                          {k: ["batch", *v] for k, v in outputs.items()})
    try:
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        checks = {"random": _random_inputs(inputs, CHECK_BATCH)}
        real = _real_inputs(kind, config, [Path(d) for d in (data if data else default_data)])
        if real is None:
            report.notes.append("no dataset to take real inputs from (give --data DIR): checked on random inputs only")
        else:
            report.real_images = len(real["image"])
            checks["real"] = real
        for name, feeds in checks.items():
            diff, scale = _max_difference(session, model, feeds)
            report.max_abs_diff[name], report.output_scale[name] = diff, scale
            if not diff <= PARITY_TOLERANCE * max(1.0, scale):
                raise ValueError(f"{out}: on {name} inputs onnxruntime differs from PyTorch by {diff:.3g} (outputs "
                                 f"up to {scale:.3g}; bound {PARITY_TOLERANCE:g} x max(1, that)); not written")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    report.notes.insert(0, f"from {checkpoint}")
    out.with_name(out.name + ".json").write_text(json.dumps(report.as_dict(), indent=2))
    return report
