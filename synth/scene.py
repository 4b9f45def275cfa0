"""Typed render configuration and the seeded sampler: (config, seed, i) -> a plain description of sample i.

Everything a sample looks like is drawn here, from a generator seeded by (seed, i) alone, so any worker on
any machine renders the same sample i (docs/RENDER.md). The Blender backend and the compositor only carry the
description out. Pure numpy: testable without Blender.

Ranges are (low, high) pairs sampled uniformly unless the field says otherwise; angles in degrees, lengths in
metres, image sizes in pixels. docs/RENDER.md explains each group and why its defaults are what they are.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from synth.appearance import AppearanceConfig, IdentityLook, identity_look
from synth.camera import NOMINAL_FOCAL, box_of, camera_centre, intrinsics, look_at, project, spherical_position
from synth.config import Config
from synth.identities import Identity, IdentityConfig, IdentityPlan
from synth.shadows import CASTER_KINDS, sample_caster

Range = tuple[float, float]

# --- config ------------------------------------------------------------------------------------------------


@dataclass
class ImageConfig(Config):
    size: int = 256  # output images are size x size
    # The crop's resolution in the (virtual) traffic camera, log-uniform. Real VeRi crops are 95-415 px
    # (5th-95th percentile, median ~200); crops smaller than `size` are rendered small and upsampled, which
    # is the low-resolution look of real footage and saves render time.
    native_size: Range = (96.0, 380.0)
    margin: Range = (0.03, 0.15)  # crop margin around the amodal box, per side, as a fraction of its size
    truncation_prob: float = 0.03  # probability that the crop cuts the vehicle (real crops are detector boxes)
    truncation: Range = (0.05, 0.3)  # fraction of the box cut off when it does
    image_format: str = "jpeg"
    jpeg_quality: int = 94


@dataclass
class ViewpointConfig(Config):
    azimuth: Range = (0.0, 360.0)  # 0 = camera in front of the vehicle, 90 = on its left
    # Relative frequency of equal azimuth bins over that range (empty: uniform). The default is measured on the
    # real VeRi-776 keypoint labels (bench/realism.py --fit: the asset library's keypoints fitted to each real
    # image by PnP give its camera's azimuth; 15-degree bins): traffic cameras see passing vehicles from the front
    # or rear three-quarters and almost never from the side. A floor of 0.2 keeps every view present.
    azimuth_weights: tuple[float, ...] = (4.06, 3.31, 0.92, 0.40, 0.20, 0.20, 0.20, 0.20, 0.20, 1.12, 3.27, 2.67, 2.74,
                                          1.13, 0.29, 0.20, 0.20, 0.26, 0.26, 0.22, 0.20, 0.20, 0.42, 2.08)
    # Traffic cameras sit on poles and gantries: the same PnP fits put VeRi's cameras 8-27 degrees above the
    # vehicles (5-95%, median 15). Wider ranges (8-36, 10-40) left the realism figure unchanged.
    elevation: Range = (6.0, 28.0)
    distance: Range = (7.0, 30.0)  # camera to vehicle centre
    roll: Range = (-4.0, 4.0)
    aim_jitter: float = 0.3  # the camera aims at the vehicle centre plus this much noise (m, per axis)
    road_yaw_jitter: float = 12.0  # road direction relative to the vehicle (vehicles change lanes, turn)


@dataclass
class LightingConfig(Config):
    sun_elevation: Range = (12.0, 75.0)
    sun_azimuth: Range = (0.0, 360.0)
    # Clear days: the sun gives ~80 % of the light on a horizontal surface and the sky the rest (a sky as
    # bright as the sun flattens every body into one tone and greys out shadows); overcast: the sky alone.
    sun_strength: Range = (2.2, 6.0)  # W/m^2, Blender sun units
    sun_temperature: Range = (5000.0, 6800.0)  # kelvin, after the camera's white balance
    sun_angle: Range = (0.3, 2.0)  # angular diameter; larger = softer shadows
    sky_strength: Range = (0.12, 0.5)
    overcast_prob: float = 0.25  # sun nearly off, sky brighter: diffuse light, faint shadows
    # Clouds on clear days, seen only in reflections (windows, roofs, dark paint): the fraction of the upper sky
    # they hide, and their radiance relative to the sky at the horizon (a sunlit cloud is several times
    # brighter than blue sky)
    cloud_cover: Range = (0.0, 0.8)
    cloud_brightness: Range = (1.5, 3.0)
    # Shadows from casters outside the picture on clear days (synth/shadows.py): a row of trees, poles and
    # signs, a building's edge, across the road and the vehicle. Procedural backgrounds only: a real frame
    # has its own light.
    caster_prob: float = 0.35
    caster_kinds: dict = field(default_factory=lambda: {"canopy": 0.5, "poles": 0.3, "building": 0.2})
    caster_height: Range = (5.0, 10.0)  # the canopy's or the pole tops' height; a building's is 1.6x

    def __post_init__(self):
        unknown = sorted(set(self.caster_kinds) - set(CASTER_KINDS))
        weights = list(self.caster_kinds.values())
        if unknown or any(not isinstance(w, (int, float)) or w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError(f"caster_kinds: expected non-negative weights over {list(CASTER_KINDS)} "
                             f"with a positive sum, got {self.caster_kinds!r}")
    exposure: Range = (-0.6, 0.6)  # stops, around the metered exposure (metered_exposure)
    shadows: bool = True  # cast shadows on the ground (shadow catcher)


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


@dataclass
class EffectsConfig(Config):
    # the camera's own point spread (lens, demosaicing), in pixels of the crop's native resolution: every real
    # image has it, renders are pixel-sharp and, at 3 samples, jagged along silhouettes
    lens_blur: float = 0.5
    blur_prob: float = 0.35
    blur_sigma: Range = (0.3, 1.2)  # px at the output size
    motion_blur_prob: float = 0.1
    motion_blur_length: Range = (2.0, 6.0)
    noise_sigma: Range = (0.0, 4.0)  # 8-bit levels
    jpeg_prob: float = 0.7
    jpeg_quality: Range = (35.0, 92.0)
    color_cast: float = 0.07  # white-balance error: spread of the blue-amber shift (a third of it green-magenta)
    gamma: Range = (0.85, 1.15)
    contrast: Range = (0.85, 1.15)
    # traffic cameras render colour muted (small sensors, haze, strong compression): a pure CG paint at full
    # chroma is the first thing that reads as a toy
    saturation: Range = (0.6, 1.0)


@dataclass
class BackgroundConfig(Config):
    real_prob: float = 0.85  # with --backgrounds: fraction of samples on real frames (the rest procedural)
    crop_scale: Range = (0.15, 0.6)  # a real frame's crop side as a fraction of its short side
    num_cameras: int = 24  # virtual cameras: each has its own background source and height band (camera_id)


@dataclass
class QualityConfig(Config):
    # 3 samples + OpenImageDenoise (its FAST mode) is the cheapest setting without visible noise at 256 px;
    # bench/render_throughput.py compares it with a 64-sample reference.
    samples: int = 3  # Cycles path samples per pixel
    denoise: str = "oidn"  # oidn (OpenImageDenoise, fast mode), oidn_high (its best mode, in Cycles), none
    max_bounces: int = 3
    device: str = "auto"  # auto (GPU via OptiX/CUDA when present, else CPU), cpu, gpu
    threads: int = 2  # Cycles (and OIDN) threads per worker; with one worker per core, 2 measured cheaper than 1
    # On the CPU, denoise with an OIDN filter the worker keeps (Cycles' own denoiser spends most of its time
    # setting up per image); false: Cycles' denoiser. Same network and settings either way.
    denoise_in_worker: bool = True
    # Cycles could keep its scene between images, but then an image depends on which images the worker
    # rendered before (object order), and for these small scenes it saves nothing measurable.
    persistent_data: bool = False


@dataclass
class AnnotatorConfig(Config):
    """How VeRi-776's annotators mark visibility, as far as their labels show it (docs/RENDER.md, "Realism"):
    the rules behind the `annotator_visibility` codes written beside the geometric ones (synth/annotation.py).
    The numbers are read off the real labels."""

    enabled: bool = True  # write `annotator_visibility`; the geometric codes in `keypoints` are written always
    always_visible: tuple[int, ...] = (13, 14, 31, 32)  # roof corners: 99.8-100% visible in the real labels
    end_faces: bool = True  # the front (rear) face's corners, whenever that face is towards the camera
    # the four corners of the side turned to the camera: 94-100 % visible in the real labels when that side
    # faces the camera, while a curved plan hides the far ends' corners behind the side's bulge
    side_faces: bool = True
    self_tolerance: float = 0.3  # m of the vehicle's own body in front of a keypoint along the line of sight
    # degrees off the vehicle's axis within which the upper and end points of the wheel arches next to the
    # front (rear) face count on both sides: where the real rate of the far side's ones falls below one half
    end_arches: tuple[float, float] = (30.0, 20.0)


@dataclass
class RenderConfig(Config):
    image: ImageConfig = field(default_factory=ImageConfig)
    viewpoint: ViewpointConfig = field(default_factory=ViewpointConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    occluders: OccluderConfig = field(default_factory=OccluderConfig)
    occlusion2d: Occlusion2DConfig = field(default_factory=Occlusion2DConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    identities: IdentityConfig = field(default_factory=IdentityConfig)
    annotator: AnnotatorConfig = field(default_factory=AnnotatorConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)  # paint, plates, marks
    shard_size: int = 1000
    recycle_every: int = 400  # a worker process is replaced after rendering this many images (flat memory)


# --- scene description -------------------------------------------------------------------------------------


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


@dataclass
class SceneSample:
    index: int
    seed: int  # per-sample seed (int64), also stored in the shard
    split: str
    camera_id: int
    identity: Identity
    # viewpoint
    azimuth: float
    elevation: float
    distance: float
    roll: float
    aim: tuple[float, float, float]  # point the camera looks at
    road_yaw: float
    # crop
    native_size: int
    margin: tuple[float, float, float, float]  # left, top, right, bottom, fractions of the box size
    truncation_side: int  # -1 none, else 0 left, 1 top, 2 right, 3 bottom
    truncation: float
    # light
    sun_elevation: float
    sun_azimuth: float
    sun_strength: float
    sun_temperature: float
    sun_angle: float
    sky_strength: float
    sky_color: tuple[float, float, float]
    ground_color: tuple[float, float, float]
    exposure: float
    shadows: bool
    cloud_cover: float
    cloud_brightness: float
    caster: dict | None  # synth/shadows.sample_caster, or None
    # background, occlusion, effects
    background: dict
    occluders: list[Occluder]
    patches: list[Patch2D]
    effects: dict
    look: IdentityLook | None = None  # the identity's paint finish, plate and marks (synth/appearance.py)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def camera_position(self) -> np.ndarray:
        return spherical_position(self.azimuth, self.elevation, self.distance) + np.asarray(self.aim)

    def lighting_vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in LIGHTING_NAMES], np.float32)


LIGHTING_NAMES = (
    "sun_elevation", "sun_azimuth", "sun_strength", "sun_temperature", "sun_angle", "sky_strength", "exposure",
)


# --- sampler -----------------------------------------------------------------------------------------------


def sample_seed(seed: int, index: int) -> int:
    """The per-sample seed: a 63-bit hash of (global seed, index)."""
    state = np.random.SeedSequence(int(seed), spawn_key=(int(index),)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & 0x7FFF_FFFF_FFFF_FFFF


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _log_u(rng: np.random.Generator, r: Range) -> float:
    return float(np.exp(rng.uniform(np.log(r[0]), np.log(r[1]))))


def _camera_rig(config: RenderConfig, seed: int, camera_id: int) -> dict:
    """A virtual traffic camera: fixes the background source and a height band for the samples it sees."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0xCA, camera_id)))
    lo, hi = config.viewpoint.elevation
    centre = rng.uniform(lo, hi)
    return {
        "elevation": (max(lo, centre - 0.25 * (hi - lo)), min(hi, centre + 0.25 * (hi - lo))),
        "background_key": int(rng.integers(2**31)),
    }


