"""GPU smoke test (issue 23 item 4): the toolkit's CUDA paths, each once, in a few minutes on one GPU.

    .venv/bin/python bench/gpu_smoke.py [--out bench/results/gpu_smoke.json] [--work DIR] [--only NAME ...]

Steps (each timed; a failing step is recorded with its error and the others still run):

  pose_amp_train     HRNet-W32 pose training steps at 256 px with AMP (train.pose.train.train_pose)
  reid_amp_train     DenseNet121 K+H+MT ReID training steps at 256 px with AMP (train.reid.train.train_reid)
  ddp_nccl           one DistributedDataParallel ReID epoch of a few AMP steps through train.engine.Engine in a
                     1-process NCCL group (the Engine wraps the model in DDP; an all_reduce checks the group)
  predict_pose_amp   predict-pose sidecars with AMP; keypoints compared with the same network on the CPU (fp32)
  extract_amp        ReID features with AMP; compared with the CPU (fp32) features of the same run
  cycles_gpu         Cycles on the GPU (quality.device = gpu: OptiX, else CUDA) renders 20 images at 256 px;
                     the dataset validates and the labels pass the label checks (keypoints against what
                     Cycles draws, as tests/test_render.py checks them on the CPU)

Without a CUDA device it stops at once with exit code 2 and a message saying so (nothing is written).
Exit code 1 when any step fails. Results: bench/results/gpu_smoke.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout: bench/, tests/ not installed

# What the steps run on. --cpu-dry-run swaps in the CPU, gloo and the tiny networks, to check this script's own
# code on a machine without a GPU (it proves nothing about the CUDA paths).
RUN = {"device": "cuda", "backend": "nccl", "tiny": False, "render_device": "gpu", "render_n": 20}

STEPS = ("pose_amp_train", "reid_amp_train", "ddp_nccl", "predict_pose_amp", "extract_amp", "cycles_gpu")


def require_cuda() -> str:
    """The CUDA device's name, or exit 2 with a clear message."""
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        print("gpu_smoke: no CUDA device is present (torch.cuda.is_available() is False"
              f"{'; this torch build has no CUDA' if torch.version.cuda is None else ''}): this smoke test needs "
              "one NVIDIA GPU. Nothing was run or written.", file=sys.stderr)
        sys.exit(2)
    return torch.cuda.get_device_name(0)


def toy_data(work: Path) -> Path:
    from tests.helpers.toy import make_toy_dataset
    from train.reid.data import write_label_pose_sidecars

    root = work / "toy"
    if not (root / "dataset.yaml").exists():
        make_toy_dataset(root, num_models=4, colors_per_model=3, images_per_identity=8, size=128, seed=0,
                         splits={"train": 0.5, "query_gallery": 0.5})
        write_label_pose_sidecars(root)
    return root


def reid_config(**changes):
    from train.reid.config import ReidConfig

    settings = dict(backbone="densenet121", pretrained=False, inputs="heatmaps", keypoints=True, multitask=True,
                    p=4, k=4, epochs=1, max_steps_per_epoch=4, val_every=1, workers=2, device=RUN["device"], amp=True)
    if RUN["tiny"]:
        settings.update(backbone="densenet_tiny", image_size=(64, 64), max_steps_per_epoch=2)
    return ReidConfig(**{**settings, **changes})


def pose_amp_train(work: Path, toy: Path) -> dict:
    from train.pose.config import PoseConfig
    from train.pose.train import train_pose

    make = PoseConfig.tiny if RUN["tiny"] else PoseConfig
    config = make(data=[str(toy)], epochs=1, batch_size=16, workers=2, device=RUN["device"], amp=True)
    history = train_pose(config, work / "pose", resume=False, say=lambda *a: None, max_steps=6)
    loss = history[-1]["loss"]
    assert loss == loss and loss < 1e3, f"pose loss {loss}"
    return {"backbone": config.model.backbone, "input_size": config.model.input_size, "loss": loss,
            "epoch_s": history[-1].get("epoch_s")}


