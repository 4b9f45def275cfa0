"""Fixtures shared by several test modules, built once per session and read-only to the tests (a test that
changes one copies it to its own tmp_path first)."""
from __future__ import annotations

import fcntl
import os
import shutil

import pytest


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """The three-model procedural library (sedan_000, suv_000, truck_000 of the default seed) that the render,
    shadow and street tests render, built once by the asset code in a spawned Blender process. Once per run:
    under pytest-xdist the first worker to need it builds it in the run's temporary folder, which the workers
    share, while another that needs it meanwhile waits; then they all read the same files."""
    from synth.render import run_in_blender_process
    from tests.helpers.library import build_test_library

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder; each worker's own (popen-gw0, ...) is in it
    path, done = base / "shared_models", base / "shared_models.done"
    with open(base / "shared_models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # a build that failed part way in another worker
            path.mkdir()
            run_in_blender_process(build_test_library, str(path))
            done.touch()
    return path


@pytest.fixture(scope="session")
def sedan_library(library, tmp_path_factory):
    """A one-model library: the shared library's sedan_000, which is what `build_test_library(path, 1)` builds
    (model i of a type depends only on the seed, the type and i)."""
    path = tmp_path_factory.mktemp("sedan_models")
    shutil.copytree(library / "sedan_000", path / "sedan_000")
    return path


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op torch thread for the whole run: on a small shared CPU, torch's spinning worker threads slow
    the tests' tiny networks down several times over when other processes compete for the cores (measured:
    the demo's pose training 22 s with two threads, 7 s with one, on two busy cores). Spawned processes (render
    workers, data loader workers, torchrun ranks) set their own."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
