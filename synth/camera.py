"""Camera math for the renderer: poses, intrinsics, projection, crops, and the Blender camera parameters that
reproduce a given K exactly. Pure numpy (conventions below).

Conventions: world = the vehicle frame (x forward, y left, z up, metres). Camera frame = OpenCV (x right,
y down, z forward). Pixel centres at integer coordinates, so an image W pixels wide spans x in [-0.5, W - 0.5).
`Rt` is world-to-camera. Blender's camera looks down its -z with y up: its matrix_world is the inverse of
diag(1, -1, -1) @ Rt, which `blender_matrix_world` builds.
"""
from __future__ import annotations

import numpy as np

BLENDER_FROM_CV = np.diag([1.0, -1.0, -1.0])
SENSOR_WIDTH_MM = 36.0


def spherical_position(azimuth_deg: float, elevation_deg: float, distance: float) -> np.ndarray:
    """Camera position around the origin: azimuth 0 = in front of the vehicle (+x), 90 = on its left (+y),
    elevation = angle above the ground plane."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def look_at(position: np.ndarray, target: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """World-to-camera [R|t] (3x4, OpenCV frame) of a camera at `position` looking at `target`, level with
    the ground up to `roll_deg` (rotation about the viewing axis, positive = clockwise in the image)."""
    position = np.asarray(position, np.float64)
    forward = np.asarray(target, np.float64) - position
    forward /= np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:  # looking straight down: any right vector will do
        right = np.array([0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    if roll_deg:
        c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R
    t = -R @ position
    return np.concatenate([R, t[:, None]], axis=1)


def camera_centre(Rt: np.ndarray) -> np.ndarray:
    R, t = Rt[:, :3], Rt[:, 3]
    return -R.T @ t


def project(K: np.ndarray, Rt: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N, 2) and camera-frame depths (N,) of world points (N, 3). Points behind the
    camera get NaN coordinates."""
    points = np.asarray(points, np.float64)
    cam = points @ Rt[:, :3].T + Rt[:, 3]
    depth = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = cam @ np.asarray(K, np.float64).T
        uv = uvw[:, :2] / uvw[:, 2:3]
    uv[depth <= 1e-6] = np.nan
    return uv, depth