def sample_scene(config: RenderConfig, plan: IdentityPlan, models, seed: int, index: int,
                 num_backgrounds: int = 0) -> SceneSample:
    """Describe sample `index`. `models` are the library's assets (for vehicle dimensions), `num_backgrounds`
    the number of real background frames available (0: procedural only)."""
    s_seed = sample_seed(seed, index)
    rng = np.random.default_rng(s_seed)
    identity = plan.identities[int(plan.sample_identity[index])]
    model = models[identity.model_index]
    vp, lc, ic = config.viewpoint, config.lighting, config.image

    camera_id = int(rng.integers(max(1, config.background.num_cameras)))
    rig = _camera_rig(config, seed, camera_id)
    azimuth = _sample_azimuth(rng, vp)
    elevation = _u(rng, rig["elevation"])
    distance = _log_u(rng, vp.distance)
    height = float(model.dimensions.get("height", 1.5))
    aim = (rng.normal(0, vp.aim_jitter), rng.normal(0, vp.aim_jitter), height / 2 + rng.normal(0, vp.aim_jitter / 2))

    native = int(round(_log_u(rng, ic.native_size)))
    margin = tuple(_u(rng, ic.margin) for _ in range(4))
    trunc_side, trunc = -1, 0.0
    if rng.random() < ic.truncation_prob:
        trunc_side, trunc = int(rng.integers(4)), _u(rng, ic.truncation)

    overcast = rng.random() < lc.overcast_prob
    sun_strength = _u(rng, lc.sun_strength) * (0.08 if overcast else 1.0)
    sky_strength = _u(rng, lc.sky_strength) * (4.0 if overcast else 1.0)  # a camera's exposure follows
    sky_hue = rng.uniform(0, 1)  # 0 = deep blue sky, 1 = grey overcast
    sky = np.array([0.35, 0.5, 0.85]) * (1 - sky_hue) + np.array([0.6, 0.62, 0.65]) * sky_hue
    ground = np.array([0.18, 0.17, 0.16]) * rng.uniform(0.6, 1.5)

    background = {"key": rig["background_key"], "seed": int(rng.integers(2**31))}
    if num_backgrounds and rng.random() < config.background.real_prob:
        bg_rng = np.random.default_rng(rig["background_key"])
        background.update(
            kind="file",
            file_index=int(bg_rng.integers(num_backgrounds)),
            scale=_u(rng, config.background.crop_scale),
            position=(float(rng.random()), float(rng.random())),
            flip=bool(rng.random() < 0.5),
        )
    else:
        background.update(kind="procedural")

    occluders = _sample_occluders(config.occluders, rng, models, identity.model_index, azimuth, elevation,
                                  distance, aim)
    patches = _sample_patches(config.occlusion2d, rng)
    effects = _sample_effects(config.effects, rng)

    roll, road_yaw = _u(rng, vp.roll), float(rng.normal(0, vp.road_yaw_jitter / 2))
    sun_elevation, sun_azimuth = _u(rng, lc.sun_elevation), _u(rng, lc.sun_azimuth)
    sun_temperature, sun_angle = _u(rng, lc.sun_temperature), _u(rng, lc.sun_angle) * (4 if overcast else 1)
    exposure = metered_exposure(sun_strength, sun_elevation, sky_strength, sky) + _u(rng, lc.exposure)
    cloud_cover = 0.0 if overcast else _u(rng, lc.cloud_cover)  # overcast: one grey sheet, the sky itself
    cloud_brightness = _u(rng, lc.cloud_brightness)
    caster = None
    if (not overcast and lc.shadows and background["kind"] == "procedural" and sun_elevation >= 20.0
            and rng.random() < lc.caster_prob):
        caster = sample_caster(rng, lc.caster_kinds, lc.caster_height, sun_azimuth, sun_elevation)
    effects["saturation"] = _u(rng, config.effects.saturation)  # drawn last: the draws before keep their values
    camera = look_at(spherical_position(azimuth, elevation, distance) + np.asarray(aim), np.asarray(aim), roll)
    occluders = occluders + _sample_traffic(config.traffic, rng, models, identity.model_index, occluders, camera)
    return SceneSample(
        index=int(index), seed=s_seed, split=str(plan.sample_split[index]), camera_id=camera_id, identity=identity,
        azimuth=azimuth, elevation=elevation, distance=distance, roll=roll,
        aim=tuple(float(a) for a in aim), road_yaw=road_yaw,
        native_size=native, margin=margin, truncation_side=trunc_side, truncation=trunc,
        sun_elevation=sun_elevation, sun_azimuth=sun_azimuth, sun_strength=sun_strength,
        sun_temperature=sun_temperature, sun_angle=sun_angle,
        sky_strength=sky_strength, sky_color=tuple(float(v) for v in sky),
        ground_color=tuple(float(v) for v in ground), exposure=exposure, shadows=lc.shadows,
        cloud_cover=cloud_cover, cloud_brightness=cloud_brightness, caster=caster,
        background=background, occluders=occluders, patches=patches, effects=effects,
        look=identity_look(config.appearance, seed, identity),
    )


