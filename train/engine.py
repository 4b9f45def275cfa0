"""One training engine for every trainer: loop, AMP, checkpoints, resume, DDP, per-epoch validation.

Usage (a trainer supplies the model, the optimizer, a step function and optionally a validation function):

    engine = Engine(model, optimizer, run_dir, step_fn=step, scheduler=sched, config=cfg,
                    arch_name="pose_hrnet", arch={"backbone": "hrnet_w32", ...},
                    validate_fn=validate, metric="pck_mean", metric_mode="max")
    engine.resume()                  # continues from <run>/checkpoints/last.pt when it exists
    history = engine.fit(train_loader, epochs=210)

- `step_fn(model, batch, device) -> (loss, logs)`: moves the batch to `device`, runs the forward pass and
  returns the scalar loss (a tensor) and a dict of floats to log. The engine wraps it in autocast, does the
  backward pass (with a GradScaler on CUDA), clips gradients when asked and steps the optimizer. `model` is
  the DDP-wrapped model under torchrun.
- `validate_fn(model, epoch) -> dict[str, float]`: runs on the main process only, with the unwrapped model in
  eval mode under `torch.no_grad()`; the other ranks wait. `metric` names the entry that picks `best.pt`.
- The scheduler, when given, is stepped once per epoch (the paper's schedules are epoch milestones).
- Files (main process only, all written atomically): `<run>/config.yaml` (when `config` has `.save`),
  `<run>/checkpoints/last.pt` after every epoch, `<run>/checkpoints/best.pt` when the metric improves,
  `<run>/history.jsonl` (one line of metrics per epoch, including `data_share`: the fraction of the
  epoch's wall time spent waiting on the data loader).
- A checkpoint also holds every random state (`rng`: torch, CUDA, numpy, python `random`; the samplers derive
  their order from (seed, epoch) and data-loader workers are seeded from torch's state when an epoch's
  iterator starts, so trainers use non-persistent workers): a resumed run is the uninterrupted run, bit for
  bit on the CPU.
- A checkpoint holds model, optimizer, scheduler and scaler state, `epoch` (epochs completed), `best`,
  `history`, `config` (a plain dict) and `signature` (`architecture_signature`): loading a checkpoint into a
  different architecture, or a corrupt file, raises `CheckpointError` (a ValueError) naming the file.

Helpers for inference code: `find_checkpoint(run_or_file, which="best")`, `load_checkpoint(path)`,
`load_model_weights(path_or_checkpoint, model, arch_name, arch)`. Trainers call
`check_run_dir(run_dir, config, resume, may_change)` before building the engine, which rewrites `<run>/config.yaml`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from train.device import DistInfo, amp_enabled, autocast, barrier, init_distributed, select_device

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"
INITIAL = "initial.pt"  # the network before its first step: the "untrained" baseline of reports
HISTORY = "history.jsonl"
CONFIG = "config.yaml"
CHECKPOINT_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, not ours, or made for another architecture."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


# --- checkpoints -------------------------------------------------------------------------------------------


def architecture_signature(model: torch.nn.Module, arch_name: str, arch: dict | None = None) -> dict:
    """What a checkpoint must match to be loaded: a family name, the options that define the network, and
    a hash of every parameter/buffer name and shape (catches any mismatch the options miss)."""
    shapes = sorted((name, tuple(t.shape)) for name, t in model.state_dict().items())
    digest = hashlib.sha1(repr(shapes).encode()).hexdigest()[:16]
    return {"name": arch_name, "arch": dict(arch or {}), "params": digest}


def check_signature(found: dict | None, expected: dict, path) -> None:
    if not isinstance(found, dict) or "name" not in found:
        raise CheckpointError(path, "no architecture signature: not a checkpoint written by this toolkit")
    if found["name"] != expected["name"]:
        raise CheckpointError(path, f"checkpoint is for a {found['name']!r} model, expected {expected['name']!r}")
    if found.get("arch") != expected.get("arch"):
        raise CheckpointError(path, f"architecture differs: checkpoint {found.get('arch')} vs model {expected.get('arch')}")
    if found.get("params") != expected.get("params"):
        raise CheckpointError(path, "parameter names/shapes differ from the model's (another architecture)")


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_run_dir(run_dir: str | Path, config, resume: bool, may_change: Iterable[str] = ()) -> None:
    """Before anything in `run_dir` is overwritten: refuse to continue a run made with another configuration
    (`may_change` names the settings a continuation may change: epochs, workers, device; dotted for nested
    ones), and refuse a run directory that already holds a run when not resuming."""
    last = Path(run_dir) / CHECKPOINT_DIR / LAST
    if not last.exists():
        return
    if not resume:
        raise ValueError(f"{run_dir}: already holds a run; resume it or pick a new --out")
    saved = _flatten(load_checkpoint(last).get("config") or {})
    mine = _flatten(config.to_dict() if hasattr(config, "to_dict") else dict(config))
    allowed = set(may_change)
    differ = sorted(k for k in mine if k not in allowed and k in saved and saved[k] != mine[k])
    if differ:
        details = "; ".join(f"{k}: run has {saved[k]!r}, asked {mine[k]!r}" for k in differ)
        raise CheckpointError(last, f"the run in {Path(run_dir)} was trained with another configuration ({details}); "
                                    "use a new --out or the same options")


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """torch.save to a temporary name, then rename: a kill never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types for truncated/garbage files
        raise CheckpointError(path, f"cannot read checkpoint (corrupt or not a torch file): {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or "model" not in state or "signature" not in state:
        raise CheckpointError(path, "not a checkpoint written by this toolkit (no model/signature)")
    return state


def find_checkpoint(run_or_file: str | Path, which: str = "best") -> Path:
    """A checkpoint file from a run directory (`best.pt`, falling back to `last.pt`) or a file path."""
    p = Path(run_or_file)
    if p.is_file():
        return p
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such run directory or checkpoint")
    for name in ((BEST, LAST) if which == "best" else (LAST, BEST)):
        candidate = p / CHECKPOINT_DIR / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{p}: no checkpoint in {p / CHECKPOINT_DIR} (train first)")


def load_model_weights(source: str | Path | dict, model: torch.nn.Module, arch_name: str, arch: dict | None = None,
                       where: str | Path | None = None) -> dict:
    """Check the signature and load the weights into `model`; returns the checkpoint dict. `source` is a
    checkpoint file or an already loaded checkpoint (then `where` names its file in errors)."""
    state = source if isinstance(source, dict) else load_checkpoint(source)
    where = where or ("checkpoint" if isinstance(source, dict) else source)
    check_signature(state.get("signature"), architecture_signature(model, arch_name, arch), where)
    model.load_state_dict(state["model"])
    return state


def random_states() -> dict:
    """Every random generator a training step or an augmentation draws from (data-loader workers are seeded
    from torch's when an epoch's iterator starts)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_random_states(states: dict) -> None:
    torch.set_rng_state(states["torch"].cpu() if torch.is_tensor(states["torch"]) else states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def write_weights_record(out_dir: Path, backbone: str, source: dict | None) -> Path:
    """`<run>/weights.json`: whether the network started from ImageNet weights, and from which file (or the
    hub), so a run trained from scratch by accident shows it."""
    path = Path(out_dir) / "weights.json"
    path.write_text(json.dumps({"backbone": backbone, **(source or {"imagenet": None})}, indent=2) + "\n")
    return path


# --- the engine --------------------------------------------------------------------------------------------


class Engine:
    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        run_dir: str | Path,
        *,
        step_fn: Callable[[torch.nn.Module, Any, torch.device], tuple[torch.Tensor, dict]],
        scheduler: Any = None,
        config: Any = None,
        arch_name: str = "model",
        arch: dict | None = None,
        validate_fn: Callable[[torch.nn.Module, int], dict] | None = None,
        metric: str | None = None,
        metric_mode: str = "max",
        device: torch.device | str | None = None,
        amp: bool = True,
        dist: DistInfo | None = None,
        grad_clip: float | None = None,
        progress: bool = True,
        find_unused_parameters: bool = False,
    ):
        if metric_mode not in ("max", "min"):
            raise ValueError(f"metric_mode must be 'max' or 'min', got {metric_mode!r}")
        self.device = device if isinstance(device, torch.device) else select_device(device or "auto")
        self.dist = dist or init_distributed(self.device)
        self.run_dir = Path(run_dir)
        self.module = model.to(self.device)
        self.signature = architecture_signature(self.module, arch_name, arch)
        self.model: torch.nn.Module = self.module
        if self.dist.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.module, device_ids=ids, find_unused_parameters=find_unused_parameters)
        self.optimizer, self.scheduler = optimizer, scheduler
        self.step_fn, self.validate_fn = step_fn, validate_fn
        self.metric, self.metric_mode = metric, metric_mode
        self.amp = amp_enabled(self.device, amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.grad_clip = grad_clip
        self.progress = progress and self.dist.is_main
        self.config = config
        self.epoch = 0  # epochs completed
        self.best: float | None = None
        self.history: list[dict] = []
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if config is not None and hasattr(config, "save"):
                config.save(self.run_dir / CONFIG)

    # -- checkpoints --

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    def state_dict(self) -> dict:
        config = self.config.to_dict() if hasattr(self.config, "to_dict") else self.config
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "best": self.best,
            "history": self.history,
            "config": config,
            "signature": self.signature,
            "rng": random_states(),
        }

    def resume(self, path: str | Path | None = None) -> bool:
        """Load `path`, or `<run>/checkpoints/last.pt` when it exists; False when there is nothing to resume."""
        path = Path(path) if path else self.checkpoint_dir / LAST
        if not path.exists():
            return False
        state = load_checkpoint(path, map_location=self.device)
        check_signature(state.get("signature"), self.signature, path)
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.best = int(state["epoch"]), state.get("best")
        self.history = list(state.get("history") or [])
        if state.get("rng"):  # checkpoints written before the random states were kept resume without them
            set_random_states(state["rng"])
        return True

    def _improved(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        return value > self.best if self.metric_mode == "max" else value < self.best

    # -- loop --

    def _set_epoch(self, loader: Iterable, epoch: int) -> None:
        for holder in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            if hasattr(holder, "set_epoch"):
                holder.set_epoch(epoch)

    def train_epoch(self, loader: Iterable, max_steps: int | None = None) -> dict:
        self.model.train()
        self._set_epoch(loader, self.epoch)
        sums: dict[str, float] = {}
        steps, data_s, step_s = 0, 0.0, 0.0
        total = len(loader) if hasattr(loader, "__len__") else None
        if max_steps is not None and total is not None:
            total = min(total, max_steps)
        bar = tqdm(total=total, desc=f"epoch {self.epoch + 1}", disable=not self.progress, leave=False)
        tick = time.perf_counter()
        for batch in loader:
            fetched = time.perf_counter()
            data_s += fetched - tick
            with autocast(self.device, self.amp):
                loss, logs = self.step_fn(self.model, batch, self.device)
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {self.epoch + 1}, step {steps + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            logs = {"loss": float(loss.detach()), **{k: float(v) for k, v in logs.items()}}
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{logs['loss']:.4g}")
            tick = time.perf_counter()
            step_s += tick - fetched
            if max_steps is not None and steps >= max_steps:
                break
        bar.close()
        if steps == 0:
            raise ValueError("the training loader yielded no batches (dataset smaller than one batch?)")
        result = {k: v / steps for k, v in sums.items()}
        result.update(steps=steps, data_s=data_s, step_s=step_s, data_share=data_s / max(data_s + step_s, 1e-9))
        return result

    def validate(self) -> dict:
        if self.validate_fn is None:
            return {}
        metrics: dict = {}
        if self.dist.is_main:
            self.module.eval()
            with torch.no_grad(), autocast(self.device, self.amp):
                metrics = dict(self.validate_fn(self.module, self.epoch))
        barrier(self.dist)
        return metrics

    def fit(self, train_loader: Iterable, epochs: int, max_steps: int | None = None) -> list[dict]:
        """Train from the current epoch up to `epochs` (resume first to continue a killed run)."""
        if self.epoch == 0 and self.dist.is_main and not (self.checkpoint_dir / INITIAL).exists():
            save_checkpoint(self.checkpoint_dir / INITIAL, self.state_dict())
        while self.epoch < epochs:
            started = time.perf_counter()
            record = {"epoch": self.epoch + 1, **self.train_epoch(train_loader, max_steps)}
            record["lr"] = self.optimizer.param_groups[0]["lr"]
            if self.scheduler is not None:
                self.scheduler.step()
            record.update(self.validate())
            record["epoch_s"] = time.perf_counter() - started
            self.epoch += 1
            self.history.append(record)
            improved = self.metric is not None and self._improved(record.get(self.metric))
            if improved:
                self.best = float(record[self.metric])
            if self.dist.is_main:
                save_checkpoint(self.checkpoint_dir / LAST, self.state_dict())
                if improved or (self.metric is None):
                    save_checkpoint(self.checkpoint_dir / BEST, self.state_dict())
                with open(self.run_dir / HISTORY, "a") as f:
                    f.write(json.dumps(record) + "\n")
                if self.progress:
                    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()
                             if k not in ("data_s", "step_s", "steps")}
                    log.info(json.dumps(shown))
            barrier(self.dist)
        return self.history
