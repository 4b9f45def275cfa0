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


def _imports(path: Path, package: str) -> set[str]:
    """Modules of `package` that a file imports, at any level (function-level imports included)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith(package + ".")}


def test_no_import_cycle_between_eval_modules():
    modules = {f"eval.{p.stem}": p for p in (ROOT / "eval").glob("*.py") if p.stem != "__init__"}
    graph = {name: _imports(path, "eval") & set(modules) for name, path in modules.items()}
    assert "eval.reid_metrics" not in graph["eval.reranking"]

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(name for name in graph if name in reach(name))
    assert not cycles, f"modules on an import cycle: {cycles}"