def metered_exposure(sun_strength: float, sun_elevation: float, sky_strength: float, sky_rgb) -> float:
    """A camera's auto exposure, in stops: what brings the light it meters to pi W/m^2, where a surface of
    albedo a shows as a, as the backgrounds do. It meters road and vehicle alike: the sun's light on a
    horizontal surface and on an upright one of random heading (2/pi of it on average), half each; metering
    the road alone blew out the sides of vehicles under a low sun (clipped channels: salmon reds, chalky
    yellows). Without it a strong high sun burns the paint out against the road and a low one leaves it
    murky. Held within -1.5..+1 stops (a dim scene stays a little dim, as on camera)."""
    elevation = np.radians(sun_elevation)
    sun = 0.5 * max(np.sin(elevation), 0.0) + 0.5 * (2 / np.pi) * np.cos(elevation)
    irradiance = sun_strength * sun + np.pi * sky_strength * float(np.mean(sky_rgb))
    return float(np.clip(np.log2(np.pi / max(irradiance, 1e-3)), -1.5, 1.0))


def _white_balance_gains(shifts: np.ndarray) -> tuple[float, float, float]:
    """Per-channel gains of a white-balance error from three N(0, color_cast) draws: mostly along the
    blue-amber axis, as a camera misjudges the light's colour temperature, with a third of that along
    green-magenta (independent channel gains gave as many magenta and lilac casts, which cameras rarely
    show), and a little overall."""
    temperature, tint, level = shifts
    log_gains = np.array([temperature, -tint / 3, -temperature]) + level / 3
    return tuple(float(g) for g in np.exp(log_gains))


