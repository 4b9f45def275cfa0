"""bench/gpu_smoke.py without a GPU: it stops at once with a clear message and writes nothing (on a GPU machine
the smoke test itself is the check: `.venv/bin/python bench/gpu_smoke.py`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: run the smoke test itself")
def test_without_cuda_it_fails_fast_and_writes_nothing(tmp_path):
    out = tmp_path / "smoke.json"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_smoke.py"), "--out", str(out)],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2
    assert "no CUDA device is present" in result.stderr and "needs one NVIDIA GPU" in result.stderr
    assert not out.exists()
