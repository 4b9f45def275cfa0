"""The persistent Blender scene of one render worker, updated per sample from a `SceneSample`.

Built once per worker process (world, sun, camera, shadow-catching ground, a pool of occluder objects,
vehicles loaded on first use and then only shown/hidden), so each image changes only transforms and a few
values: Cycles' persistent data then skips most of the scene sync. Also answers the geometric questions the
labels need: the vehicle's silhouette hull, and ray casts for keypoint visibility and the visible fraction,
with window glass see-through (a person sees the far side's keypoints through it) down to the seats and
dashboard: behind the glass a ray stops at the lower cabin, modelled from the keypoints, so a hollow model
(a user's shell with nothing inside) does not show the far side's sill and wheel arches from inside its body.

Only this module and render_backend.py import bpy (inside the worker process).
"""
from __future__ import annotations

import numpy as np

import bpy
import mathutils
from mathutils.bvhtree import BVHTree

from synth.camera import (
    blender_camera_params, blender_matrix_world, camera_centre, pixel_rays, segment_box_entry)
from synth.blender.accessories import RoofBox
from synth.blender.caster import ShadowCaster
from synth.blender.occluders import OccluderPool, mesh_object
from synth.blender.render_backend import FrameReader, configure_cycles
from synth.blender import vehicles
from synth.blender.sky import set_sky, set_street, sky_node
from synth.compose import HEADROOM_STOPS
from synth.blender.vehicle_materials import LAMPS_PROP, tint_glass
from synth.shadows import lit_ground, lit_scale, sky_gradient, sun_direction
from synth.vehicles.library import lower_cabin_box
from synth.vocabulary import VIS_OCCLUDED, VIS_OUTSIDE, VIS_VISIBLE

GLASS_WORDS = ("glass", "window", "windshield", "windscreen")
VEHICLE_PASS_INDEX = 1


def _is_glass(material) -> bool:
    """See-through for labels: the library marks glass and cabin interior, the importer its glass and interior
    roles; other user models are recognised by material names and transmissive shaders."""
    if material is None:
        return False
    if material.get("pamtri_see_through"):
        return True
    if material.get("pamtri_role"):  # an imported model's role says it (a lamp's glass cover is the lamp's)
        return False
    if any(word in material.name.lower() for word in GLASS_WORDS):
        return True
    if material.node_tree:
        for node in material.node_tree.nodes:
            if node.type == "BSDF_GLASS":
                return True
            if node.type == "BSDF_PRINCIPLED":
                tw = node.inputs.get("Transmission Weight")
                if tw is not None and not tw.is_linked and tw.default_value > 0.5:
                    return True
    return False


def _tint_glass(material) -> None:
    """Render a user model's window material as the library's glass (a Fresnel mirror over a tinted
    see-through pane, clean at a few samples per pixel: a refracting pane is mostly Monte Carlo noise there).
    The library's own materials (glass, cabin) are built so already."""
    if material is None or material.get("pamtri_kind") or material.get("pamtri_look"):
        return
    if material.get("pamtri_see_through") and not any(w in material.name.lower() for w in GLASS_WORDS):
        return  # a marked cabin part, not a pane
    tint_glass(material)


def _polygons(mesh, offset: int = 0) -> list[list[int]]:
    """The mesh's polygons as vertex index lists (+ offset), read in bulk (a Python loop over the polygons
    took ~10 ms per model)."""
    count = np.empty(len(mesh.polygons), np.int64)
    mesh.polygons.foreach_get("loop_total", count)
    corner = np.empty(len(mesh.loops), np.int64)
    mesh.loops.foreach_get("vertex_index", corner)
    flat, ends = (corner + offset).tolist(), np.cumsum(count).tolist()
    return [flat[a:b] for a, b in zip([0] + ends[:-1], ends)]


MAX_PASS_THROUGH = 32  # see-through surfaces a label ray may cross: both panes, seats, heads, torsos, arms


