"""The shared training engine: it learns, checkpoints atomically, resumes exactly, and refuses bad checkpoints."""
import json
from dataclasses import dataclass

import pytest
import torch

from synth.config import Config
from train.engine import (
    BEST, CHECKPOINT_DIR, INITIAL, LAST, CheckpointError, Engine, find_checkpoint, load_checkpoint, load_model_weights,
)


@dataclass
class _Cfg(Config):
    lr: float = 0.05
    epochs: int = 3


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, n, 16)]


def _step(model, batch, device):
    x, y = (t.to(device) for t in batch)
    loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
    return loss, {"abs_err": (model(x).squeeze(1) - y).abs().mean().item()}


def _engine(run, width=4, epochs_cfg=3):
    torch.manual_seed(0)
    model = torch.nn.Linear(width, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2], 0.1)
    val_data = _data(32, seed=1)

    def validate(m, epoch):
        return {"val_mse": sum(torch.nn.functional.mse_loss(m(x).squeeze(1), y).item() for x, y in val_data)}

    return Engine(model, opt, run, step_fn=_step, scheduler=sched, config=_Cfg(epochs=epochs_cfg),
                  arch_name="toy_linear", arch={"width": width}, validate_fn=validate, metric="val_mse",
                  metric_mode="min", device="cpu", progress=False)


def test_engine_learns_and_writes_run_files(tmp_path):
    engine = _engine(tmp_path / "run")
    history = engine.fit(_data(), epochs=3)
    assert len(history) == 3 and history[-1]["val_mse"] < history[0]["val_mse"] / 2
    assert history[2]["lr"] == pytest.approx(0.02)  # stepped at the milestone
    for name in (LAST, BEST):
        assert (tmp_path / "run" / CHECKPOINT_DIR / name).is_file()
    assert (tmp_path / "run" / "config.yaml").is_file()
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert 0.0 <= history[0]["data_share"] <= 1.0
    state = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert state["config"]["epochs"] == 3 and state["epoch"] == 3


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    straight = _engine(tmp_path / "a")
    straight.fit(_data(), epochs=3)
    first = _engine(tmp_path / "b")
    first.fit(_data(), epochs=2)  # "killed" after epoch 2
    second = _engine(tmp_path / "b")
    assert second.resume()
    assert second.epoch == 2
    second.fit(_data(), epochs=3)
    for p, q in zip(straight.module.parameters(), second.module.parameters()):
        torch.testing.assert_close(p, q)
    assert second.optimizer.param_groups[0]["lr"] == pytest.approx(straight.optimizer.param_groups[0]["lr"])
    assert [h["epoch"] for h in second.history] == [1, 2, 3]


def test_no_checkpoint_means_fresh_start(tmp_path):
    assert not _engine(tmp_path / "fresh").resume()


def test_other_architecture_is_refused(tmp_path):
    _engine(tmp_path / "run").fit(_data(), epochs=1)
    ckpt = tmp_path / "run" / CHECKPOINT_DIR / LAST
    before = ckpt.read_bytes()
    other = _engine(tmp_path / "run", width=4)
    other.signature = {**other.signature, "arch": {"width": 8}}
    with pytest.raises(CheckpointError, match="architecture differs"):
        other.resume()
    wide = torch.nn.Linear(8, 1)
    with pytest.raises(CheckpointError, match=str(ckpt.name)):
        load_model_weights(ckpt, wide, "toy_linear", {"width": 4})
    with pytest.raises(CheckpointError, match="'toy_linear' model"):
        load_model_weights(ckpt, torch.nn.Linear(4, 1), "pose_hrnet", {"width": 4})
    assert ckpt.read_bytes() == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    _engine(tmp_path / "run").fit(_data(), epochs=1)
    ckpt = tmp_path / "run" / CHECKPOINT_DIR / LAST
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        _engine(tmp_path / "run").resume()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    with pytest.raises(FileNotFoundError):
        find_checkpoint(tmp_path / "missing")


def test_engine_keeps_the_untrained_network_as_a_baseline(tmp_path):
    engine = _engine(tmp_path / "run")
    before = {k: v.clone() for k, v in engine.module.state_dict().items()}
    engine.fit(_data(), epochs=2)
    initial = load_checkpoint(tmp_path / "run" / CHECKPOINT_DIR / INITIAL)
    assert initial["epoch"] == 0
    assert all(torch.equal(initial["model"][k], before[k]) for k in before)
    trained = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert not torch.equal(trained["model"]["weight"], before["weight"])