def _sample_azimuth(rng, vp: ViewpointConfig) -> float:
    lo, hi = vp.azimuth
    if not vp.azimuth_weights:
        return _u(rng, vp.azimuth) % 360.0
    w = np.asarray(vp.azimuth_weights, np.float64)
    k = int(rng.choice(len(w), p=w / w.sum()))
    width = (hi - lo) / len(w)
    return float(lo + width * (k + rng.random())) % 360.0


def _sample_occluders(oc: OccluderConfig, rng, models, model_index: int, azimuth, elevation, distance,
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
        t = _u(rng, oc.along_ray)
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


def _sample_traffic(tc: TrafficConfig, rng, models, model_index: int, occluders, camera) -> list[Occluder]:
    """Up to `max_count` other library vehicles in the lane behind or ahead and in the next lanes, each a
    model not otherwise in the picture, in its own paint. A place is used only where the vehicle there stands
    farther from the camera (`camera`: world-to-camera [R|t]) than the pictured one and shows in its crop:
    one outside the picture would cost render time for nothing."""
    if tc.max_count < 1 or rng.random() >= tc.prob:
        return []
    dims = models[model_index].dimensions
    window = _crop_window(camera, 0.0, 0.0, 0.0, *(float(dims.get(k, v)) for k, v in
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
        along = half_l + _u(rng, tc.gap) + size[0] / 2
        lane = _u(rng, tc.lane_width)
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
            box = _crop_window(camera, x, y, yaw, *size)
            overlap = (min(box[2], window[2]) - max(box[0], window[0])) * (min(box[3], window[3]) - max(box[1], window[1]))
            if min(box[2], window[2]) > max(box[0], window[0]) and min(box[3], window[3]) > max(box[1], window[1]) \
                    and overlap > 0.03 * (window[2] - window[0]) * (window[3] - window[1]):
                seen.append((x, y, yaw))
        if not seen:
            continue
        x, y, yaw = seen[int(rng.integers(len(seen)))]
        out.append(Occluder(kind="vehicle", position=(float(x), float(y)), yaw=float(yaw + rng.normal(0, 3)),
                            size=size, model=other,
                            color=tuple(float(v) for v in rng.uniform(0.01, 0.7) * rng.uniform(0.6, 1.0, 3))))
        taken.add(other)
    return out


def _crop_window(camera, x: float, y: float, yaw: float, length: float, width: float, height: float,
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


def _sample_patches(pc: Occlusion2DConfig, rng) -> list[Patch2D]:
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
            size=(_u(rng, pc.size), _u(rng, pc.size)), angle=float(rng.uniform(-30, 30)),
            fill=str(rng.choice(["background", "flat"])), color=tuple(float(v) for v in rng.uniform(0, 1, 3)),
            seed=int(rng.integers(2**31)),
        ))
    return out


def _sample_effects(ec: EffectsConfig, rng) -> dict:
    return {
        "blur_sigma": _u(rng, ec.blur_sigma) if rng.random() < ec.blur_prob else 0.0,
        "motion_length": _u(rng, ec.motion_blur_length) if rng.random() < ec.motion_blur_prob else 0.0,
        "motion_angle": float(rng.uniform(0, 180)),
        "noise_sigma": _u(rng, ec.noise_sigma),
        "jpeg_quality": int(round(_u(rng, ec.jpeg_quality))) if rng.random() < ec.jpeg_prob else 0,
        "gains": _white_balance_gains(rng.normal(0, ec.color_cast, 3)),
        "gamma": _u(rng, ec.gamma),
        "contrast": _u(rng, ec.contrast),
        "seed": int(rng.integers(2**31)),
    }