class LoadedVehicle:
    """A library vehicle in the scene, with the geometry the labels need (world = vehicle frame)."""

    def __init__(self, asset, root, collection, depsgraph, tint_glass: bool = True):
        self.asset = asset
        self.root = root
        self.collection = collection
        self.objects = [o for o in [root, *root.children_recursive] if o.type == "MESH"]
        self.object_names = {o.name for o in self.objects}
        self.glass_slots: dict[str, set[int]] = {}
        verts_all, polys_all, offset = [], [], 0
        for ob in self.objects:
            ob.pass_index = VEHICLE_PASS_INDEX
            glass = {i for i, slot in enumerate(ob.material_slots) if _is_glass(slot.material)}
            for i in glass if tint_glass else ():
                _tint_glass(ob.material_slots[i].material)
            if glass:
                self.glass_slots[ob.name] = glass
            ev = ob.evaluated_get(depsgraph)
            mesh = ev.to_mesh()
            co = np.empty(len(mesh.vertices) * 3, np.float64)
            mesh.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3)
            M = np.array(ob.matrix_world)
            co = co @ M[:3, :3].T + M[:3, 3]
            verts_all.append(co)
            polys_all.extend(_polygons(mesh, offset))
            offset += len(co)
            ev.to_mesh_clear()
        verts = np.concatenate(verts_all) if verts_all else np.zeros((0, 3))
        if len(verts) < 4:
            raise ValueError(f"{asset.mesh_path}: the loaded model has no mesh geometry")
        self.bvh = BVHTree.FromPolygons(verts.tolist(), polys_all)
        from scipy.spatial import ConvexHull

        self.hull = verts[ConvexHull(verts).vertices]
        self.footprint = (verts[:, 0].min(), verts[:, 0].max(), verts[:, 1].min(), verts[:, 1].max())
        self.height = float(verts[:, 2].max())
        self.cabin = lower_cabin_box(asset.keypoints)
        self.accessory_corners = np.zeros((0, 3))  # the identity's accessories (synth/accessories.py) when shown

    @property
    def outline(self) -> np.ndarray:
        """Points whose projection bounds the vehicle as shown: its hull and its identity's accessories."""
        return np.vstack([self.hull, self.accessory_corners]) if len(self.accessory_corners) else self.hull

    def first_hit(self, scene, depsgraph, origin, direction, max_dist):
        """First opaque hit along a ray in `scene`: this vehicle's window glass is passed through, and behind it
        the lower cabin stops the ray whatever the model has inside (it then counts as a hit on the vehicle
        where the ray enters the cabin). Returns (distance, object) or (inf, None)."""
        travelled, glass, glass_at = 0.0, None, 0.0
        o = mathutils.Vector(origin)
        d = mathutils.Vector(direction)
        for _ in range(MAX_PASS_THROUGH):
            hit, loc, _n, index, obj, _m = scene.ray_cast(depsgraph, o, d, distance=max_dist - travelled)
            end = travelled + (loc - o).length if hit else max_dist
            if glass is not None:
                entry = self.cabin_entry(origin, direction, glass_at, end)
                if entry is not None:
                    return entry, glass
            if not hit:
                return np.inf, None
            travelled = end
            if obj.name in self.object_names and self.is_glass_hit(obj, index, depsgraph):
                if glass is None:
                    glass, glass_at = obj, travelled
                o = loc + d * 1e-4
                travelled += 1e-4
                continue
            return travelled, obj
        # still inside see-through parts (panes, seats, the people in them): the vehicle stops it
        return (travelled, glass) if glass is not None else (np.inf, None)

    def cabin_entry(self, origin, direction, start: float, end: float) -> float | None:
        """Distance along the ray origin + s * direction at which its part from `start` to `end` enters the
        lower cabin (seats, dashboard, floor), or None."""
        origin, direction = np.asarray(origin, np.float64), np.asarray(direction, np.float64)
        t = segment_box_entry(origin + start * direction, origin + end * direction, *self.cabin)
        return None if t is None else start + t * (end - start)

    def set_visible(self, visible: bool) -> None:
        # Unlink, not hide: Cycles still syncs the objects of a hidden collection, so with every model of the
        # library loaded a render cost 2-3x more. Unlinked, the scene holds exactly one vehicle whatever the
        # worker rendered before (the same scene, hence the same image, for a sample on any worker).
        children = bpy.context.scene.collection.children
        linked = self.collection.name in children
        if visible and not linked:
            children.link(self.collection)
        elif not visible and linked:
            children.unlink(self.collection)

    def is_glass_hit(self, obj, face_index: int, depsgraph) -> bool:
        slots = self.glass_slots.get(obj.name)
        if not slots:
            return False
        mesh = obj.evaluated_get(depsgraph).data
        if face_index < 0 or face_index >= len(mesh.polygons):
            return False
        return mesh.polygons[face_index].material_index in slots


