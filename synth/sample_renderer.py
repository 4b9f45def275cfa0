"""One sample, in a render worker: the persistent Blender scene set up from the sample's description, its labels
by ray casting, the render composited over its background with the camera's effects, and the dataset sample.
synth/render.py runs these in worker processes and writes the shards.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from synth import compose
from synth.annotation import annotator_codes
from synth.appearance import neighbour_look
from synth.backgrounds import BackgroundError, FrameSource, procedural_background
from synth.backend import SceneBackend
from synth.blender.denoise import Denoiser  # ctypes + numpy, no bpy
from synth.camera import box_of, camera_centre, crop_labels, frame_vehicle, project, truncation_of
from synth.datasets import Sample
from synth.datasets.writer import encode_image
from synth.identities import IdentityPlan
from synth.scene import RenderConfig, SceneSample, sample_scene
from synth.shadows import background_gain, beside_catcher_light, caster_mask, ground_light
from synth.street_view import street_panorama


# The block a body stands for when it hides the sky from the road beside it, in fractions of its height: light
# passes under the sills, and the rounded shoulders and the narrower greenhouse hide less than a full box
BODY_CLEARANCE, BODY_TOP = 0.12, 0.85


class SampleRenderer:
    """A worker's renderer: the persistent Blender scene plus everything that turns a render into a sample."""

    def __init__(self, config: RenderConfig, models, plan: IdentityPlan, seed: int, background_files=(),
                 street_cache: str | None = None):
        # the bpy backend: imported in the worker that renders, so the parent and importers never load bpy
        from synth.blender.scene_backend import SceneBuilder

        self.config, self.models, self.plan, self.seed = config, models, plan, seed
        self.street_cache = street_cache  # a folder the run's workers share their street panoramas in
        self.frames = FrameSource(list(background_files)) if background_files else None
        self.builder: SceneBackend = SceneBuilder(models, occluder_slots=max(1, config.occluders.max_count))
        self.device = self.builder.configure(config.quality)
        self.builder.use_denoiser(self._denoiser(config.quality))
        self.warnings: list[str] = []

    def _denoiser(self, quality):
        """On the CPU, OIDN kept alive in the worker (synth.blender.denoise: Cycles' own denoiser costs ~3x
        more per small image); on a GPU, Cycles' denoiser (fast there)."""
        if quality.denoise != "oidn" or self.device != "CPU" or not quality.denoise_in_worker:
            return None  # (oidn_high, the reference, keeps Cycles' prefiltering of the passes)
        return Denoiser("fast", threads=quality.threads)

    def describe(self, index: int) -> SceneSample:
        return sample_scene(self.config, self.plan, self.models, self.seed, index,
                            len(self.frames) if self.frames else 0)

    def setup(self, sample: SceneSample, shading: bool = True) -> dict:
        """Put the scene in the state of `sample`; returns the framing (Rt, K, render size, K_render, the output
        image's crop of the window: camera.frame_vehicle). Labels and pictures are made in the square window and
        cut to the crop last (`crop`). Without
        `shading` (labels only) the off-screen caster and the mirrored street, which no label ray meets, are
        neither built nor shown."""
        size = self.config.image.size
        vehicle = self.builder.show_vehicle(sample.identity.model_index, sample.identity.paint_rgb, sample.look)
        self.builder.set_lamps(*sample.lamps)
        frame = frame_vehicle(sample, vehicle.outline, size, self.config.image.framing)
        self.builder.set_camera(frame["K_render"], frame["Rt"], frame["render_size"])
        frame["sun_rgb"] = compose.blackbody_rgb(sample.sun_temperature)
        self.builder.set_lighting(sample, frame["sun_rgb"])
        frame["street"] = None
        if shading:  # the street the paint and glass mirror (a real frame's camera gets a procedural one too)
            key = int(sample.background["key"])
            frame["street"] = street_panorama(key, self.street_cache)
            self.builder.set_street(key, frame["street"])
        frame["catcher"] = self.builder.set_ground(sample, vehicle)
        caster = sample.caster if shading else None
        frame["caster_mask"] = caster_mask(caster) if caster else None
        self.builder.set_caster(sample if shading else dataclasses.replace(sample, caster=None), frame["caster_mask"])
        self.builder.set_occluders(sample.occluders, neighbour_look(sample.look, sample.seed) if sample.look else None)
        frame["vehicle"] = vehicle
        return frame

    def background(self, sample: SceneSample, frame: dict, key_offset: int = 0, native: bool = False) -> np.ndarray:
        """The sample's background at the output size, or (`native`) at the render's size and K: linear light at
        the render's scale (what compose.composite lays the render over, compose.develop makes a picture of)."""
        size, K = (frame["render_size"], frame["K_render"]) if native else (self.config.image.size, frame["K"])
        bg = sample.background
        if bg["kind"] == "file" and self.frames is not None and not key_offset:
            try:  # a finished picture, as light at the render's scale (compose.develop returns it as it was)
                frame_light = compose.undevelop(self.frames.crop(bg["file_index"], bg["scale"], bg["position"],
                                                                 bg["flip"], size))
                return self._beside_catcher(frame_light, sample, frame, K, size)
            except BackgroundError as exc:
                self.warnings.append(f"{exc} (sample {sample.index} uses a procedural background)")
        light = None
        if sample.caster and not key_offset:  # the caster's shadow beyond the catcher (Cycles shades that)
            def light(points):
                return ground_light(points, sample.caster, frame["caster_mask"], sample, frame["sun_rgb"],
                                    exclude=frame["catcher"], street=frame["street"])
        image = procedural_background(K, frame["Rt"], size, sample.road_yaw + 90.0 * key_offset,
                                      bg["key"] + key_offset, bg["seed"] + key_offset, sample.sky_color, light)
        # drawn as albedo; lit and exposed as the vehicle is, at the render's scale (a real frame keeps the light
        # it was shot in)
        gain = background_gain(sample, frame["sun_rgb"]) / 2.0 ** compose.HEADROOM_STOPS
        lit = (compose.srgb_to_linear(image) * gain).astype(np.float32)
        return lit if key_offset else self._beside_catcher(lit, sample, frame, K, size)

    @staticmethod
    def _beside_catcher(light: np.ndarray, sample: SceneSample, frame: dict, K: np.ndarray, size: int) -> np.ndarray:
        """The background's road darkened where the vehicle hides the sky from it, beyond the shadow catcher
        (synth.shadows.beside_catcher_light): the shade round the vehicle runs on past the catcher's edge."""
        if frame.get("catcher") is None:
            return light
        x0, x1, y0, y1 = frame["vehicle"].footprint
        height = frame["vehicle"].height
        box = ((x0, y0, BODY_CLEARANCE * height), (x1, y1, BODY_TOP * height))
        shade = beside_catcher_light(K, frame["Rt"], size, frame["catcher"], box, sample, frame["sun_rgb"],
                                     frame["street"])
        return light * shade[..., None]

    def labels(self, sample: SceneSample, frame: dict) -> dict:
        """Keypoints (36, 3: x, y, visibility before 2D occlusion), amodal box, and the vehicle's amodal /
        visible silhouette on a 32 x 32 grid, by ray casting the scene as set up for `sample`; with the
        annotator model on, also `annotator_seen` (36,): the codes of a ray cast that lets the vehicle's own
        body cover a keypoint by the model's tolerance (see `annotate`)."""
        size, annotator = self.config.image.size, self.config.annotator
        K, Rt, vehicle = frame["K"], frame["Rt"], frame["vehicle"]
        uv, _ = project(K, Rt, vehicle.asset.keypoints)
        vis = self.builder.keypoint_visibility(vehicle.asset.keypoints, uv, K, Rt, size)
        amodal, visible = self.builder.visibility_grid(K, Rt, size, grid=32, occluded=bool(sample.occluders))
        labels = {"keypoints": np.column_stack([uv, vis]), "box": box_of(project(K, Rt, vehicle.outline)[0]),
                  "amodal": amodal, "visible": visible}
        if annotator.enabled:
            labels["annotator_seen"] = vis if annotator.self_tolerance <= 0 else self.builder.keypoint_visibility(
                vehicle.asset.keypoints, uv, K, Rt, size, self_tolerance=annotator.self_tolerance, known=vis)
        return labels

    @staticmethod
    def apply_patch_mask(labels: dict, mask: np.ndarray) -> dict:
        """2D occluders hide keypoints and silhouette cells under them."""
        size = mask.shape[0]
        grid = labels["amodal"].shape[0]
        centres = np.round((np.arange(grid) + 0.5) * size / grid - 0.5).astype(int)
        out = {**labels, "keypoints": compose.occlude_keypoints(labels["keypoints"], mask),
               "visible": labels["visible"] & ~mask[np.ix_(centres, centres)]}
        if "annotator_seen" in labels:
            seen = np.column_stack([labels["keypoints"][:, :2], labels["annotator_seen"]])
            out["annotator_seen"] = compose.occlude_keypoints(seen, mask)[:, 2]
        return out

    def annotate(self, labels: dict, frame: dict) -> dict:
        """Adds `annotator_visibility` (36,) int8, the codes VeRi's annotators would give (synth/annotation.py),
        once 2D occlusion is applied; nothing when the annotator model is off."""
        if "annotator_seen" not in labels:
            return labels
        codes = annotator_codes(labels["annotator_seen"], self.config.annotator, camera_centre(frame["Rt"]),
                                frame["vehicle"].asset.keypoints)
        return {**labels, "annotator_visibility": codes}

    def setup_and_label(self, index: int, shading: bool = True) -> tuple[SceneSample, dict, dict]:
        """Set up sample `index` and ray-cast its labels. Where its 3D occluders would leave less than
        `occluders.min_visible` of the vehicle in sight (a tree crown by the camera can hide it all), the sample
        goes without them: a detector would not have cropped such a vehicle for a ReID set. Deterministic, so a
        re-run or another worker draws the same image."""
        sample = self.describe(index)
        frame = self.setup(sample, shading)
        self.builder.update()
        labels = self.labels(sample, frame)
        if sample.occluders and _visible_fraction(labels) < self.config.occluders.min_visible:
            sample = dataclasses.replace(sample, occluders=[])
            self.builder.set_occluders([])
            self.builder.update()
            labels = self.labels(sample, frame)
        return sample, frame, labels

    def label_only(self, index: int) -> dict:
        """The labels of sample `index` without rendering (scene set up, ray casts only): for statistics."""
        sample, frame, labels = self.setup_and_label(index, shading=False)
        if sample.patches:
            mask = np.zeros((self.config.image.size,) * 2, bool)
            for patch in sample.patches:
                mask |= compose.patch_mask(patch, labels["box"], self.config.image.size)
            labels = self.apply_patch_mask(labels, mask)
        labels, _ = crop_labels(self.annotate(labels, frame), frame["K"], frame["crop"])
        return {**labels, "sample": sample}

    @staticmethod
    def crop(image: np.ndarray, labels: dict, frame: dict) -> tuple[np.ndarray, dict, np.ndarray]:
        """The window's picture, labels and K cut to the output image (frame["crop"]): the margined box, at its
        own aspect, with framing "box" (what a detector crops), all of it with "square"."""
        c0, r0, c1, r1 = frame["crop"]
        labels, K = crop_labels(labels, frame["K"], frame["crop"])
        return image[r0:r1, c0:c1], labels, K

    def render(self, index: int) -> tuple[Sample, dict]:
        """Render sample `index`; returns the dataset sample and extras for checks (the raw render, the
        scene description, the framing, the final image; the labels and the sample's K are the final image's,
        frame["K"] the square window's, frame["crop"] where the image lies in it)."""
        cfg = self.config
        size = cfg.image.size
        sample, frame, labels = self.setup_and_label(index)
        rgba = self.builder.render(sample.seed)
        # One picture at the crop's native resolution, softened by the camera's optics, then scaled as a whole:
        # a small crop is soft all over (a sharp road under an upsampled vehicle looked pasted), and no edge
        # is pixel-sharp (at 3 samples a silhouette's coverage is jagged).
        light = compose.composite(compose.premultiply(rgba), self.background(sample, frame, native=True))
        image = compose.develop(light)
        image = compose.resize_to(compose.lens_blur(image, cfg.effects.lens_blur), size)
        K, Rt, box = frame["K"], frame["Rt"], labels["box"]
        if sample.patches:  # as soft as the picture they are pasted on
            def fill(seed):
                other = compose.develop(self.background(sample, frame, key_offset=1 + seed % 7, native=True))
                return compose.resize_to(compose.lens_blur(other, cfg.effects.lens_blur), size)
            softness = max(0.7, cfg.effects.lens_blur * size / frame["render_size"])
            image, mask = compose.paste_patches(image, sample.patches, box, fill, softness)
            labels = self.apply_patch_mask(labels, mask)
        labels = self.annotate(labels, frame)
        image, labels, K = self.crop(image, labels, frame)
        box = labels["box"]
        image8 = compose.camera_effects(image, sample.effects)

        keypoints = labels["keypoints"].astype(np.float32)
        visible_fraction = _visible_fraction(labels)
        ident = sample.identity
        out = Sample(
            image=encode_image(image8, cfg.image.image_format, cfg.image.jpeg_quality),
            image_name=f"{ident.vehicle_id:04d}_c{sample.camera_id:03d}_{index:08d}_0.jpg",
            vehicle_id=ident.vehicle_id,
            camera_id=sample.camera_id,
            color_id=ident.color_id,
            type_id=ident.type_id,
            keypoints=keypoints,
            bbox=box.astype(np.float32),
            extra={
                "model_id": ident.model_index,
                "viewpoint": np.array([sample.azimuth, sample.elevation, sample.distance], np.float32),
                "K": K.astype(np.float32),
                "Rt": Rt.astype(np.float32),
                "visible_fraction": np.float32(visible_fraction),
                "truncation": np.float32(truncation_of(box, image8.shape[:2])),
                "lighting": sample.lighting_vector(),
                "seed": np.int64(sample.seed),
            },
        )
        if "annotator_visibility" in labels:
            out.extra["annotator_visibility"] = labels["annotator_visibility"]
        return out, {"rgba": rgba, "sample": sample, "frame": frame, "image": image8, "labels": labels}


def _visible_fraction(labels: dict) -> float:
    """Share of the vehicle's silhouette cells that nothing hides."""
    return float(labels["visible"].sum() / max(labels["amodal"].sum(), 1))
