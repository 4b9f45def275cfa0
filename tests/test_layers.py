"""How the packages fit together (issue 22, docs/ARCHITECTURE.md).

Layers, lowest first; a module imports only from its own layer and the layers it stands on:
- contract: synth.vocabulary, synth.config and synth.datasets (the HDF5 dataset contract, pose sidecars);
- render: the rest of synth (scenes, Blender backend, vehicle models), on the contract;
- eval: arrays in, numbers out, on the contract; never train, render or pipelines;
- train: the networks, on the contract and eval (validation metrics); never render or pipelines;
- pipelines: what composes render, training and evaluation (demo, evaluate a model, pose accuracy, sidecars);
- cli: the commands, on everything.
Imports are read from the source (function-level ones included), so a hidden cycle cannot pass.
The data layer imports no torch, so a Blender render worker (which imports synth.render) does not pay torch's
start-up time and memory.
"""
import ast
import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("synth", "train", "eval", "pipelines")
CONTRACT = ("synth.vocabulary", "synth.config", "synth.datasets")
MAY_IMPORT = {
    "contract": {"contract"},
    "render": {"contract", "render"},
    "eval": {"contract", "eval"},
    "train": {"contract", "eval", "train"},
    "pipelines": {"contract", "render", "eval", "train", "pipelines"},
    "cli": {"contract", "render", "eval", "train", "pipelines", "cli"},
}


def _modules() -> dict[str, Path]:
    found = {"cli": ROOT / "cli.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def layer(module: str) -> str:
    if module == "cli":
        return "cli"
    if any(module == c or module.startswith(c + ".") for c in CONTRACT):
        return "contract"
    top = module.split(".")[0]
    return "render" if top == "synth" else top


@functools.lru_cache(maxsize=None)
def _import_nodes(path: Path) -> tuple:
    """(import node, whether it sits inside a function) for every import of a file (parsed once a run)."""
    tree = ast.parse(path.read_text())
    inner = set()

    def visit(node, in_function):  # one pass: an import with a function among its ancestors is inside one
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                inner.add(id(child))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return tuple((node, id(node) in inner) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def _targets(module: str, node) -> set[str]:
    """The project modules an import statement loads (a `from package import submodule` names the submodule)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    out = set()
    for name in names:
        while name and name not in MODULES:  # `import a.b.c` of a name inside a module: the module
            name = name.rpartition(".")[0]
        if name and name != module:
            out.add(name)
    return out


@functools.lru_cache(maxsize=None)
def _graph() -> dict[str, set[str]]:
    """module -> the project modules it imports; read when a test asks (not at collection, in every worker)."""
    return {m: set().union(*[_targets(m, n) for n, _ in _import_nodes(p)] or [set()]) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str:
    """The package a module belongs to (a package's __init__ belongs to that package)."""
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0] or module


def test_no_import_cycle_between_files():
    assert not _cycles(_graph()), f"modules on an import cycle: {_cycles(_graph())}"


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        graph.setdefault(_package(module), set()).update(
            t for t in map(_package, targets)
            if t != _package(module) and not _package(module).startswith(t + "."))  # a package's own parents
    assert not _cycles(graph), f"packages on an import cycle: {_cycles(graph)}"


def test_no_import_from_a_lower_layer_up():
    wrong = sorted(f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, targets in _graph().items() for t in targets
                   if layer(t) not in MAY_IMPORT[layer(m)])
    assert not wrong, "\n".join(wrong)


def test_eval_is_arrays_in_numbers_out():
    assert not {t for m, ts in _graph().items() if layer(m) == "eval" for t in ts if layer(t) in ("train", "pipelines")}


def test_function_level_imports_of_project_modules_say_why():
    """A project module imported inside a function (to keep bpy or torch out of start-up) carries a one-line
    reason: a comment on the import's line, or on the line above it or above the run of imports it is in."""
    silent = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        nodes = list(_import_nodes(path))
        import_lines = {i for node, _ in nodes for i in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
        for node, inside in nodes:
            if not inside or not _targets(module, node):
                continue
            span = lines[node.lineno - 1 : node.end_lineno or node.lineno]
            above = node.lineno - 1
            while above in import_lines:
                above -= 1
            if not any("#" in line for line in span) and not (above and lines[above - 1].strip().startswith("#")):
                silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: {span[0].strip()}")
    assert not silent, "function-level imports without a reason:\n" + "\n".join(silent)


def test_the_data_layer_and_the_renderer_import_no_torch():
    code = ("import synth.render, synth.datasets, synth.datasets.inspect, synth.datasets.validate, "
            "synth.datasets.sidecar, sys; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_trainers_dataset_is_the_reader_as_a_torch_dataset():
    from torch.utils.data import Dataset

    from synth.datasets import ShardReader
    from train.data import ShardDataset

    assert issubclass(ShardDataset, ShardReader) and issubclass(ShardDataset, Dataset)
    assert not issubclass(ShardReader, Dataset)