# --- scene construction ------------------------------------------------------------------------------------


class SceneBuilder:
    """Owns the worker's scene: Blender's implementation of synth.backend.SceneBackend."""

    def __init__(self, models, occluder_slots: int = 2):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        vehicles._TEMPLATES.clear()  # the reset freed any cached model objects: never hand out stale ones
        self.scene = bpy.context.scene
        self.models = models
        self.vehicles: dict[str, LoadedVehicle] = {}
        self.current: LoadedVehicle | None = None
        self._street_key: int | None = None  # whose street panorama the sky shows
        self._build_world()
        self._build_camera_and_sun()
        self._build_ground()
        self._build_occluders(occluder_slots)
        self.roof_box = RoofBox(self.scene, VEHICLE_PASS_INDEX)
        self.caster = ShadowCaster(self.scene)
        self.reader: FrameReader | None = None

    # rendering: Cycles' settings and the frame reader (synth/blender/render_backend.py)
    def configure(self, quality) -> str:
        device = configure_cycles(self.scene, quality)
        self.reader = FrameReader(self.scene)
        return device

    def use_denoiser(self, denoiser) -> None:
        if self.reader is not None:
            self.reader.close()
        self.reader = FrameReader(self.scene, denoiser)

    def render(self, seed: int) -> np.ndarray:
        if self.reader is None:
            raise RuntimeError("SceneBuilder.render before configure(quality)")
        return self.reader.render(seed=seed)

    def update(self) -> None:
        self.scene.view_layers[0].update()

    # world: sky dome, a skyline band and the ground light the vehicle and show in its paint and glass
    def _build_world(self):
        """The sky (synth/blender/sky.py): seen in glossy bodies and windows, lighting the scene with the sun.
        Camera rays never see it (the film is transparent)."""
        world = bpy.data.worlds.new("sky")
        self.scene.world = world
        # The sky is not sampled as a light: its light arrives by the rays that bounce off surfaces (cosine- or
        # gloss-distributed, which suits a smooth dome), and every light sample goes to the sun. Sampled as a
        # light too (a 32 px importance map), each of 3 samples per pixel went to the sun or the sky by lot:
        # that variance came out of the denoiser as mottle on smooth paint, and the map cost its rebuild every
        # image. Without it: 25-30 % less mottle (against 64 samples) and 7 % less render time, same
        # brightness (bench/denoise_detail.py, docs/RENDER.md).
        world.cycles.sampling_method = "NONE"
        nt = world.node_tree
        nt.nodes.clear()
        coord = nt.nodes.new("ShaderNodeTexCoord")
        sky = sky_node(nt, coord.outputs["Generated"], clouds=False)  # sky.py says why
        bg = nt.nodes.new("ShaderNodeBackground")
        out = nt.nodes.new("ShaderNodeOutputWorld")
        nt.links.new(sky.outputs["Color"], bg.inputs["Color"])
        nt.links.new(sky.outputs["Strength"], bg.inputs["Strength"])
        nt.links.new(bg.outputs["Background"], out.inputs["Surface"])

    def _build_camera_and_sun(self):
        cam = bpy.data.cameras.new("camera")
        cam.clip_start, cam.clip_end = 0.1, 1000.0
        self.camera = bpy.data.objects.new("camera", cam)
        self.scene.collection.objects.link(self.camera)
        self.scene.camera = self.camera
        sun = bpy.data.lights.new("sun", "SUN")
        self.sun = bpy.data.objects.new("sun", sun)
        self.scene.collection.objects.link(self.sun)

    def _build_ground(self):
        mat = bpy.data.materials.new("ground")
        self._ground_bsdf = mat.node_tree.nodes["Principled BSDF"]
        self._ground_bsdf.inputs["Roughness"].default_value = 0.9
        verts = [(-0.5, -0.5, 0.0), (0.5, -0.5, 0.0), (0.5, 0.5, 0.0), (-0.5, 0.5, 0.0)]
        self.ground = mesh_object("ground", verts, [(0, 1, 2, 3)], mat, self.scene.collection)
        self.ground.pass_index = 0
        self.ground.is_shadow_catcher = True

    def _build_occluders(self, slots: int):
        self.occluders = OccluderPool(self.scene, self.models, slots)
        self.occluder_names: set[str] = set()

    # --- vehicles ------------------------------------------------------------------------------------------

    def vehicle(self, model_index: int) -> LoadedVehicle:
        asset = self.models[model_index]
        if asset.name not in self.vehicles:
            collection = bpy.data.collections.new(f"vehicle_{asset.name}")
            self.scene.collection.children.link(collection)
            try:
                # (its images are drawn by show_vehicle's set_look, with the shown identity's look)
                root = vehicles.load_vehicle(asset, collection=collection, draw_images=False)
            except Exception as exc:  # any importer failure becomes one clear line naming the file
                raise ValueError(f"{asset.mesh_path}: cannot load vehicle model: {exc}") from exc
            bpy.context.view_layer.update()
            loaded = LoadedVehicle(asset, root, collection, bpy.context.evaluated_depsgraph_get())
            loaded.set_visible(False)  # show_vehicle links it when it is the one to render
            self.vehicles[asset.name] = loaded
        return self.vehicles[asset.name]

    def show_vehicle(self, model_index: int, paint_rgb, look=None) -> LoadedVehicle:
        """Show model `model_index` (only it) in an identity's paint and look (synth/appearance.py)."""
        vehicle = self.vehicle(model_index)
        if self.current is not vehicle:
            if self.current is not None:
                self.current.set_visible(False)
            vehicle.set_visible(True)
            self.current = vehicle
        vehicles.set_look(vehicle.root, vehicle.asset, tuple(paint_rgb), look)
        vehicle.accessory_corners = self.roof_box.place(vehicle, getattr(look, "roof_box", ()))
        return vehicle

    def set_lamps(self, drl: float, brake: float) -> None:
        for obj in vehicles.vehicle_objects(self.current.root):
            obj[LAMPS_PROP] = [float(drl), float(brake), 0.0]

    # --- per-sample update ---------------------------------------------------------------------------------

    def set_camera(self, K_render: np.ndarray, Rt: np.ndarray, size: int) -> None:
        render = self.scene.render
        render.resolution_x = render.resolution_y = int(size)
        render.resolution_percentage = 100
        render.pixel_aspect_x = render.pixel_aspect_y = 1.0
        params = blender_camera_params(K_render, size, size)
        cam = self.camera.data
        cam.sensor_fit = params["sensor_fit"]
        cam.sensor_width = params["sensor_width"]
        cam.lens = params["lens"]
        cam.shift_x, cam.shift_y = params["shift_x"], params["shift_y"]
        self.camera.matrix_world = mathutils.Matrix(blender_matrix_world(Rt).tolist())

    def set_lighting(self, sample, sun_rgb) -> None:
        to_sun = mathutils.Vector(sun_direction(sample.sun_elevation, sample.sun_azimuth).tolist())
        self.sun.rotation_mode = "QUATERNION"
        self.sun.rotation_quaternion = to_sun.to_track_quat("Z", "Y")
        self.sun.data.energy = sample.sun_strength
        self.sun.data.color = sun_rgb
        self.sun.data.angle = np.radians(sample.sun_angle)
        # a clear sky paler and brighter at the horizon than overhead (what the upper half of a body's sides and
        # the windows mirror), an overcast one brightest overhead (shadows.sky_gradient); clouds per image
        horizon, zenith = sky_gradient(sample.sky_color, sample.overcast)
        set_sky(self.scene, horizon, zenith, lit_ground(sample, sun_rgb), sample.seed % 9973, sample.sky_strength,
                sample.cloud_cover, sample.cloud_brightness * horizon.max() * np.array([1.0, 0.98, 0.95]),
                street_light=lit_scale(sample, sun_rgb), street_yaw=sample.road_yaw)
        # under the image's exposure by the headroom that compose.develop gives back with its shoulder
        self.scene.view_settings.exposure = sample.exposure - HEADROOM_STOPS

    def set_street(self, key: int, rgba: np.ndarray | None) -> None:
        if key != self._street_key:  # 512 KB of pixels: written only when the road style changes
            set_street(rgba)
            self._street_key = key

    def set_ground(self, sample, vehicle: LoadedVehicle):
        """Shadow catcher under the vehicle and its shadow only: ground pixels are the costly ones, so the
        plane covers the footprint and where the sun throws the vehicle's and the occluders' shadows. Returns
        its rectangle on the ground (None without shadows): the road beyond it is shaded in 2D."""
        self.ground.hide_render = self.ground.hide_viewport = not sample.shadows
        # the catcher bounces light onto the body's lower half and shows in its paint: the road's albedo
        self._ground_bsdf.inputs["Base Color"].default_value = (*sample.ground_color, 1.0)
        if not sample.shadows:
            return None
        x0, x1, y0, y1 = vehicle.footprint
        pts = [(x0, y0), (x0, y1), (x1, y0), (x1, y1)]
        el, az = np.radians(max(sample.sun_elevation, 8.0)), np.radians(sample.sun_azimuth)
        reach = min(vehicle.height / np.tan(el), 12.0)
        dx, dy = -np.cos(az) * reach, -np.sin(az) * reach
        pts += [(x + dx, y + dy) for x, y in pts]
        for occ in sample.occluders:
            pts.append(occ.position)
            if occ.kind == "vehicle":  # other vehicles cast whole shadows too
                c, s = np.cos(np.radians(occ.yaw)), np.sin(np.radians(occ.yaw))
                reach = min(occ.size[2] / np.tan(el), 12.0)
                for u, v in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    x = occ.position[0] + u * occ.size[0] / 2 * c - v * occ.size[1] / 2 * s
                    y = occ.position[1] + u * occ.size[0] / 2 * s + v * occ.size[1] / 2 * c
                    pts += [(x, y), (x - np.cos(az) * reach, y - np.sin(az) * reach)]
        pts = np.array(pts)
        lo, hi = pts.min(0) - 0.6, pts.max(0) + 0.6
        self.ground.location = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0)
        self.ground.scale = (hi[0] - lo[0], hi[1] - lo[1], 1.0)
        return (float(lo[0]), float(lo[1])), (float(hi[0]), float(hi[1]))

    def set_caster(self, sample, mask) -> None:
        self.caster.place(sample.caster, mask, sample.sun_elevation, sample.sun_azimuth)

    def set_occluders(self, occluders, neighbour_look=None) -> None:
        self.occluder_names = self.occluders.place(occluders)
        if neighbour_look is not None and any(o.kind == "vehicle" for o in occluders):
            vehicles.write_neighbour_plate(neighbour_look)

    # --- labels by ray casting -----------------------------------------------------------------------------

    def _first_hit(self, depsgraph, origin, direction, max_dist):
        return self.current.first_hit(self.scene, depsgraph, origin, direction, max_dist)

    def keypoint_visibility(self, keypoints_world: np.ndarray, uv: np.ndarray, K: np.ndarray, Rt: np.ndarray,
                            size: int, tolerance: float = 0.1, self_tolerance: float = 0.0,
                            known: np.ndarray | None = None) -> np.ndarray:
        """3-state visibility of keypoints projected to `uv` in a size x size image with intrinsics K (docs/FORMAT.md).
        A keypoint is visible when the ray to it reaches it, or when a ray through a point a quarter of an output
        pixel away meets the vehicle at its depth: keypoints sit on edges and silhouettes, where which side of
        a sub-pixel boundary the exact ray falls is noise (it is the instance + depth test of check_labels).
        The defaults give the geometric truth (`keypoints`); `self_tolerance` (the vehicle's own body may cover
        a keypoint by this many metres along the ray and it still counts as visible) gives the ray cast behind
        the annotator model's codes (synth/annotation.py). `known`: the codes of a cast with no more tolerance;
        a larger tolerance only adds visibility, so its visible and outside keypoints keep their codes uncast."""
        depsgraph = bpy.context.evaluated_depsgraph_get()
        cam = camera_centre(Rt)
        vis = np.full(len(keypoints_world), VIS_OUTSIDE, np.int64) if known is None else np.array(known, np.int64)
        for k, (p, (u, v)) in enumerate(zip(keypoints_world, uv)):
            if known is not None and known[k] != VIS_OCCLUDED:
                continue
            if not (np.isfinite(u) and -0.5 <= u < size - 0.5 and -0.5 <= v < size - 0.5):
                continue
            ray = p - cam
            dist = float(np.linalg.norm(ray))
            hit_dist, obj = self._first_hit(depsgraph, cam, ray / dist, dist + 1.0)
            tol = max(tolerance, 0.008 * dist)  # keypoints sit on edges: grazing rays must not hide them
            if self_tolerance > 0 and obj is not None and obj.name in self.current.object_names:
                tol = max(tol, self_tolerance)
            seen = hit_dist >= dist - tol or self._seen_beside(depsgraph, cam, K, Rt, p, (u, v), tol)
            vis[k] = VIS_VISIBLE if seen else VIS_OCCLUDED
        return vis

    def _seen_beside(self, depsgraph, cam, K, Rt, point, uv, tol, offset: float = 0.25) -> bool:
        """Whether a ray through a pixel position up to `offset` output pixels from `uv` (the 8 neighbours of a
        square) first meets the vehicle within `tol` of the depth of `point`."""
        depth = float((Rt[:, :3] @ point + Rt[:, 3])[2])
        steps = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]) * offset
        for direction in pixel_rays(K, Rt, np.asarray(uv) + steps):
            scale = np.linalg.norm(direction)
            hit_dist, obj = self._first_hit(depsgraph, cam, direction / scale, (depth + 2 * tol) * scale)
            if obj is not None and obj.name in self.current.object_names and abs(hit_dist / scale - depth) <= tol:
                return True
        return False

    def visibility_grid(self, K: np.ndarray, Rt: np.ndarray, size: int, grid: int, occluded: bool):
        """Boolean (grid, grid) masks of the vehicle's amodal silhouette and of its visible part, sampled at
        pixel centres of a grid over the image. With no occluders in the scene, visible == amodal."""
        depsgraph = bpy.context.evaluated_depsgraph_get()
        cam = camera_centre(Rt)
        centres = (np.arange(grid) + 0.5) * size / grid - 0.5
        xs, ys = np.meshgrid(centres, centres)
        rays = pixel_rays(K, Rt, np.stack([xs, ys], -1)).reshape(-1, 3)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        amodal = np.zeros(len(rays), bool)
        visible = np.zeros(len(rays), bool)
        bvh = self.current.bvh
        o = mathutils.Vector(cam)
        for j, d in enumerate(rays):
            dv = mathutils.Vector(d)
            loc, _n, _i, dist = bvh.ray_cast(o, dv)
            if loc is None:
                continue
            amodal[j] = True
            if not occluded:
                visible[j] = True
                continue
            hit_dist, obj = self._first_hit(depsgraph, cam, d, dist + 1.0)
            visible[j] = obj is not None and obj.name in self.current.object_names
        return amodal.reshape(grid, grid), visible.reshape(grid, grid)
