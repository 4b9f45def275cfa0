"""`cli.py assets check`: a contact sheet of every model from a few viewpoints with its keypoints drawn.

Rendered with Cycles at low samples (the real renderer's engine, so the sheet shows what the data will look like;
headless EEVEE/Workbench need a GPU context this machine does not have). Keypoints are projected with the camera
model of synth/camera.py (K and [R|t] from the Blender camera) and drawn with OpenCV: filled and numbered when a
ray from the camera reaches them, hollow when the vehicle hides them. Left-side keypoints (0-17) are drawn in
orange, right-side ones (18-35) in cyan.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import cv2
import numpy as np

from synth.blender.vehicles import REFERENCE_RGB, load_vehicle, remove_vehicle, set_look
from synth.camera import intrinsics_from_blender, project, rt_from_blender_matrix_world
from synth.vehicles.library import VehicleAsset

VIEWS = ((35.0, 12.0), (90.0, 5.0), (215.0, 18.0))  # (azimuth from the front towards the left, elevation) deg
LEFT_BGR, RIGHT_BGR = (0, 140, 255), (255, 200, 0)


def camera_matrices(cam_obj, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """K (3x3) and world-to-camera [R|t] (3x4, OpenCV frame) of a Blender camera (synth/camera.py)."""
    cam = cam_obj.data
    K = intrinsics_from_blender(cam.lens, cam.sensor_width, cam.sensor_height, cam.sensor_fit,
                                cam.shift_x, cam.shift_y, width, height)
    return K, rt_from_blender_matrix_world(np.array(cam_obj.matrix_world))


def _place_camera(cam_obj, asset: VehicleAsset, azimuth: float, elevation: float, width: int, height: int):
    """Aim the camera at the vehicle's centre from (azimuth, elevation), far enough to frame it."""
    from mathutils import Vector

    kps = asset.keypoints
    dims = asset.dimensions
    centre = np.array([0.0, 0.0, max(dims.get("height", kps[:, 2].max()) / 2, 0.5)])
    radius = 0.5 * math.sqrt(dims["length"] ** 2 + dims["width"] ** 2 + dims["height"] ** 2)
    fov = 2 * math.atan(cam_obj.data.sensor_width / (2 * cam_obj.data.lens)) * min(1.0, height / width)
    dist = radius / math.sin(fov / 2) * 0.92
    a, e = math.radians(azimuth), math.radians(elevation)
    pos = centre + dist * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    cam_obj.location = Vector(pos)
    direction = Vector(centre - pos)
    cam_obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def _setup_scene(width: int, height: int, samples: int):
    import bpy

    scene = bpy.data.scenes.new("pamtri_sheet")
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.cycles.max_bounces = 6
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"
    from synth.blender.sky import set_sky, sky_node  # imports bpy: this module loads without it

    world = bpy.data.worlds.new("pamtri_sheet_world")
    world.color = (0.55, 0.6, 0.68)
    nt = world.node_tree
    bg = nt.nodes.get("Background")
    sky = sky_node(nt, nt.nodes.new("ShaderNodeTexCoord").outputs["Generated"], clouds=False)
    nt.links.new(sky.outputs["Color"], bg.inputs["Color"])
    nt.links.new(sky.outputs["Strength"], bg.inputs["Strength"])
    set_sky(scene, (0.8, 0.85, 0.9), (0.35, 0.5, 0.85), (0.25, 0.25, 0.25), 0.0, 0.9)
    # the sky lights the vehicle by the rays that bounce off it, as in the dataset renderer
    # (scene_backend._build_world), not as a light too: its importance map cost ~4.5 s a view
    world.cycles.sampling_method = "NONE"
    scene.world = world
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.5
    sun.rotation_euler = (math.radians(40), math.radians(10), math.radians(30))
    scene.collection.objects.link(sun)
    ground = bpy.data.meshes.new("ground")
    ground.from_pydata([(-400, -400, 0), (400, -400, 0), (400, 400, 0), (-400, 400, 0)], [], [(0, 1, 2, 3)])
    gmat = bpy.data.materials.new("ground")
    gmat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.25, 0.25, 0.25, 1)
    ground.materials.append(gmat)
    scene.collection.objects.link(bpy.data.objects.new("ground", ground))
    cam_obj = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam_obj.data.lens = 50
    scene.collection.objects.link(cam_obj)
    scene.camera = cam_obj
    return scene, cam_obj


