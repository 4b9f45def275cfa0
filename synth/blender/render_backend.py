"""Cycles settings and reading renders back, for one worker process; plus the label checks' special renders
(an instance/depth pass and keypoint markers).

Cycles runs on the GPU (OptiX, then CUDA/HIP/Metal/oneAPI) when one is present, else on the CPU with a fixed
thread count (one worker per core is faster than one multi-threaded worker for small images).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

import bpy

from synth.blender.denoise import denoise_alpha
from synth.compose import linear_to_srgb
from synth.exr import read_exr_layers

GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")


def enable_gpu(preferred: str = "auto") -> str:
    """Turn on the first GPU backend with a device; returns 'GPU:<backend>' or 'CPU'."""
    if preferred == "cpu":
        return "CPU"
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
    except KeyError:
        return "CPU"
    for backend in GPU_BACKENDS:
        try:
            prefs.compute_device_type = backend
            prefs.refresh_devices()
        except (TypeError, ValueError, RuntimeError):
            continue
        devices = [d for d in prefs.devices if d.type == backend]
        if devices:
            for d in prefs.devices:
                d.use = d.type == backend
            return f"GPU:{backend}"
    if preferred == "gpu":
        raise RuntimeError("quality.device is 'gpu' but Cycles finds no GPU (OptiX/CUDA/HIP/Metal/oneAPI)")
    return "CPU"


def configure_cycles(scene, quality) -> str:
    """Render settings for fast, low-noise small images. Returns the device in use."""
    scene.render.engine = "CYCLES"
    device = enable_gpu(quality.device)
    cycles = scene.cycles
    cycles.device = "GPU" if device.startswith("GPU") else "CPU"
    cycles.samples = int(quality.samples)
    cycles.use_adaptive_sampling = False
    if quality.denoise not in ("oidn", "oidn_high", "none"):
        raise ValueError(f"quality.denoise must be oidn, oidn_high or none, got {quality.denoise!r}")
    cycles.use_denoising = quality.denoise != "none"
    if cycles.use_denoising:
        cycles.denoiser = "OPENIMAGEDENOISE"
        cycles.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        cycles.denoising_quality = "FAST" if quality.denoise == "oidn" else "HIGH"
        # Cycles' denoising passes are speckled where near-mirror closures defer them to the reflected hit
        # (FrameReader): prefiltered, they do not print that speckle into the image (the worker's own filter
        # takes clean first-hit passes instead)
        cycles.denoising_prefilter = "ACCURATE"
    cycles.max_bounces = int(quality.max_bounces)
    cycles.diffuse_bounces = 1
    cycles.glossy_bounces = 2
    cycles.transmission_bounces = max(2, int(quality.max_bounces))
    cycles.transparent_max_bounces = 4
    cycles.volume_bounces = 0
    cycles.caustics_reflective = False
    cycles.caustics_refractive = False
    cycles.use_light_tree = False  # one sun + the sky: the light tree only costs time
    cycles.sample_clamp_indirect = 3.0  # fireflies from glossy bounces
    cycles.seed = 0
    cycles.tile_size = 2048
    scene.render.film_transparent = True
    scene.render.use_persistent_data = bool(getattr(quality, "persistent_data", True))
    scene.render.filter_size = 1.2
    if device == "CPU":
        scene.render.threads_mode = "FIXED"
        scene.render.threads = max(1, int(quality.threads))
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.display_settings.display_device = "sRGB"
    settings = scene.render.image_settings
    settings.media_type = "IMAGE"  # a frame reader with a denoiser left it a multilayer EXR
    settings.file_format = "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = "8"
    settings.compression = 0
    return device


class FrameReader:
    """Renders the scene's camera to a private temporary file and reads it back as straight-alpha RGBA uint8
    (sRGB, the scene's exposure applied), as Blender would write a PNG.

    With `denoiser` (synth.blender.denoise.Denoiser) Cycles' own denoiser is switched off: the render is
    written as an uncompressed multilayer EXR with the guides' passes, denoised here by the worker's
    persistent OIDN filter, and the view transform (exposure, Standard sRGB) applied in numpy.

    The guides are the first surface's colour (diffuse + glossy colour passes) and normal (normal pass), not
    Cycles' denoising passes. Those follow a ray through any surface whose closures are mostly near-mirror
    ones (a clear coat or a glossy base seen at a grazing angle) and describe whatever the mirror shows on
    that sample instead; at 3 samples a roof seen from a high camera got an albedo speckled between the paint
    and the sky, which the filter kept as texture (a saloon's roof like gravel). The first-hit passes are as
    clean as the antialiasing, and see through the windows as those passes do (alpha < 0.5 passes on)."""

    def __init__(self, scene, denoiser=None):
        self.scene = scene
        self.denoiser = denoiser
        self.last_passes = None  # (combined, albedo, normal) of the last render denoised here
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
        self.path = base / f"pamtri_render_{os.getpid()}.{'exr' if denoiser else 'png'}"
        scene.render.filepath = str(self.path)
        if denoiser is not None:
            scene.cycles.use_denoising = False
            layer = scene.view_layers[0]
            layer.cycles.denoising_store_passes = False
            layer.use_pass_diffuse_color = layer.use_pass_glossy_color = layer.use_pass_normal = True
            settings = scene.render.image_settings
            settings.media_type = "MULTI_LAYER_IMAGE"
            settings.file_format = "OPEN_EXR_MULTILAYER"
            settings.exr_codec = "NONE"
            settings.color_depth = "32"

    def render(self, seed: int = 0) -> np.ndarray:
        self.scene.cycles.seed = int(seed) & 0x7FFFFFFF
        bpy.ops.render.render(write_still=True)
        try:
            return self._read()
        finally:
            self.path.unlink(missing_ok=True)  # /dev/shm is memory: leave nothing behind a worker

    def _read(self) -> np.ndarray:
        if self.denoiser is not None:
            return self._denoised()
        bgra = cv2.imread(str(self.path), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
            raise RuntimeError(f"{self.path}: Cycles wrote no readable RGBA image")
        return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)

    def _denoised(self) -> np.ndarray:
        layers = read_exr_layers(self.path)
        try:
            combined = layers["ViewLayer.Combined"]
            colour = layers["ViewLayer.Diffuse Color"][..., :3] + layers["ViewLayer.Glossy Color"][..., :3]
            normal = layers["ViewLayer.Normal"][..., :3]
        except KeyError as exc:
            raise RuntimeError(f"{self.path}: the render has no {exc} pass") from None
        albedo = np.clip(colour, 0.0, 1.0)
        self.last_passes = (combined, albedo, normal)  # for bench/shadow_denoise.py
        rgb = self.denoiser(combined[..., [0, 1, 2]], albedo, normal)
        alpha = denoise_alpha(combined[..., 3], albedo, normal, self.denoiser)
        # premultiplied (Cycles' film) -> straight, then the view transform Blender applies when saving a PNG
        straight = rgb * (2.0 ** self.scene.view_settings.exposure) / np.maximum(alpha, 1e-4)[..., None]
        straight = np.where(alpha[..., None] > 0, straight, 0.0)
        srgb = linear_to_srgb(straight)
        rgba = np.concatenate([srgb, alpha[..., None]], axis=-1)
        return np.round(rgba * 255.0).astype(np.uint8)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


# --- special renders for label checks ----------------------------------------------------------------------


def _emission_material(name: str, rgb_from_node: str | None, rgb=(1.0, 1.0, 1.0)):
    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    emit = nt.nodes.new("ShaderNodeEmission")
    emit.inputs["Strength"].default_value = 1.0
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    if rgb_from_node == "id_depth":
        info = nt.nodes.new("ShaderNodeObjectInfo")
        camdata = nt.nodes.new("ShaderNodeCameraData")
        comb = nt.nodes.new("ShaderNodeCombineXYZ")
        nt.links.new(info.outputs["Object Index"], comb.inputs["X"])
        nt.links.new(camdata.outputs["View Z Depth"], comb.inputs["Y"])
        comb.inputs["Z"].default_value = 1.0
        nt.links.new(comb.outputs["Vector"], emit.inputs["Color"])
    else:
        emit.inputs["Color"].default_value = (*rgb, 1.0)
    return mat


def _render_float(scene, path: Path, samples: int, filter_size: float) -> np.ndarray:
    """Render to a float EXR with raw (untransformed) values; returns (H, W, 4) float32, top row first."""
    settings = scene.render.image_settings
    saved = (scene.cycles.samples, scene.render.filter_size, scene.view_settings.view_transform,
             settings.media_type, settings.file_format, settings.color_depth,
             scene.render.filepath, scene.cycles.use_denoising, scene.view_settings.exposure)
    try:
        settings.media_type = "IMAGE"
        scene.cycles.samples = samples
        scene.cycles.use_denoising = False
        scene.render.filter_size = filter_size
        scene.view_settings.view_transform = "Raw"
        scene.view_settings.exposure = 0.0
        scene.render.image_settings.file_format = "OPEN_EXR"
        scene.render.image_settings.color_depth = "32"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(str(path))
        w, h = image.size
        pixels = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(pixels)
        bpy.data.images.remove(image)
        return pixels.reshape(h, w, 4)[::-1].copy()
    finally:
        (scene.cycles.samples, scene.render.filter_size, scene.view_settings.view_transform,
         settings.media_type, settings.file_format, settings.color_depth,
         scene.render.filepath, scene.cycles.use_denoising, scene.view_settings.exposure) = saved
        Path(path).unlink(missing_ok=True)


def render_instance_depth(builder, see_through) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel object pass index and camera-space depth (inf where nothing) of the current scene, one
    sample at each pixel centre. Materials for which `see_through(material)` is true are made transparent
    (window glass), the shadow-catching ground is hidden."""
    scene = builder.scene
    id_mat = _emission_material("check_id_depth", "id_depth")
    clear = bpy.data.materials.new("check_clear")
    nt = clear.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    tr = nt.nodes.new("ShaderNodeBsdfTransparent")
    nt.links.new(tr.outputs["BSDF"], out.inputs["Surface"])
    swapped = []
    for ob in scene.objects:
        if ob.type != "MESH":
            continue
        for slot in ob.material_slots:
            swapped.append((slot, slot.link, slot.material))
            target = clear if see_through(slot.material) else id_mat
            slot.link = "OBJECT"
            slot.material = target
        if not ob.material_slots:
            ob.data.materials.append(id_mat)
            swapped.append((None, ob, None))
    ground_hidden = builder.ground.hide_render
    builder.ground.hide_render = True
    try:
        pixels = _render_float(scene, Path(tempfile.gettempdir()) / f"pamtri_check_{os.getpid()}.exr", 1, 0.01)
    finally:
        builder.ground.hide_render = ground_hidden
        for slot, link, mat in reversed(swapped):
            if slot is None:
                link.data.materials.pop()
            else:
                slot.material = None
                slot.link = link
                if link == "OBJECT":
                    slot.material = mat
        bpy.data.materials.remove(id_mat)
        bpy.data.materials.remove(clear)
    alpha = pixels[..., 3]
    index = np.where(alpha > 0.5, np.round(pixels[..., 0]), 0).astype(np.int32)
    depth = np.where(alpha > 0.5, pixels[..., 1], np.inf)
    return index, depth


def render_markers(builder, points: np.ndarray, radius: float, samples: int = 64) -> list[np.ndarray]:
    """Render a small emissive sphere at each 3D point, one at a time with everything else hidden; returns
    each marker's alpha image (H, W) float."""
    import bmesh

    scene = builder.scene
    mat = _emission_material("check_marker", None)
    mesh = bpy.data.meshes.new("check_marker")
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=1.0)
    bm.to_mesh(mesh)
    bm.free()
    mesh.materials.append(mat)
    marker = bpy.data.objects.new("check_marker", mesh)
    scene.collection.objects.link(marker)
    hidden = [(ob, ob.hide_render) for ob in scene.objects if ob is not marker]
    for ob, _ in hidden:
        ob.hide_render = True
    world_strength = scene.world.node_tree.nodes["Background"].inputs["Strength"]
    saved_strength = world_strength.default_value
    world_strength.default_value = 0.0
    path = Path(tempfile.gettempdir()) / f"pamtri_marker_{os.getpid()}.exr"
    out = []
    try:
        for p in points:
            marker.location = tuple(float(v) for v in p)
            marker.scale = (radius, radius, radius)
            out.append(_render_float(scene, path, samples, 1.0)[..., 3])
    finally:
        for ob, h in hidden:
            ob.hide_render = h
        world_strength.default_value = saved_strength
        bpy.data.objects.remove(marker)
        bpy.data.meshes.remove(mesh)
        bpy.data.materials.remove(mat)
    return out
