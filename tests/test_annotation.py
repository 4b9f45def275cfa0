"""The annotator model (synth/annotation.py): the visibility codes VeRi's annotators would give, from the
geometric codes and the camera's place around the vehicle. Pure numpy."""
import numpy as np
import pytest

from synth import camera
from synth.annotation import (FRONT_ARCH_ENDS, FRONT_CORNERS, LEFT_CORNERS, REAR_ARCH_ENDS, REAR_CORNERS,
                              RIGHT_CORNERS, annotator_codes)
from synth.scene import AnnotatorConfig
from synth.vocabulary import NUM_KEYPOINTS, VIS_OCCLUDED, VIS_OUTSIDE, VIS_VISIBLE

# A box-shaped vehicle 4 m long (x forward, y left): front face at x = 2, rear face at x = -2.
KEYPOINTS_3D = np.zeros((NUM_KEYPOINTS, 3))
KEYPOINTS_3D[list(FRONT_CORNERS), 0] = 2.0
KEYPOINTS_3D[list(REAR_CORNERS), 0] = -2.0
KEYPOINTS_3D[list(LEFT_CORNERS), 1] = 0.8  # the corners sit in from the 0.9 m half width (a curved plan)
KEYPOINTS_3D[list(RIGHT_CORNERS), 1] = -0.8


def camera_at(azimuth: float, distance: float = 12.0) -> np.ndarray:
    Rt = camera.look_at(camera.spherical_position(azimuth, 15.0, distance), np.zeros(3))
    return camera.camera_centre(Rt)


def marked(config: AnnotatorConfig, azimuth: float, codes: np.ndarray | None = None, distance: float = 12.0) -> set:
    if codes is None:
        codes = np.full(NUM_KEYPOINTS, VIS_OCCLUDED)
    out = annotator_codes(codes, config, camera_at(azimuth, distance), KEYPOINTS_3D)
    return set(np.flatnonzero(out == VIS_VISIBLE).tolist())


ARCHES_ONLY = AnnotatorConfig(always_visible=(), end_faces=False, side_faces=False, end_arches=(30.0, 20.0))


def test_end_arches_are_marked_only_near_the_axis():
    """Both sides' arch points next to the face the camera looks at count within the rule's angle of the
    vehicle's axis (either side of it), and not beyond."""
    assert marked(ARCHES_ONLY, 25.0) == marked(ARCHES_ONLY, -25.0) == set(FRONT_ARCH_ENDS)
    assert marked(ARCHES_ONLY, 35.0) == marked(ARCHES_ONLY, 160.0) == set()
    assert marked(ARCHES_ONLY, 170.0) == marked(ARCHES_ONLY, 195.0) == set(REAR_ARCH_ENDS)


def test_end_face_corners_count_when_that_face_is_towards_the_camera():
    faces_only = AnnotatorConfig(always_visible=(), end_faces=True, side_faces=False, end_arches=(0.0, 0.0))
    assert marked(faces_only, 60.0) == set(FRONT_CORNERS)
    assert marked(faces_only, 240.0) == set(REAR_CORNERS)
    # side on, from 12 m: the camera is between the two faces' planes, neither is towards it
    assert marked(faces_only, 90.0) == marked(faces_only, 270.0) == set()
    # just off the side at close range: still between the planes (x = 1.9 < 2)
    assert marked(faces_only, 80.0, distance=1.9 / np.cos(np.radians(80.0)) / np.cos(np.radians(15.0))) == set()


def test_side_corners_count_when_that_side_is_towards_the_camera():
    sides_only = AnnotatorConfig(always_visible=(), end_faces=False, side_faces=True, end_arches=(0.0, 0.0))
    # the camera's azimuth runs from the front (0) through the left side (90, +y)
    assert marked(sides_only, 90.0) == marked(sides_only, 30.0) == marked(sides_only, 150.0) == set(LEFT_CORNERS)
    assert marked(sides_only, 270.0) == marked(sides_only, 210.0) == set(RIGHT_CORNERS)
    # head on and tail on the camera is between the sides' planes: neither side is towards it
    assert marked(sides_only, 0.0) == marked(sides_only, 180.0) == set()
    # just off the axis at 12 m the camera is still inside y = 0.8: no side corners
    assert marked(sides_only, 3.0) == set()


@pytest.mark.parametrize("azimuth", [0.0, 45.0, 90.0, 135.0, 180.0, 270.0])
def test_codes_only_gain_visible_marks_and_keypoints_outside_stay_outside(azimuth):
    """Whatever the view, the model turns some occluded marks visible and nothing else: a keypoint outside the
    image (code 0) is never marked, a visible one stays visible; the roof corners count in every view."""
    rng = np.random.default_rng(int(azimuth))
    codes = rng.integers(VIS_OUTSIDE, VIS_VISIBLE + 1, NUM_KEYPOINTS)
    out = annotator_codes(codes, AnnotatorConfig(), camera_at(azimuth), KEYPOINTS_3D)
    assert out.dtype == np.int8 and np.all(out >= codes)
    np.testing.assert_array_equal(out == VIS_OUTSIDE, codes == VIS_OUTSIDE)
    changed = np.flatnonzero(out != codes)
    assert np.all(codes[changed] == VIS_OCCLUDED)
    roof = list(AnnotatorConfig().always_visible)
    assert np.all(out[roof][codes[roof] > VIS_OUTSIDE] == VIS_VISIBLE)