def _visible(scene, vehicle, cam_pos: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A keypoint is visible when the first opaque surface a ray meets lies at the keypoint (glass and the
    lower cabin as in the dataset labels: `LoadedVehicle.first_hit`)."""
    depsgraph = scene.view_layers[0].depsgraph
    depsgraph.update()
    out = np.zeros(len(points), bool)
    for i, p in enumerate(points):
        d = p - cam_pos
        dist = float(np.linalg.norm(d))
        hit_dist, _ = vehicle.first_hit(scene, depsgraph, cam_pos, d / dist, dist + 1.0)
        out[i] = hit_dist >= dist - 0.03
    return out


def draw_keypoints(img: np.ndarray, uv: np.ndarray, visible: np.ndarray, scale: float = 1.0) -> np.ndarray:
    img = img.copy()
    for i, ((x, y), vis) in enumerate(zip(uv, visible)):
        colour = LEFT_BGR if i < 18 else RIGHT_BGR
        c = (int(round(x)), int(round(y)))
        if vis:
            cv2.circle(img, c, max(2, int(3 * scale)), colour, -1, cv2.LINE_AA)
            cv2.putText(img, str(i), (c[0] + 3, c[1] - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.32 * scale, (0, 0, 0), 2,
                        cv2.LINE_AA)
            cv2.putText(img, str(i), (c[0] + 3, c[1] - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.32 * scale, colour, 1,
                        cv2.LINE_AA)
        else:
            cv2.circle(img, c, max(2, int(2 * scale)), colour, 1, cv2.LINE_AA)
    return img


def render_views(asset: VehicleAsset, views=VIEWS, width: int = 320, height: int = 220, samples: int = 12,
                 rgb=None) -> list[np.ndarray]:
    """Render one model from `views`; return BGR images with keypoints drawn."""
    import bpy

    from synth.blender.scene_backend import LoadedVehicle  # imports bpy: this module loads without it

    scene, cam_obj = _setup_scene(width, height, samples)
    images = []
    try:
        root = load_vehicle(asset, scene.collection)
        if rgb is not None:  # load_vehicle gave the model its plain look in its default colour
            set_look(root, asset, rgb)
        scene.view_layers[0].update()
        vehicle = LoadedVehicle(asset, root, scene.collection, scene.view_layers[0].depsgraph, tint_glass=False)
        with tempfile.TemporaryDirectory() as tmp:
            for k, (az, el) in enumerate(views):
                _place_camera(cam_obj, asset, az, el, width, height)
                scene.view_layers[0].update()
                scene.render.filepath = str(Path(tmp) / f"v{k}.png")
                with _window_scene(scene):
                    bpy.ops.render.render(write_still=True, scene=scene.name)
                img = cv2.imread(scene.render.filepath)
                K, Rt = camera_matrices(cam_obj, width, height)
                uv, _ = project(K, Rt, asset.keypoints)
                vis = _visible(scene, vehicle, np.array(cam_obj.matrix_world.translation), asset.keypoints)
                images.append(draw_keypoints(img, uv, vis))
        remove_vehicle(root)
    finally:
        for obj in list(scene.collection.objects):
            bpy.data.objects.remove(obj)
        bpy.data.scenes.remove(scene)
    return images


class _window_scene:
    """render.render(scene=...) renders the named scene; the depsgraph for ray casts must be that scene's."""

    def __init__(self, scene):
        self.scene = scene

    def __enter__(self):
        import bpy

        self.prev = bpy.context.window.scene if bpy.context.window else None
        if bpy.context.window:
            bpy.context.window.scene = self.scene

    def __exit__(self, *exc):
        import bpy

        if bpy.context.window and self.prev is not None:
            bpy.context.window.scene = self.prev


def contact_sheet(assets: list[VehicleAsset], out: Path, views=VIEWS, width: int = 320, height: int = 220,
                  samples: int = 12, progress: bool = True) -> Path:
    """One row per model (its views side by side, name and type in the corner), written as a PNG."""
    from tqdm import tqdm

    palette = ["red", "blue", "white", "gray", "green", "yellow", "black", "golden", "brown", "orange"]
    rows = []
    for i, asset in enumerate(tqdm(assets, desc="contact sheet", disable=not progress)):
        rgb = REFERENCE_RGB[palette[i % len(palette)]]
        imgs = render_views(asset, views, width, height, samples, rgb=rgb)
        row = np.concatenate(imgs, axis=1)
        label = f"{asset.name} ({asset.type_name})"
        cv2.putText(row, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(row, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
    # two models per sheet row keeps the picture closer to square
    if len(rows) > 6:
        if len(rows) % 2:
            rows.append(np.full_like(rows[0], 255))
        rows = [np.concatenate([rows[i], rows[i + 1]], axis=1) for i in range(0, len(rows), 2)]
    sheet = np.concatenate(rows, axis=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet)
    return out
