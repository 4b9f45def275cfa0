"""How the packages fit together (issue 22): the data layer imports no torch, so a Blender render worker (which
imports synth.render) does not pay torch's start-up time and memory."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_data_layer_and_the_renderer_import_no_torch():
    code = ("import synth.render, synth.datasets, synth.datasets.inspect, synth.datasets.validate, sys; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_trainers_dataset_is_the_reader_as_a_torch_dataset(tmp_path):
    from torch.utils.data import Dataset

    from synth.datasets import ShardReader
    from train.data import ShardDataset

    assert issubclass(ShardDataset, ShardReader) and issubclass(ShardDataset, Dataset)
    assert not issubclass(ShardReader, Dataset)