def pixel_rays(K: np.ndarray, Rt: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """World-frame directions (..., 3) of the rays through pixel positions uv (..., 2), scaled so that the point
    camera_centre(Rt) + s * ray lies at camera-frame depth s (the inverse of `project`)."""
    uv = np.asarray(uv, np.float64)
    cam = np.stack([(uv[..., 0] - K[0, 2]) / K[0, 0], (uv[..., 1] - K[1, 2]) / K[1, 1], np.ones(uv.shape[:-1])], -1)
    return cam @ Rt[:, :3]  # R^T d for each ray


def ground_points(K: np.ndarray, Rt: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the rays through pixel positions uv (..., 2) meet the ground plane z = 0: world points (..., 3), and
    whether each ray heads down at all (..., bool; the points of those that do not are meaningless)."""
    rays = pixel_rays(K, Rt, uv)
    origin = camera_centre(Rt)
    down = rays[..., 2] < -1e-6
    reach = -origin[2] / np.where(down, rays[..., 2], -1.0)
    return origin + reach[..., None] * rays, down


def intrinsics(f: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def crop_intrinsics(K: np.ndarray, x0: float, y0: float, side: float, out_size: int) -> np.ndarray:
    """Intrinsics of the square window [x0, x0 + side) x [y0, y0 + side) (edges of the source image's pixel
    grid, i.e. x0 = -0.5 is the left edge of pixel 0) resampled to out_size x out_size pixels."""
    s = out_size / side
    K2 = np.array(K, np.float64)
    K2[0, 0] *= s
    K2[1, 1] *= s
    K2[0, 1] *= s
    K2[0, 2] = (K[0, 2] - x0) * s - 0.5
    K2[1, 2] = (K[1, 2] - y0) * s - 0.5
    return K2


def rescale_intrinsics(K: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """K of the same view resampled from a from_size square image to a to_size one (pixel-centre convention)."""
    return crop_intrinsics(K, -0.5, -0.5, from_size, to_size)


def rescale_points(xy: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    s = to_size / from_size
    return (np.asarray(xy, np.float64) + 0.5) * s - 0.5


def blender_camera_params(K: np.ndarray, width: int, height: int, sensor_width: float = SENSOR_WIDTH_MM) -> dict:
    """Blender camera data (lens, sensor, shift; sensor_fit HORIZONTAL) that renders exactly intrinsics K in a
    width x height image. K must have square pixels and no skew."""
    if abs(K[0, 0] - K[1, 1]) > 1e-6 * K[0, 0] or abs(K[0, 1]) > 1e-9:
        raise ValueError("Blender cameras have square pixels and no skew")
    view = float(width)  # horizontal sensor fit
    return {
        "lens": float(K[0, 0]) * sensor_width / view,
        "sensor_width": sensor_width,
        "sensor_fit": "HORIZONTAL",
        "shift_x": ((width - 1) / 2 - float(K[0, 2])) / view,
        "shift_y": (float(K[1, 2]) - (height - 1) / 2) / view,
    }


def intrinsics_from_blender(lens: float, sensor_width: float, sensor_height: float, sensor_fit: str,
                            shift_x: float, shift_y: float, width: int, height: int) -> np.ndarray:
    """K of a Blender camera: resolve sensor fit, f = lens * view / sensor, principal point from shift."""
    fit = sensor_fit if sensor_fit != "AUTO" else ("HORIZONTAL" if width >= height else "VERTICAL")
    view, sensor = (width, sensor_width) if fit == "HORIZONTAL" else (height, sensor_height)
    if sensor_fit == "AUTO":
        sensor = sensor_width
    f = lens * view / sensor
    return intrinsics(f, (width - 1) / 2 - shift_x * view, (height - 1) / 2 + shift_y * view)


def blender_matrix_world(Rt: np.ndarray) -> np.ndarray:
    """4x4 camera-to-world matrix of the Blender camera object that has world-to-camera extrinsics Rt."""
    R = BLENDER_FROM_CV @ Rt[:, :3]
    t = BLENDER_FROM_CV @ Rt[:, 3]
    M = np.eye(4)
    M[:3, :3] = R.T
    M[:3, 3] = -R.T @ t
    return M


def rt_from_blender_matrix_world(matrix_world: np.ndarray) -> np.ndarray:
    """Extrinsics from a Blender camera's matrix_world (normalized: scale removed)."""
    M = np.asarray(matrix_world, np.float64)
    R = M[:3, :3] / np.linalg.norm(M[:3, :3], axis=0, keepdims=True)
    inv = np.linalg.inv(np.block([[R, M[:3, 3:4]], [np.zeros((1, 3)), np.ones((1, 1))]]))
    return (BLENDER_FROM_CV @ inv[:3])


def box_of(points_2d: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1 of 2D points, ignoring NaNs."""
    p = np.asarray(points_2d)
    p = p[np.all(np.isfinite(p), axis=1)]
    return np.concatenate([p.min(axis=0), p.max(axis=0)])


def truncation_of(box: np.ndarray, image_hw) -> float:
    """Fraction of the box's area outside the image of `image_hw` (h, w; an int for a square one), which spans
    [-0.5, w - 0.5) x [-0.5, h - 0.5)."""
    h, w = (image_hw, image_hw) if np.isscalar(image_hw) else image_hw
    x0, y0, x1, y1 = box
    area = max(x1 - x0, 1e-9) * max(y1 - y0, 1e-9)
    ix = max(0.0, min(x1, w - 0.5) - max(x0, -0.5))
    iy = max(0.0, min(y1, h - 0.5) - max(y0, -0.5))
    return float(np.clip(1.0 - ix * iy / area, 0.0, 1.0))


NOMINAL_FOCAL = 1000.0  # the virtual traffic camera's focal length in its own (unbounded) pixel grid
FRAMINGS = ("box", "square")  # ImageConfig.framing


def frame_vehicle(sample, hull_points: np.ndarray, out_size: int, framing: str = "square") -> dict:
    """Camera and crop of one sample: the traffic camera looks at the vehicle (`sample` viewpoint) through a
    square window around the vehicle's amodal box (`hull_points`: world points whose projection bounds the
    silhouette) with the sample's margins and truncation. Returns Rt, the intrinsics K of the window at
    out_size x out_size, the render size (the crop's native resolution, at most out_size), K_render for
    rendering at that size, and `crop` (c0, r0, c1, r1): the columns and rows of the window that the output
    image keeps, the whole window with framing "square", else the margined box in it (its long side the whole
    window's, a truncated side cut where the window cuts it)."""
    Rt = look_at(sample.camera_position, np.asarray(sample.aim), sample.roll)
    K0 = intrinsics(NOMINAL_FOCAL, 0.0, 0.0)
    uv, _ = project(K0, Rt, hull_points)
    x0, y0, x1, y1 = box_of(uv)
    w, h = x1 - x0, y1 - y0
    ml, mt, mr, mb = sample.margin
    left, right, top, bottom = x0 - ml * w, x1 + mr * w, y0 - mt * h, y1 + mb * h
    side = max(right - left, bottom - top)
    wx0, wy0 = (left + right) / 2 - side / 2, (top + bottom) / 2 - side / 2
    cut = sample.truncation
    if sample.truncation_side == 0:
        wx0 = x0 + cut * w
    elif sample.truncation_side == 1:
        wy0 = y0 + cut * h
    elif sample.truncation_side == 2:
        wx0 = x1 - cut * w - side
    elif sample.truncation_side == 3:
        wy0 = y1 - cut * h - side
    render_size = int(min(sample.native_size, out_size))
    crop = (0, 0, out_size, out_size)
    if framing == "box":  # pixel edges of the margined box in the window, kept whole where they fall inside
        scale = out_size / side
        edges = np.clip(np.round([(left - wx0) * scale, (top - wy0) * scale, (right - wx0) * scale,
                                  (bottom - wy0) * scale]), 0, out_size).astype(int)
        c0, r0, c1, r1 = (int(e) for e in edges)
        crop = (c0, r0, max(c1, c0 + 1), max(r1, r0 + 1))
    elif framing != "square":
        raise ValueError(f"framing must be one of {list(FRAMINGS)}, got {framing!r}")
    return {
        "Rt": Rt,
        "K": crop_intrinsics(K0, wx0, wy0, side, out_size),
        "render_size": render_size,
        "K_render": crop_intrinsics(K0, wx0, wy0, side, render_size),
        "crop": crop,
    }


def crop_labels(labels: dict, K: np.ndarray, crop) -> tuple[dict, np.ndarray]:
    """Keypoints (x, y, code), the box and the intrinsics of an image moved into its crop (c0, r0, c1, r1)."""
    c0, r0 = crop[0], crop[1]
    keypoints = np.array(labels["keypoints"], dtype=np.float64)
    keypoints[:, 0] -= c0
    keypoints[:, 1] -= r0
    box = np.asarray(labels["box"], np.float64) - np.array([c0, r0, c0, r0], np.float64)
    K = np.array(K, dtype=np.float64)
    K[0, 2] -= c0
    K[1, 2] -= r0
    return {**labels, "keypoints": keypoints, "box": box}, K


def segment_box_entry(start: np.ndarray, end: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float | None:
    """Where the segment start-end enters the axis-aligned box [lo, hi], as a fraction of its length (0 when it
    starts inside), or None when it misses the box (slab test)."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    d = end - start
    t0, t1 = 0.0, 1.0
    for axis in range(3):
        if abs(d[axis]) < 1e-12:
            if not lo[axis] <= start[axis] <= hi[axis]:
                return None
            continue
        a, b = (lo[axis] - start[axis]) / d[axis], (hi[axis] - start[axis]) / d[axis]
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 > t1:
            return None
    return t0
