"""The shared vocabulary of the toolkit: keypoints, body parts, segments, attributes, visibility.

Everything here is plain numpy, so synth/, train/ and eval/ can import it without pulling in Blender or
torch.

Conventions: pixel coordinates are x right, y down, with pixel centres at integer coordinates.
"""
from __future__ import annotations

import numpy as np

# --- keypoints ---------------------------------------------------------------------------------------------

NUM_KEYPOINTS = 36
NUM_SIDE = 18  # keypoints 0-17 lie on the vehicle's left (+y), i + 18 is the same part on the right

_SIDE_PARTS = (
    "rear_wheel_centre",
    "front_wheel_centre",
    "front_arch_bottom_front",
    "front_arch_upper_front",
    "front_arch_upper_rear",
    "front_arch_bottom_rear",
    "rear_arch_bottom_front",
    "rear_arch_upper_front",
    "rear_arch_upper_rear",
    "rear_arch_bottom_rear",
    "rear_lower_corner",
    "rear_upper_corner",
    "rear_window_bottom",
    "rear_window_top",
    "windshield_top",
    "windshield_bottom",
    "front_upper_corner",
    "front_lower_corner",
)
KEYPOINT_NAMES: tuple[str, ...] = tuple(f"left_{p}" for p in _SIDE_PARTS) + tuple(f"right_{p}" for p in _SIDE_PARTS)

FLIP_PAIRS: tuple[tuple[int, int], ...] = tuple((i, i + NUM_SIDE) for i in range(NUM_SIDE))
# FLIP_INDEX[i] is the keypoint that i becomes under a horizontal mirror.
FLIP_INDEX = np.concatenate([np.arange(NUM_SIDE, NUM_KEYPOINTS), np.arange(NUM_SIDE)])

BODY_PARTS: dict[str, tuple[int, ...]] = {
    "wheel": (0, 1, 18, 19),
    "fender": tuple(range(2, 10)) + tuple(range(20, 28)),
    "rear": (10, 11, 28, 29),
    "front": (16, 17, 34, 35),
    "rear_window": (12, 13, 30, 31),
    "front_window": (14, 15, 32, 33),
}

# --- segments ----------------------------------------------------------------------------------------------

SEGMENT_NAMES: tuple[str, ...] = (
    "left_front_quarter",
    "left_middle",
    "left_rear_quarter",
    "right_front_quarter",
    "right_middle",
    "right_rear_quarter",
    "rear_face",
    "rear_deck",
    "rear_window",
    "roof",
    "windshield",
    "hood",
    "front_face",
)
SEGMENT_POLYGONS: tuple[tuple[int, int, int, int], ...] = (
    (5, 15, 16, 17),
    (5, 6, 12, 15),
    (6, 10, 11, 12),
    (23, 33, 34, 35),
    (23, 24, 30, 33),
    (24, 28, 29, 30),
    (10, 11, 29, 28),
    (11, 12, 30, 29),
    (12, 13, 31, 30),
    (13, 14, 32, 31),
    (14, 15, 33, 32),
    (15, 16, 34, 33),
    (16, 17, 35, 34),
)
NUM_SEGMENTS = len(SEGMENT_POLYGONS)


def _segment_flip_index() -> np.ndarray:
    """The segment each segment becomes under a mirror: the one whose polygon is its polygon's mirror."""
    by_vertex_set = {frozenset(p): s for s, p in enumerate(SEGMENT_POLYGONS)}
    return np.array([by_vertex_set[frozenset(int(FLIP_INDEX[k]) for k in p)] for p in SEGMENT_POLYGONS])


SEGMENT_FLIP_INDEX = _segment_flip_index()

# --- attributes (VeRi ids: 1-based in files, 0 = unknown) ---------------------------------------------------

COLOR_NAMES: tuple[str, ...] = (
    "unknown", "yellow", "orange", "green", "gray", "red", "blue", "white", "golden", "brown", "black",
)
TYPE_NAMES: tuple[str, ...] = (
    "unknown", "sedan", "suv", "van", "hatchback", "mpv", "pickup", "bus", "truck", "estate",
)
COLOR_IDS = {name: i for i, name in enumerate(COLOR_NAMES)}
TYPE_IDS = {name: i for i, name in enumerate(TYPE_NAMES)}
NUM_COLORS = len(COLOR_NAMES) - 1
NUM_TYPES = len(TYPE_NAMES) - 1

# --- visibility codes --------------------------------------------------------------------------------------

VIS_OUTSIDE = 0  # not in the image: outside the frame, behind the camera, or not labelled
VIS_OCCLUDED = 1  # inside the frame but hidden by the vehicle itself or another object
VIS_VISIBLE = 2
VISIBILITY_NAMES = ("outside", "occluded", "visible")


def pamtri_visible(visibility: np.ndarray) -> np.ndarray:
    """PAMTRI's binary visibility flag (1 visible / 0 not) from our 3-state codes."""
    return (np.asarray(visibility) == VIS_VISIBLE).astype(np.int64)


# --- flipping ----------------------------------------------------------------------------------------------


