"""The interface between the renderer (synth/render.py: scene sampling, labels, compositing, shards) and the
3D backend that draws a sample: the scene description goes in as plain values, labels come out of ray casts,
an RGBA frame out of a render. Kubric's split between a scene and its renderer is the model. The one
implementation is Blender's (`synth.blender.scene_backend.SceneBuilder`); nothing here imports bpy.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class SceneBackend(Protocol):
    def configure(self, quality) -> str:
        """Apply the render quality (`QualityConfig`); returns the device in use ("CPU" or "GPU...")."""

    def use_denoiser(self, denoiser) -> None:
        """Denoise frames with `denoiser` (synth.blender.denoise.Denoiser) in this process; None: the renderer's
        own denoiser as `configure` set it."""

    def show_vehicle(self, model_index: int, paint_rgb, look=None):
        """Show model `model_index` of the library alone, in its paint and identity look; returns the loaded
        vehicle (its asset, keypoints and cabin box, for the labels)."""

    def set_lamps(self, drl: float, brake: float) -> None:
        """Light the shown vehicle's daytime-running lights and brake lights at these emission strengths (0: off)."""

    def set_camera(self, K_render: np.ndarray, Rt: np.ndarray, size: int) -> None:
        """Pinhole camera (intrinsics for a `size`-pixel square render, world-to-camera [R|t])."""

    def set_lighting(self, sample, sun_rgb) -> None:
        """Sun, sky and exposure of a SceneSample."""

    def set_street(self, key: int, rgba: np.ndarray | None) -> None:
        """The street panorama the sky shows round the horizon (synth/street_view.py), road style `key`."""

    def set_ground(self, sample, vehicle):
        """The ground (shadow catcher) under `vehicle`; returns its rectangle ((x0, y0), (x1, y1)) on the
        ground, or None without one."""

    def set_caster(self, sample, mask) -> None:
        """The sample's off-screen shadow caster (synth/shadows.py) with opacity `mask`, or none (None)."""

    def set_occluders(self, occluders, neighbour_look=None) -> None:
        """Show the sample's 3D occluders (synth.scene OccluderSpec list), hide the rest; the vehicles among them
        wear `neighbour_look`'s plate (appearance.neighbour_look), not the shown identity's."""

    def update(self) -> None:
        """Bring the scene's evaluated state up to date after changes (before ray casts)."""

    def keypoint_visibility(self, keypoints_world: np.ndarray, uv: np.ndarray, K: np.ndarray, Rt: np.ndarray,
                            size: int, tolerance: float = 0.1, self_tolerance: float = 0.0,
                            known: np.ndarray | None = None) -> np.ndarray:
        """Visibility codes of the keypoints by ray casts against the shown scene (docs/FORMAT.md)."""

    def visibility_grid(self, K: np.ndarray, Rt: np.ndarray, size: int, grid: int, occluded: bool):
        """The vehicle's amodal and visible silhouettes on a grid x grid raster, by ray casts."""

    def render(self, seed: int) -> np.ndarray:
        """Render the scene: straight-alpha RGBA uint8 at the camera's render size."""