def reid_amp_train(work: Path, toy: Path) -> dict:
    from train.reid.train import train_reid

    summary = train_reid(reid_config(), [toy], work / "reid", resume=False, progress=False)
    last = summary["history"][-1]
    assert last["loss"] == last["loss"], f"ReID loss {last['loss']}"
    return {"run": summary["name"], "loss": last["loss"], "mAP": last.get("mAP"), "epoch_s": last.get("epoch_s")}


def ddp_nccl(work: Path, toy: Path) -> dict:
    import torch
    import torch.distributed as dist
    from torch.utils.data import DataLoader

    from train.device import DistInfo
    from train.engine import Engine
    from train.reid.data import ReidDataset
    from train.reid.losses import ReidLoss
    from train.reid.model import ReidNet
    from train.reid.samplers import PKBatchSampler
    from train.reid.train import ARCH_NAME, to_device

    @dataclass(frozen=True)
    class OneRankGroup(DistInfo):
        """A 1-process group that the Engine treats as distributed (it wraps the model in DDP)."""

        @property
        def distributed(self) -> bool:
            return True

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    device = torch.device("cuda:0" if RUN["device"] == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(RUN["backend"], init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        probe = torch.ones(4, device=device)
        dist.all_reduce(probe)
        config = reid_config()
        data = ReidDataset([toy], ["train"], config, train=True)
        arch = config.arch(data.num_identities)
        model = ReidNet(arch, pretrained=False)
        criterion = ReidLoss(config.loss, config.id_weight, config.triplet_weight, config.color_weight,
                             config.type_weight, config.margin, config.label_smoothing)

        def step(net, batch, device):
            batch = to_device(batch, device)
            return criterion(net(batch["image"], batch.get("keypoints"), batch.get("channels")), batch)

        engine = Engine(model, torch.optim.Adam(model.parameters(), lr=config.lr), work / "ddp", step_fn=step,
                        arch_name=ARCH_NAME, arch=arch.signature(), device=device, amp=True,
                        dist=OneRankGroup(), progress=False)
        assert isinstance(engine.model, torch.nn.parallel.DistributedDataParallel)
        loader = DataLoader(data, batch_sampler=PKBatchSampler(data.pids, config.p, config.k, 0, 0, 1), num_workers=2)
        history = engine.fit(loader, 1, max_steps=3)
        loss = history[-1]["loss"]
        assert loss == loss, f"DDP loss {loss}"
        return {"backend": dist.get_backend(), "all_reduce": probe.tolist(), "loss": loss,
                "amp_scale": float(engine.scaler.get_scale())}
    finally:
        dist.destroy_process_group()


def predict_pose_amp(work: Path, toy: Path) -> dict:
    import shutil

    import h5py
    import numpy as np

    from train.pose.predict import predict_pose

    copies = {}
    for device in (RUN["device"], "cpu"):
        target = work / f"toy_pose_{device}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(toy, target, ignore=shutil.ignore_patterns("*.pose.h5"))
        started = time.perf_counter()
        written = predict_pose(work / "pose", [target], device=device, workers=2, batch_size=32,
                               say=lambda *a: None)
        copies["gpu" if device == "cuda" else device] = (written, time.perf_counter() - started)
    gpu_key = "gpu" if "gpu" in copies else "cpu"
    diffs = []
    for gpu_file, cpu_file in zip(sorted(copies[gpu_key][0]), sorted(copies["cpu"][0])):
        with h5py.File(gpu_file) as a, h5py.File(cpu_file) as b:
            diffs.append(np.abs(a["keypoints"][:] - b["keypoints"][:]).max(axis=(0, 1)))
    worst = np.max(diffs, axis=0)
    return {"sidecars": len(copies[gpu_key][0]), "gpu_s": copies[gpu_key][1], "cpu_s": copies["cpu"][1],
            "max_abs_diff_xy_px": float(worst[:2].max()), "max_abs_diff_confidence": float(worst[2])}


def extract_amp(work: Path, toy: Path) -> dict:
    import numpy as np

    from train.reid.extract import extract_features

    started = time.perf_counter()
    gpu = extract_features(work / "reid", toy, device=RUN["device"], which="last", progress=False)
    gpu_s = time.perf_counter() - started
    cpu = extract_features(work / "reid", toy, device="cpu", which="last", progress=False)
    scale = float(np.abs(cpu.features).max())
    diff = float(np.abs(gpu.features - cpu.features).max())
    assert np.isfinite(gpu.features).all()
    return {"images": len(gpu), "gpu_s": gpu_s, "max_abs_diff": diff, "relative_to_max": diff / max(scale, 1e-12)}


def cycles_gpu(work: Path, toy: Path) -> dict:
    import numpy as np

    from synth.datasets.validate import validate_dataset
    from synth.label_checks import check_labels
    from tests.helpers.library import build_test_library
    from synth.render import render_dataset, run_in_blender_process
    from synth.scene import RenderConfig

    models = work / "models"
    if not models.exists():
        run_in_blender_process(build_test_library, str(models))
    config = RenderConfig()
    config.image.size = 256
    config.quality.device = RUN["render_device"]  # "gpu" refuses to fall back to the CPU
    report = render_dataset(models, work / "render", n=RUN["render_n"], seed=0, config=config, workers=1, progress=False)
    validation = validate_dataset(work / "render", decode="all")
    assert not validation.errors, validation.errors[:5]
    check = config.to_dict()
    check["occlusion2d"]["prob"] = 0.0
    labels = run_in_blender_process(check_labels, str(models), check, [0, 1, 2, 3])
    errors = np.array(labels["errors"])
    agree = labels["agree"] / max(labels["total"], 1)
    assert len(errors) and errors.max() <= 0.5, f"keypoint projection off by up to {errors.max():.3f} px"
    assert agree >= 0.99, labels
    return {"images": report.images, "seconds": report.seconds, "images_per_s": report.images / report.seconds,
            "label_error_max_px": float(errors.max()), "visibility_agreement": agree}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu_smoke.json")
    parser.add_argument("--work", type=Path, help="Working folder (default: a temporary one, removed after).")
    parser.add_argument("--only", nargs="+", choices=STEPS, help="Run only these steps (later ones need earlier runs).")
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="Run the steps on the CPU with tiny networks (checks this script, not the GPU paths).")
    args = parser.parse_args()
    if args.cpu_dry_run:
        RUN.update(device="cpu", backend="gloo", tiny=True, render_device="cpu", render_n=4)
        if args.out == parser.get_default("out"):
            args.out = Path(tempfile.gettempdir()) / "gpu_smoke_cpu_dry_run.json"  # never the GPU record
        import torch

        device_name = "cpu (dry run)"
    else:
        device_name = require_cuda()
        import torch

    temporary = None if args.work else tempfile.TemporaryDirectory(prefix="gpu_smoke_")
    work = args.work or Path(temporary.name)
    work.mkdir(parents=True, exist_ok=True)
    results = {"device": device_name, "torch": torch.__version__, "cuda": torch.version.cuda,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": {}}
    started = time.perf_counter()
    toy = toy_data(work)
    for name in args.only or STEPS:
        t0 = time.perf_counter()
        try:
            details = globals()[name](work, toy)
            entry = {"ok": True, **details}
        except Exception as exc:  # record and go on: one run shows every broken path
            entry = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
        entry["step_s"] = round(time.perf_counter() - t0, 2)
        results["steps"][name] = entry
        print(f"{name}: {'ok' if entry['ok'] else 'FAILED ' + entry['error']} ({entry['step_s']} s)", flush=True)
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["all_ok"] = all(step["ok"] for step in results["steps"].values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))
    print(f"{'all steps passed' if results['all_ok'] else 'SOME STEPS FAILED'} in {results['total_s']} s: {args.out}")
    if temporary is not None:
        temporary.cleanup()
    return 0 if results["all_ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))  # torch DataLoader workers and Blender processes import the repo
    sys.exit(main())
