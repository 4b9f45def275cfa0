"""A small procedural vehicle library for tests and benchmarks."""
from __future__ import annotations


def build_test_library(path: str, n: int = 3) -> None:
    """A small procedural model library (the asset code's builder), for tests and benchmarks; call it in a
    Blender process (`synth.render.run_in_blender_process`)."""
    from synth.blender.vehicles import build_library  # bpy: only in the process that builds the library

    build_library(path, n=n, progress=False)
