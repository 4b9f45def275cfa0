"""Identity-level accessories placed on any vehicle model at render time (plain numpy; the Blender side is
synth/blender/accessories.py): today a roof box (cargo pod) on its cross bars.

An accessory belongs to an identity, not to a model (IdentityLook.roof_box), so two identities of one model
and colour can differ by it, as real vehicles do. It is placed from the model's keypoints (the windshield and
rear-window tops bound the roof), so it fits the procedural library and imported models alike. A sunroof
(IdentityLook.sunroof) is painted by the body's shader inside `sunroof_rect`.
"""
from __future__ import annotations

import numpy as np

from synth.vocabulary import KEYPOINT_NAMES

_WINDSHIELD_TOP = KEYPOINT_NAMES.index("left_windshield_top")
_REAR_WINDOW_TOP = KEYPOINT_NAMES.index("left_rear_window_top")
SUNROOF_PROP = "pamtri_sunroof"  # object property: the shown identity's sunroof_rect, for the paint shader
BAR_HEIGHT = 0.07  # the cross bars lift the box this far above the roof (m)


def rounded_box_mesh(rings: int = 12, around: int = 24, exponent: float = 0.25):
    """A closed superellipsoid filling x, y in [-0.5, 0.5], z in [0, 1]: flat-sided, round-edged, like a moulded
    roof box (its front a little lower than its back). Returns (vertices (N, 3), faces as index tuples)."""
    u = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)[1:-1]  # latitude, poles added apart
    v = np.linspace(-np.pi, np.pi, around, endpoint=False)

    def spow(a, e):
        return np.sign(a) * np.abs(a) ** e

    cu, su = spow(np.cos(u), exponent), spow(np.sin(u), exponent)
    cv, sv = spow(np.cos(v), exponent), spow(np.sin(v), exponent)
    x = 0.5 * su[:, None] * np.ones_like(v)[None]  # poles at the front and back ends (x)
    y = 0.5 * cu[:, None] * cv[None]
    z = 0.5 + 0.5 * cu[:, None] * sv[None]
    z = z * (1.0 - 0.15 * (x + 0.5))  # nose (+x) lower than the tail
    verts = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
    verts = np.vstack([verts, [[-0.5, 0.0, 0.5]], [[0.5, 0.0, 0.5 * 0.85]]])
    back, front = len(verts) - 2, len(verts) - 1
    faces = []
    for i in range(rings - 2):
        for j in range(around):
            a, b = i * around + j, i * around + (j + 1) % around
            faces.append((a, b, b + around, a + around))
    faces += [(back, (j + 1) % around, j) for j in range(around)]
    last = (rings - 2) * around
    faces += [(front, last + j, last + (j + 1) % around) for j in range(around)]
    return verts, faces


def roof_span(keypoints: np.ndarray) -> tuple[float, float, float]:
    """(rear x, front x, half width) of the roof between the rear-window and windshield tops (vehicle frame)."""
    kp = np.asarray(keypoints, np.float64)
    front, rear = kp[_WINDSHIELD_TOP], kp[_REAR_WINDOW_TOP]
    half = 0.5 * (abs(front[1]) + abs(rear[1]))
    return float(rear[0]), float(front[0]), float(half)


def roof_box_frame(keypoints: np.ndarray, roof_box, roof_z: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre of the box's base (x, y, z) and its size (length, width, height) for IdentityLook.roof_box =
    (length fraction, width fraction, height m, shade) on a roof whose top is at `roof_z`."""
    length_frac, width_frac, height = (float(v) for v in roof_box[:3])
    x_rear, x_front, half = roof_span(keypoints)
    length = length_frac * (x_front - x_rear)
    centre_x = x_rear + 0.45 * (x_front - x_rear)  # boxes sit a little rearward of the roof's middle
    return (np.array([centre_x, 0.0, roof_z + BAR_HEIGHT]),
            np.array([length, 2.0 * half * width_frac, height]))


def sunroof_rect(keypoints: np.ndarray, sunroof) -> tuple[float, float, float]:
    """(rear x, front x, half width) of IdentityLook.sunroof = (start, length, width fractions) on the roof
    between the windshield and rear-window tops (vehicle frame); (0, 0, 0) for none."""
    if not sunroof:
        return 0.0, 0.0, 0.0
    start, length, width = (float(v) for v in sunroof)
    x_rear, x_front, half = roof_span(keypoints)
    front = x_front - start * (x_front - x_rear)
    return front - length * (x_front - x_rear), front, width * half


def box_corners(base_centre: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The 8 corners of the box with this base centre and size (what the amodal bounding box must contain)."""
    sx, sy, sz = size
    return np.array([[base_centre[0] + dx * sx / 2, base_centre[1] + dy * sy / 2, base_centre[2] + dz * sz]
                     for dx in (-1, 1) for dy in (-1, 1) for dz in (0, 1)])
