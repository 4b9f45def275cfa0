"""Fixtures shared by several test modules, built once per session and read-only to the tests (a test that
changes one copies it to its own tmp_path first)."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """The three-model procedural library (sedan_000, suv_000, truck_000 of the default seed) that the render,
    shadow and street tests render, built once by the asset code in a spawned Blender process."""
    from synth.render import run_in_blender_process
    from tests.helpers.library import build_test_library

    path = tmp_path_factory.mktemp("models")
    run_in_blender_process(build_test_library, str(path))
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
