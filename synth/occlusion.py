"""What stands between the camera and the vehicle or around it: 3D occluders (poles, signs, other vehicles,
railings, vegetation), other vehicles of the road (traffic) and pasted 2D patches, as plain descriptions drawn
from a sample's generator (synth/scene.py calls these samplers in a fixed order). Pure numpy; the Blender
backend builds them (synth/blender/occluders.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.camera import NOMINAL_FOCAL, box_of, camera_centre, intrinsics, project, spherical_position
from synth.config import Config
from synth.sampling import Range, uniform

@dataclass
class OccluderConfig(Config):
    # Probability that a sample has 3D occluders. Real VeRi crops are rarely occluded (roof corners are marked
    # visible in 99.8% of them): kept low so the defaults resemble the real data, raise it for robustness.
    prob: float = 0.06
    max_count: int = 2
    # What stands between a roadside camera and a vehicle: street-light and signal poles, road signs, other
    # vehicles (drawn from the model library, in their own paint), guard rails and pedestrian railings, trees
    # and bushes.
    kinds: dict = field(default_factory=lambda: {"pole": 1.0, "sign": 1.0, "vehicle": 1.5, "railing": 0.8,
                                                 "vegetation": 1.0})
    along_ray: Range = (0.55, 0.92)  # where on the camera-to-vehicle line of sight (0 camera, 1 vehicle)
    # a sample whose occluders would leave less of the vehicle's silhouette in sight goes without them
    min_visible: float = 0.35


@dataclass
class TrafficConfig(Config):
    # Other vehicles of the same road in the crop, as a detector's tight box shows them: the one behind in the
    # lane (above or beside the vehicle from a raised camera), one in the next lane. Only places farther from
    # the camera than the vehicle are used: a crop picked for ReID rarely has a car in front of its subject.
    # (each costs ~60-80 ms of render CPU where it comes: the default keeps the image budget, 0.40 CPU-s)
    prob: float = 0.2
    max_count: int = 1
    gap: Range = (1.0, 5.0)  # bumper to bumper along the lane, m
    lane_width: Range = (3.2, 3.8)


@dataclass
class Occlusion2DConfig(Config):
    prob: float = 0.04  # probability of a pasted occluder (a patch of another background or a flat shape)
    size: Range = (0.2, 0.55)  # patch side as a fraction of the vehicle box side
    max_count: int = 2


OCCLUDER_KINDS = ("pole", "sign", "vehicle", "railing", "vegetation")


@dataclass
class Occluder:
    kind: str  # one of OCCLUDER_KINDS
    position: tuple[float, float]  # ground point (x, y)
    yaw: float  # degrees
    # kind-specific: pole (radius, height, 1 with a street-light arm else 0), sign (panel w, panel h, height),
    # vehicle (length, width, height of its model), railing (length, height, 1 guard rail else pedestrian
    # railing), vegetation (radius, height, trunk 0/1)
    size: tuple[float, float, float]
    color: tuple[float, float, float]  # linear RGB
    model: int = -1  # vehicle: index of the library model drawn (never the sample's own model when others exist)
    variant: int = 0  # sign: which printed face (the backend takes it modulo the faces it has)


@dataclass
class Patch2D:
    shape: str  # rect, ellipse, polygon
    centre: tuple[float, float]  # relative to the vehicle box: (0, 0) = box centre, +-0.5 = box edges
    size: tuple[float, float]  # fraction of the box side (w, h)
    angle: float
    fill: str  # background (a crop of a background) or flat
    color: tuple[float, float, float]  # sRGB 0-1 for flat fills
    seed: int
    side: int = -1  # the image edge it reaches in from (0 left, 1 top, 2 right, 3 bottom); -1: none


def sample_occluders(oc: OccluderConfig, rng, models, model_index: int, azimuth, elevation, distance,
                      aim) -> list[Occluder]:
    unknown = sorted(set(oc.kinds) - set(OCCLUDER_KINDS))
    if unknown:
        raise ValueError(f"occluders.kinds: unknown kind(s) {unknown}; known: {list(OCCLUDER_KINDS)}")
    if oc.max_count < 1 or rng.random() >= oc.prob:
        return []
    model = models[model_index]
    cam = spherical_position(azimuth, elevation, distance) + np.asarray(aim)
    half_l = float(model.dimensions.get("length", 4.5)) / 2
    half_w = float(model.dimensions.get("width", 1.8)) / 2
    kinds = list(oc.kinds)
    weights = np.array([oc.kinds[k] for k in kinds], np.float64)
    out = []
    for _ in range(int(rng.integers(1, oc.max_count + 1))):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        other = model_index
        if kind == "vehicle":  # another vehicle of the library, never a twin of the one in the picture
            others = [i for i in range(len(models)) if i != model_index] or [model_index]
            other = int(others[int(rng.integers(len(others)))])
        target = np.array([rng.uniform(-half_l, half_l), rng.uniform(-half_w, half_w), 0.0])
        t = uniform(rng, oc.along_ray)
        # Walk towards the camera until the occluder's footprint clears the vehicle's (with its own size). A
        # railing runs along the road (the vehicle's x axis): only its distance across the road counts.
        reach = {"pole": 0.3, "sign": 0.5, "vehicle": 1.2, "railing": 0.3, "vegetation": 1.2}[kind]
        reach_x = np.inf if kind == "railing" else reach
        reach_y = reach
        if kind == "vehicle":  # it stands roughly parallel to the vehicle (same road, either direction)
            dims = models[other].dimensions
            reach_x = float(dims.get("length", 4.5)) / 2 + 0.3
            reach_y = float(dims.get("width", 1.8)) / 2 + 0.3
        for _ in range(40):
            p = cam + t * (target - cam)
            if abs(p[0]) > half_l + reach_x or abs(p[1]) > half_w + reach_y:
                break
            t -= 0.03
        if t <= 0.1:
            continue
        yaw = float(rng.uniform(0, 360))
        if kind == "pole":
            size = (rng.uniform(0.05, 0.14), rng.uniform(3.5, 8.0), float(rng.random() < 0.5))
            color = tuple(rng.uniform(0.05, 0.5) * np.ones(3) * rng.uniform(0.9, 1.1, 3))
        elif kind == "sign":
            size = (rng.uniform(0.5, 1.4), rng.uniform(0.4, 1.0), rng.uniform(1.6, 3.2))
            color = tuple(rng.choice([[0.6, 0.01, 0.01], [0.01, 0.08, 0.4], [0.7, 0.6, 0.02], [0.02, 0.25, 0.05],
                                      [0.75, 0.75, 0.75]]))
        elif kind == "vehicle":
            dims = models[other].dimensions
            size = (dims.get("length", 4.5), dims.get("width", 1.8), dims.get("height", 1.5))
            yaw = float(rng.normal(0, 6) + (180.0 if rng.random() < 0.3 else 0.0))
            color = tuple(rng.uniform(0.01, 0.7) * rng.uniform(0.6, 1.0, 3))
        elif kind == "railing":
            guard = float(rng.random() < 0.6)
            size = (rng.uniform(8.0, 14.0), rng.uniform(0.7, 0.8) if guard else rng.uniform(0.95, 1.15), guard)
            yaw = float(rng.normal(0, 3) + (180.0 if rng.random() < 0.5 else 0.0))
            color = tuple(np.array([0.45, 0.46, 0.47]) * rng.uniform(0.7, 1.2) if guard
                          else rng.choice([[0.02, 0.1, 0.04], [0.4, 0.4, 0.4], [0.3, 0.02, 0.02], [0.6, 0.6, 0.6]]))
        else:
            size = (rng.uniform(0.5, 1.6), rng.uniform(0.8, 4.5), float(rng.random() < 0.5))
            color = (rng.uniform(0.02, 0.08), rng.uniform(0.08, 0.2), rng.uniform(0.01, 0.05))
        out.append(Occluder(kind=kind, position=(float(p[0]), float(p[1])), yaw=yaw,
                            size=tuple(float(v) for v in size), color=tuple(float(v) for v in color),
                            model=other if kind == "vehicle" else -1,
                            variant=int(rng.integers(2**31)) if kind == "sign" else 0))
    return out


def sample_traffic(tc: TrafficConfig, rng, models, model_index: int, occluders, camera) -> list[Occluder]:
    """Up to `max_count` other library vehicles in the lane behind or ahead and in the next lanes, each a
    model not otherwise in the picture, in its own paint. A place is used only where the vehicle there stands
    farther from the camera (`camera`: world-to-camera [R|t]) than the pictured one and shows in its crop:
    one outside the picture would cost render time for nothing."""
    if tc.max_count < 1 or rng.random() >= tc.prob:
        return []
    dims = models[model_index].dimensions
    window = _image_box(camera, 0.0, 0.0, 0.0, *(float(dims.get(k, v)) for k, v in
                                                  (("length", 4.5), ("width", 1.8), ("height", 1.5))), margin=0.1)
    cam = camera_centre(camera)[:2]
    half_l = float(dims.get("length", 4.5)) / 2
    taken = {model_index} | {o.model for o in occluders if o.kind == "vehicle"}
    out = []
    for _ in range(int(rng.integers(1, tc.max_count + 1))):
        others = [i for i in range(len(models)) if i not in taken]
        if not others:
            break
        other = int(others[int(rng.integers(len(others)))])
        size = tuple(float(models[other].dimensions.get(k, v)) for k, v in
                     (("length", 4.5), ("width", 1.8), ("height", 1.5)))
        along = half_l + uniform(rng, tc.gap) + size[0] / 2
        lane = uniform(rng, tc.lane_width)
        oncoming = rng.random() < 0.3
        places = [(-along, 0.0, 0.0), (along, 0.0, 0.0)] + [
            (rng.uniform(-along, along), side * lane, 180.0 if oncoming else 0.0) for side in (-1, 1)]
        seen = []
        for x, y, yaw in places:
            if np.hypot(x - cam[0], y - cam[1]) < np.hypot(*cam) + size[0] / 2:
                continue  # nearer the camera: it would stand in front of the vehicle
            if any(abs(x - o.position[0]) < (size[0] + o.size[0]) / 2 + 0.5 and abs(y - o.position[1]) < lane / 2
                   for o in out):
                continue  # taken
            box = _image_box(camera, x, y, yaw, *size)
            shared_w = min(box[2], window[2]) - max(box[0], window[0])
            shared_h = min(box[3], window[3]) - max(box[1], window[1])
            if shared_w > 0 and shared_h > 0 and shared_w * shared_h > 0.03 * (window[2] - window[0]) * (
                    window[3] - window[1]):  # enough of it in the crop to matter
                seen.append((x, y, yaw))
        if not seen:
            continue
        x, y, yaw = seen[int(rng.integers(len(seen)))]
        out.append(Occluder(kind="vehicle", position=(float(x), float(y)), yaw=float(yaw + rng.normal(0, 3)),
                            size=size, model=other,
                            color=tuple(float(v) for v in rng.uniform(0.01, 0.7) * rng.uniform(0.6, 1.0, 3))))
        taken.add(other)
    return out


def _image_box(camera, x: float, y: float, yaw: float, length: float, width: float, height: float,
                 margin: float = 0.0) -> np.ndarray:
    """(x0, y0, x1, y1) in the nominal camera's image of a length x width x height box standing at (x, y) with
    heading `yaw` (degrees), widened by `margin` of its size on each side."""
    c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    u, v, w = np.meshgrid([-0.5, 0.5], [-0.5, 0.5], [0.0, 1.0], indexing="ij")
    local = np.stack([u.ravel() * length, v.ravel() * width, w.ravel() * height], axis=1)
    world = np.stack([x + local[:, 0] * c - local[:, 1] * s, y + local[:, 0] * s + local[:, 1] * c, local[:, 2]], 1)
    uv, depth = project(intrinsics(NOMINAL_FOCAL, 0.0, 0.0), camera, world)
    if (depth <= 0).any():
        return np.array([np.inf, np.inf, -np.inf, -np.inf])
    box = box_of(uv)
    pad = margin * np.array([-(box[2] - box[0]), -(box[3] - box[1]), box[2] - box[0], box[3] - box[1]])
    return box + pad


def _occluder_colour(u: np.ndarray) -> tuple[float, float, float]:
    """sRGB of a thing that stands in front of a vehicle (a pole, a sign's back, a coat, a bin) from three
    uniform draws: any hue, mostly muted (saturated primaries looked pasted on), any lightness but the extremes."""
    hue, sat, val = u[0], 0.4 * u[1] ** 2, 0.12 + 0.72 * u[2]
    rgb = np.clip(np.abs((hue * 6 + np.array([0.0, 4.0, 2.0])) % 6 - 3) - 1, 0, 1)
    return tuple(float(v) for v in val * (1 - sat + sat * rgb))


def sample_patches(pc: Occlusion2DConfig, rng) -> list[Patch2D]:
    if pc.max_count < 1 or rng.random() >= pc.prob:
        return []
    out = []
    for _ in range(int(rng.integers(1, pc.max_count + 1))):
        side = int(rng.integers(4))
        # Patches enter from a box edge, as a real occluder does (a pedestrian, a car in front).
        along, depth = rng.uniform(-0.5, 0.5), rng.uniform(0.25, 0.55)
        centre = [(-depth, along), (along, -depth), (depth, along), (along, depth)][side]
        out.append(Patch2D(
            shape=str(rng.choice(["rect", "ellipse", "polygon"])), centre=(float(centre[0]), float(centre[1])),
            size=(uniform(rng, pc.size), uniform(rng, pc.size)), angle=float(rng.uniform(-30, 30)),
            fill=str(rng.choice(["background", "flat"])), color=_occluder_colour(rng.uniform(0, 1, 3)),
            seed=int(rng.integers(2**31)), side=side,
        ))
    return out
