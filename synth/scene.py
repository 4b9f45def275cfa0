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
from synth.backgrounds import road_style
from synth.camera import FRAMINGS, look_at, spherical_position
from synth.compose import srgb_to_linear
from synth.config import Config
from synth.identities import Identity, IdentityConfig, IdentityPlan
from synth.occlusion import (
    Occluder, OccluderConfig, Occlusion2DConfig, Patch2D, TrafficConfig, sample_occluders, sample_patches,
    sample_traffic)
from synth.sampling import Range, log_uniform, uniform
from synth.shadows import CASTER_KINDS, sample_caster


# --- config ------------------------------------------------------------------------------------------------


@dataclass
class ImageConfig(Config):
    size: int = 256  # the output image's long side (its short side too with framing "square")
    # "box": the image is the vehicle's amodal box grown by `margin`, at its own aspect, as a detector crops real
    # vehicles (VeRi's crops: the keypoints span 86 % of the width and 80 % of the height, median), and ReID and
    # pose inputs stretch or pad it as they do a real crop. "square": a square window round that box (a side
    # view then has road above and below it: its keypoints spanned 55 % of the height).
    framing: str = "box"
    # The crop's resolution in the (virtual) traffic camera, log-uniform. Real VeRi crops are 95-415 px
    # (5th-95th percentile, median ~200); crops smaller than `size` are rendered small and upsampled, which
    # is the low-resolution look of real footage and saves render time.
    native_size: Range = (96.0, 380.0)
    margin: Range = (0.03, 0.15)  # crop margin around the amodal box, per side, as a fraction of its size
    truncation_prob: float = 0.03  # probability that the crop cuts the vehicle (real crops are detector boxes)
    truncation: Range = (0.05, 0.3)  # fraction of the box cut off when it does
    image_format: str = "jpeg"
    jpeg_quality: int = 94

    def __post_init__(self):
        if self.framing not in FRAMINGS:
            raise ValueError(f"image.framing must be one of {list(FRAMINGS)}, got {self.framing!r}")


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
    # A real camera's field of view takes in a whole bus only from farther than a car: the near end of `distance`
    # is at least this many vehicle lengths (a 12 m bus at 7 m filled the crop as a wide-angle trapezoid).
    min_distance_lengths: float = 1.0
    roll: Range = (-4.0, 4.0)
    aim_jitter: float = 0.3  # the camera aims at the vehicle centre plus this much noise (m, per axis)
    road_yaw_jitter: float = 12.0  # road direction relative to the vehicle (vehicles change lanes, turn)