def flip_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror keypoints (..., 36, C>=2) horizontally in an image `width` pixels wide, swapping left/right pairs.

    With pixel centres at integers the mirror of x is width - 1 - x. Columns past x, y (visibility or
    confidence) travel with their keypoint.
    """
    keypoints = np.asarray(keypoints)
    if keypoints.shape[-2] != NUM_KEYPOINTS:
        raise ValueError(f"expected {NUM_KEYPOINTS} keypoints on axis -2, got shape {keypoints.shape}")
    flipped = keypoints[..., FLIP_INDEX, :].copy()
    flipped[..., 0] = (width - 1) - flipped[..., 0]
    return flipped


def flip_keypoint_channels(channels: np.ndarray) -> np.ndarray:
    """Mirror per-keypoint maps (..., 36, H, W): swap left/right channels and flip each map horizontally."""
    return np.ascontiguousarray(channels[..., FLIP_INDEX, :, ::-1])


def flip_segment_channels(channels: np.ndarray) -> np.ndarray:
    """Mirror segment masks (..., 13, H, W): swap left/right segments and flip each mask horizontally."""
    return np.ascontiguousarray(channels[..., SEGMENT_FLIP_INDEX, :, ::-1])


# --- segments from keypoints -------------------------------------------------------------------------------

SEGMENT_CONFIDENCE_GATE = 0.5


def is_convex_polygon(points: np.ndarray) -> bool:
    """True when the polygon, taken in the given vertex order, is strictly convex (no self-intersection,
    no reflex or degenerate corner). Either winding is accepted."""
    points = np.asarray(points, dtype=np.float64)
    if not np.all(np.isfinite(points)):
        return False
    edges = np.roll(points, -1, axis=0) - points
    nxt = np.roll(edges, -1, axis=0)
    cross = edges[:, 0] * nxt[:, 1] - edges[:, 1] * nxt[:, 0]
    if np.any(np.abs(cross) < 1e-9):
        return False
    if not (np.all(cross > 0) or np.all(cross < 0)):
        return False
    # A convex polygon turns through exactly one full circle; a star-shaped self-intersection turns twice.
    angles = np.arctan2(cross, np.sum(edges * nxt, axis=1))
    return bool(abs(abs(angles.sum()) - 2 * np.pi) < 1e-6)


def rasterise_segments(
    keypoints: np.ndarray,
    out_hw: tuple[int, int],
    image_hw: tuple[int, int] | None = None,
    confidence_gate: float = SEGMENT_CONFIDENCE_GATE,
) -> np.ndarray:
    """The 13 segment masks (13, H, W) uint8 in {0, 1} from keypoints (36, 3): x, y, confidence.

    A segment is blank when any of its four keypoints has confidence below `confidence_gate`, or when its
    polygon is not convex in the listed order. Keypoints are in image pixels; `image_hw` (defaults
    to `out_hw`) says how the image maps onto the output grid, using the pixel-centre convention.
    For ground-truth keypoints pass visibility > 0 (or == 2) as the confidence column.
    """
    import cv2

    keypoints = np.asarray(keypoints, dtype=np.float64)
    height, width = out_hw
    image_h, image_w = image_hw or out_hw
    sx, sy = width / image_w, height / image_h
    masks = np.zeros((NUM_SEGMENTS, height, width), dtype=np.uint8)
    xy = np.stack([(keypoints[:, 0] + 0.5) * sx - 0.5, (keypoints[:, 1] + 0.5) * sy - 0.5], axis=1)
    confidence = np.nan_to_num(keypoints[:, 2], nan=0.0)
    shift = 4  # cv2 fixed-point vertices: 1/16 px, so small masks keep sub-pixel shape
    for s, polygon in enumerate(SEGMENT_POLYGONS):
        idx = list(polygon)
        if np.any(confidence[idx] < confidence_gate) or not is_convex_polygon(xy[idx]):
            continue
        vertices = np.round(xy[idx] * (1 << shift)).astype(np.int32)
        cv2.fillConvexPoly(masks[s], vertices, 1, lineType=cv2.LINE_8, shift=shift)
    return masks


# --- heatmaps ----------------------------------------------------------------------------------------------


def image_to_heatmap_coords(xy: np.ndarray, image_hw: tuple[int, int], heatmap_hw: tuple[int, int]) -> np.ndarray:
    """Map image pixel coordinates to heatmap pixel coordinates (both pixel-centre conventions)."""
    xy = np.asarray(xy, dtype=np.float64)
    scale = np.array([heatmap_hw[1] / image_hw[1], heatmap_hw[0] / image_hw[0]])
    return (xy + 0.5) * scale - 0.5


def heatmap_to_image_coords(xy: np.ndarray, image_hw: tuple[int, int], heatmap_hw: tuple[int, int]) -> np.ndarray:
    """Inverse of `image_to_heatmap_coords`."""
    xy = np.asarray(xy, dtype=np.float64)
    scale = np.array([image_hw[1] / heatmap_hw[1], image_hw[0] / heatmap_hw[0]])
    return (xy + 0.5) * scale - 0.5


def render_heatmaps(
    keypoints: np.ndarray,
    heatmap_hw: tuple[int, int],
    image_hw: tuple[int, int],
    sigma: float = 2.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian heatmaps (36, H, W) float32 with peak 1 at each keypoint's sub-pixel position.

    `keypoints` (36, >=2) are image pixels; `sigma` is in heatmap pixels. Keypoints with non-finite
    coordinates, or where `mask` is False, get an all-zero map.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    height, width = heatmap_hw
    centres = image_to_heatmap_coords(keypoints[:, :2], image_hw, heatmap_hw)
    valid = np.all(np.isfinite(centres), axis=1)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    centres = np.where(valid[:, None], centres, 0.0)
    gx = np.exp(-((np.arange(width)[None, :] - centres[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((np.arange(height)[None, :] - centres[:, 1:2]) ** 2) / (2 * sigma**2))
    maps = gy[:, :, None] * gx[:, None, :]
    maps[~valid] = 0.0
    return maps.astype(np.float32)
