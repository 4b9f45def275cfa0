"""Visibility as VeRi-776's annotators mark it, written beside the geometric truth.

The codes in `keypoints[..., 2]` say whether a keypoint is actually seen (docs/FORMAT.md: ray casts, checked against a
depth render). VeRi's annotators mark more than that: roof corners always, the corners of the face and of the side
the vehicle turns to the camera, points just past the vehicle's own silhouette, and the arch of the far wheel whose tyre
shows under the bumper (docs/RENDER.md, "Realism"). A pose network trained on the geometric codes alone learns
nothing about keypoints that VeRi scores as visible, so the renderer also writes the codes an annotator
following `AnnotatorConfig` would give (`annotator_visibility`), and `PoseConfig.visibility` picks which of the
two the loss is weighted by. Pure numpy: the Blender side only supplies a ray cast with `self_tolerance`.
"""
from __future__ import annotations

import numpy as np

from synth.vocabulary import VIS_OUTSIDE, VIS_VISIBLE

FRONT_CORNERS, REAR_CORNERS = (16, 17, 34, 35), (10, 11, 28, 29)
LEFT_CORNERS, RIGHT_CORNERS = (10, 11, 16, 17), (28, 29, 34, 35)
# The upper and end points of the wheel arches next to the front (rear) face, both sides.
FRONT_ARCH_ENDS, REAR_ARCH_ENDS = (2, 3, 4, 20, 21, 22), (7, 8, 9, 25, 26, 27)


def annotator_marked(config, camera: np.ndarray, keypoints_3d: np.ndarray) -> list[int]:
    """The keypoints `config` (scene.AnnotatorConfig) marks visible whenever they are in the image, for a
    camera at `camera` in the vehicle frame (x forward, y left) of a vehicle with 3D keypoints `keypoints_3d`."""
    marked = list(config.always_visible)
    if config.end_faces:
        if camera[0] > keypoints_3d[list(FRONT_CORNERS), 0].max():
            marked += FRONT_CORNERS
        if camera[0] < keypoints_3d[list(REAR_CORNERS), 0].min():
            marked += REAR_CORNERS
    if config.side_faces:  # a side's corners are on its outline: marked however far the plan curves them in
        if camera[1] > keypoints_3d[list(LEFT_CORNERS), 1].max():
            marked += LEFT_CORNERS
        if camera[1] < keypoints_3d[list(RIGHT_CORNERS), 1].min():
            marked += RIGHT_CORNERS
    front_limit, rear_limit = config.end_arches
    off_front = abs(np.degrees(np.arctan2(camera[1], camera[0])))
    if off_front < front_limit:
        marked += FRONT_ARCH_ENDS
    if 180.0 - off_front < rear_limit:
        marked += REAR_ARCH_ENDS
    return marked


def annotator_codes(seen_codes: np.ndarray, config, camera: np.ndarray, keypoints_3d: np.ndarray) -> np.ndarray:
    """(36,) int8 visibility codes an annotator following `config` would give. `seen_codes` are the codes of a
    ray cast that lets the vehicle's own body cover a keypoint by `config.self_tolerance` (2D occluders already
    applied); keypoints outside the image stay outside."""
    codes = np.asarray(seen_codes).astype(np.int8)
    marked = annotator_marked(config, camera, keypoints_3d)
    in_frame = codes[marked] > VIS_OUTSIDE
    codes[marked] = np.where(in_frame, VIS_VISIBLE, codes[marked])
    return codes