@dataclass
class LightingConfig(Config):
    sun_elevation: Range = (12.0, 75.0)
    sun_azimuth: Range = (0.0, 360.0)
    # Clear days: the sun gives ~80 % of the light on a horizontal surface and the sky the rest (a sky as
    # bright as the sun flattens every body into one tone and greys out shadows); overcast: the sky alone.
    # City air scatters a tenth of the sun's light at least: a sky dimmer than 0.18 left the shade under a
    # vehicle near black on camera, where real footage shows the road's grey in it.
    sun_strength: Range = (2.2, 6.0)  # W/m^2, Blender sun units
    sun_temperature: Range = (5000.0, 6800.0)  # kelvin, after the camera's white balance
    sun_angle: Range = (0.3, 2.0)  # angular diameter; larger = softer shadows
    sky_strength: Range = (0.18, 0.5)
    # sun nearly off, sky brighter: diffuse light, faint shadows. VeRi-776's cameras filmed on grey days: none
    # of the 40 crops of its project montage shows a hard shadow, where three renders in four had one at 0.25
    overcast_prob: float = 0.5
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
    # A traffic camera meters the light its scene reflects, mostly road darker than middle grey, so it exposes
    # brighter than an incident-light meter would: VeRi's roads show near middle grey (sRGB ~120), where albedo
    # shown as albedo left them at ~85. The highlights this pushes up roll off in compose.develop's shoulder.
    metering_bias: float = 0.7  # stops added to the metered exposure
    shadows: bool = True  # cast shadows on the ground (shadow catcher)
    # The vehicle's own lights: daytime-running lights on every image of the identities that run them (an
    # identity keeps them on or off), brake lights lit in some images (traffic stopping at a junction).
    # Strengths are emission radiance (a sunlit white body is about 1): both read near-saturated, as on camera.
    drl_prob: float = 0.5
    drl_strength: Range = (3.0, 8.0)
    brake_prob: float = 0.2
    brake_strength: Range = (1.5, 5.0)


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
    # haze and lens flare between the camera and the road: a veil of the sky's light over the picture, lifting
    # its blacks (city air and a dusty housing make traffic footage milky)
    veil: Range = (0.0, 0.12)
    # the camera's own sharpening (an unsharp mask in its image pipeline): the bright and dark halos along edges
    # that surveillance footage shows, before its JPEG
    sharpen_prob: float = 0.5
    sharpen_amount: Range = (0.3, 1.2)
    sharpen_sigma: Range = (0.8, 2.0)  # px at the output size


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
    ground_color: tuple[float, float, float]  # the road's albedo (linear RGB)
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
    lamps: tuple[float, float] = (0.0, 0.0)  # emission of the daytime-running lights and of the brake lights
    overcast: bool = False  # the sky is one grey sheet, brightest overhead (synth/shadows.sky_gradient)

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
    elevation = uniform(rng, rig["elevation"])
    near = max(vp.distance[0], vp.min_distance_lengths * float(model.dimensions.get("length", 4.5)))
    distance = log_uniform(rng, (near, max(vp.distance[1], near)))
    height = float(model.dimensions.get("height", 1.5))
    aim = (rng.normal(0, vp.aim_jitter), rng.normal(0, vp.aim_jitter), height / 2 + rng.normal(0, vp.aim_jitter / 2))

    native = int(round(log_uniform(rng, ic.native_size)))
    margin = tuple(uniform(rng, ic.margin) for _ in range(4))
    trunc_side, trunc = -1, 0.0
    if rng.random() < ic.truncation_prob:
        trunc_side, trunc = int(rng.integers(4)), uniform(rng, ic.truncation)

    overcast = rng.random() < lc.overcast_prob
    sun_strength = uniform(rng, lc.sun_strength) * (0.08 if overcast else 1.0)
    sky_strength = uniform(rng, lc.sky_strength) * (4.0 if overcast else 1.0)  # a camera's exposure follows
    sky_hue = rng.uniform(0, 1)  # 0 = deep blue sky, 1 = grey overcast
    sky = np.array([0.35, 0.5, 0.85]) * (1 - sky_hue) + np.array([0.6, 0.62, 0.65]) * sky_hue
    ground = np.array([0.18, 0.17, 0.16]) * rng.uniform(0.6, 1.5)

    background = {"key": rig["background_key"], "seed": int(rng.integers(2**31))}
    if num_backgrounds and rng.random() < config.background.real_prob:
        bg_rng = np.random.default_rng(rig["background_key"])
        background.update(
            kind="file",
            file_index=int(bg_rng.integers(num_backgrounds)),
            scale=uniform(rng, config.background.crop_scale),
            position=(float(rng.random()), float(rng.random())),
            flip=bool(rng.random() < 0.5),
        )
    else:
        background.update(kind="procedural")
        # the road the background draws: what the shadow catcher bounces onto the body and the paint mirrors
        style = road_style(rig["background_key"])
        ground = srgb_to_linear(np.float64(style["asphalt"])) * np.asarray(style["asphalt_tint"])

    occluders = sample_occluders(config.occluders, rng, models, identity.model_index, azimuth, elevation,
                                  distance, aim)
    patches = sample_patches(config.occlusion2d, rng)
    effects = _sample_effects(config.effects, rng)

    roll, road_yaw = uniform(rng, vp.roll), float(rng.normal(0, vp.road_yaw_jitter / 2))
    sun_elevation, sun_azimuth = uniform(rng, lc.sun_elevation), uniform(rng, lc.sun_azimuth)
    sun_temperature, sun_angle = uniform(rng, lc.sun_temperature), uniform(rng, lc.sun_angle) * (4 if overcast else 1)
    exposure = metered_exposure(sun_strength, sun_elevation, sky_strength, sky) + uniform(rng, lc.exposure)
    exposure += lc.metering_bias
    # (draws added since are appended after all earlier ones, so the earlier ones keep their values)
    cloud_cover = 0.0 if overcast else uniform(rng, lc.cloud_cover)  # overcast: one grey sheet, the sky itself
    cloud_brightness = uniform(rng, lc.cloud_brightness)
    caster = None
    if (not overcast and lc.shadows and background["kind"] == "procedural" and sun_elevation >= 20.0
            and rng.random() < lc.caster_prob):
        caster = sample_caster(rng, lc.caster_kinds, lc.caster_height, sun_azimuth, sun_elevation)
    effects["saturation"] = uniform(rng, config.effects.saturation)
    camera = look_at(spherical_position(azimuth, elevation, distance) + np.asarray(aim), np.asarray(aim), roll)
    occluders = occluders + sample_traffic(config.traffic, rng, models, identity.model_index, occluders, camera)
    effects["veil"] = uniform(rng, config.effects.veil)
    drl_on = np.random.default_rng([int(seed), int(identity.vehicle_id), 0xD1]).random() < lc.drl_prob
    drl, brake_on, brake = uniform(rng, lc.drl_strength), rng.random() < lc.brake_prob, uniform(rng, lc.brake_strength)
    lamps = (drl if drl_on else 0.0, brake if brake_on else 0.0)
    ec = config.effects
    sharpen_on, sharpen = rng.random() < ec.sharpen_prob, uniform(rng, ec.sharpen_amount)
    effects["sharpen"], effects["sharpen_sigma"] = (sharpen if sharpen_on else 0.0), uniform(rng, ec.sharpen_sigma)
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
        look=identity_look(config.appearance, seed, identity), lamps=lamps, overcast=bool(overcast),
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
        return uniform(rng, vp.azimuth) % 360.0
    w = np.asarray(vp.azimuth_weights, np.float64)
    k = int(rng.choice(len(w), p=w / w.sum()))
    width = (hi - lo) / len(w)
    return float(lo + width * (k + rng.random())) % 360.0


def _sample_effects(ec: EffectsConfig, rng) -> dict:
    return {
        "blur_sigma": uniform(rng, ec.blur_sigma) if rng.random() < ec.blur_prob else 0.0,
        "motion_length": uniform(rng, ec.motion_blur_length) if rng.random() < ec.motion_blur_prob else 0.0,
        "motion_angle": float(rng.uniform(0, 180)),
        "noise_sigma": uniform(rng, ec.noise_sigma),
        "jpeg_quality": int(round(uniform(rng, ec.jpeg_quality))) if rng.random() < ec.jpeg_prob else 0,
        "gains": _white_balance_gains(rng.normal(0, ec.color_cast, 3)),
        "gamma": uniform(rng, ec.gamma),
        "contrast": uniform(rng, ec.contrast),
        "seed": int(rng.integers(2**31)),
    }
