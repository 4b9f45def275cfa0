"""Blender side of the vehicle library: load models into a scene, paint them, check keypoints against the
mesh, and (re)build the procedural library.

Contract: docs/ASSETS.md. bpy is imported inside the functions, so importing this
module is cheap and safe without Blender.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from synth.accessories import SUNROOF_PROP, sunroof_rect
from synth.appearance import AppearanceConfig, MarksConfig, glass_texture, identity_look, plate_texture, side_texture
from synth.vehicles.library import AssetError, VehicleAsset
from synth.vehicles.params import DEFAULT_SEED, library_plan
from synth.vocabulary import COLOR_NAMES, KEYPOINT_NAMES

BODY_COLOR_PROP = "pamtri_body_color"
DEFAULT_BODY_RGB = (0.35, 0.35, 0.35)
SURFACE_TOL = 0.02  # metres: keypoints must lie this close to the mesh

# linear RGB used for fixed-colour models and the contact sheet (the renderer samples its own shades)
REFERENCE_RGB = {
    "yellow": (0.85, 0.62, 0.02), "orange": (0.85, 0.22, 0.01), "green": (0.03, 0.25, 0.05),
    "gray": (0.22, 0.22, 0.23), "red": (0.55, 0.02, 0.02), "blue": (0.02, 0.07, 0.42),
    "white": (0.78, 0.78, 0.78), "golden": (0.55, 0.38, 0.12), "brown": (0.18, 0.07, 0.03),
    "black": (0.012, 0.012, 0.012),
}

_TEMPLATES: dict[str, list] = {}  # mesh path -> template objects (not in any scene), reused by later loads


def _import_file(path: Path) -> list:
    """Import a mesh file; return the new objects, unlinked from every scene (templates)."""
    import bpy

    suffix = path.suffix.lower()
    try:
        objects = _run_importer(bpy, path, suffix)
    except (RuntimeError, OSError) as exc:
        raise AssetError(path, f"cannot read the mesh: {exc}") from None
    for obj in [o for o in objects if o.type not in ("MESH", "EMPTY")]:  # cameras, lights of a user's file
        objects.remove(obj)
        bpy.data.objects.remove(obj)
    if not any(o.type == "MESH" for o in objects):
        raise AssetError(path, "the file holds no mesh object")
    for obj in objects:
        obj.use_fake_user = True
    return objects


def _run_importer(bpy, path: Path, suffix: str) -> list:
    if suffix == ".blend":
        objects = _link_blend(bpy, path)
    else:
        before = set(bpy.data.objects)
        if suffix in (".glb", ".gltf"):
            result = bpy.ops.import_scene.gltf(filepath=str(path))
        elif suffix == ".obj":
            result = bpy.ops.wm.obj_import(filepath=str(path), forward_axis="X", up_axis="Z")
        elif suffix == ".fbx":
            result = bpy.ops.import_scene.fbx(filepath=str(path))
        else:
            raise AssetError(path, f"unsupported mesh format {suffix}")
        if "FINISHED" not in result:
            raise AssetError(path, "the importer failed")
        objects = [o for o in bpy.data.objects if o not in before]
        for obj in objects:
            for coll in list(obj.users_collection):
                coll.objects.unlink(obj)
    return objects


def _link_blend(bpy, path: Path) -> list:
    """A .blend file's objects as local copies over its linked (read-only, shared) meshes, with local copies of
    its materials on the objects' material slots. Appending (link=False) makes every datablock local, and
    Blender's make-local step walks all of the data already loaded for each one: in a worker, the 48th model
    took 0.4 s to append against 0.02 s for the first (10 s per worker for the library, bench/model_load.py).
    Linking stays near 0.02 s; only what the renderer edits is copied: objects (custom properties, parents)
    and materials (shaders refreshed, images re-pointed)."""
    with bpy.data.libraries.load(str(path), link=True) as (src, dst):
        dst.objects = list(src.objects)
    linked = [o for o in dst.objects if o is not None]
    copies = {o: o.copy() for o in linked}
    materials: dict = {}
    for original, obj in copies.items():
        if original.parent in copies:
            obj.parent = copies[original.parent]
        for slot in obj.material_slots:
            mat = slot.material
            if mat is None or mat.library is None:
                continue
            if mat not in materials:
                materials[mat] = mat.copy()
            slot.link = "OBJECT"
            slot.material = materials[mat]
    return list(copies.values())


def slot_materials(obj) -> list:
    """The materials an object renders with, slot by slot (object-linked slots included, unlike mesh.materials)."""
    return [slot.material for slot in obj.material_slots]


def _data_name(block) -> str:
    """A datablock's (or a datablock name's) stem: without the '.001' Blender appends when a name is taken (a
    model imported and then loaded in one process has its materials twice, and vehicle.yaml may name either)."""
    return re.sub(r"\.\d{3}$", "", block if isinstance(block, str) else block.name)


def _templates(asset: VehicleAsset) -> list:
    from synth.blender.vehicle_materials import make_paintable, refresh_material  # imports bpy: this module loads without it

    key = str(Path(asset.mesh_path).resolve())
    if key not in _TEMPLATES:
        objects = _import_file(Path(asset.mesh_path))
        import bpy

        names = set(asset.paint_materials)
        missing = names - set(bpy.data.materials.keys())
        if missing:
            raise AssetError(asset.folder / "vehicle.yaml",
                             f"paint_material {sorted(missing)} not found in {asset.mesh_path}")
        paint = {_data_name(name) for name in names}
        for obj in objects:
            if obj.type == "MESH":
                for mat in slot_materials(obj):
                    if mat is not None and not refresh_material(mat, asset.name) and _data_name(mat) in paint:
                        make_paintable(mat)
        if asset.provenance.get("generator") != "procedural":
            _light_user_lamps(objects)
        _set_geometry_props(objects)
        if asset.provenance.get("generator") != "procedural":  # user keypoints: refuse any off the surface
            _raise_if_off_surface(asset, _distances_to(objects, asset.keypoints), SURFACE_TOL)
        _TEMPLATES[key] = objects
    return _TEMPLATES[key]


def _light_user_lamps(objects) -> None:
    """A user model's lamp materials (`pamtri_role: lamp`, set on import) light up with the render's daytime
    running lights when they sit in the front half (x > 0 in the vehicle frame) and with its brake lights in
    the rear half, as the library's lamps do."""
    from synth.blender.vehicle_materials import light_user_lamp  # imports bpy: this module loads without it

    weight: dict = {}
    for obj in objects:
        if obj.type != "MESH" or not obj.data.polygons:
            continue
        mesh, mats = obj.data, slot_materials(obj)
        n = len(mesh.polygons)
        centre, area, index = np.empty(n * 3), np.empty(n), np.empty(n, np.int64)
        mesh.polygons.foreach_get("center", centre)
        mesh.polygons.foreach_get("area", area)
        mesh.polygons.foreach_get("material_index", index)
        x = (centre.reshape(-1, 3) @ np.array(obj.matrix_world)[:3, :3].T)[:, 0] + obj.matrix_world[0][3]
        for i, mat in enumerate(mats):
            if mat is not None and mat.get("pamtri_role") == "lamp":
                sel = index == i
                w = weight.setdefault(mat.name, [mat, 0.0, 0.0])
                w[1] += float((area[sel] * x[sel]).sum())
                w[2] += float(area[sel].sum())
    for mat, moment, total in weight.values():
        if total > 0:
            light_user_lamp(mat, "drl" if moment / total > 0 else "lens_red")


def load_vehicle(asset: VehicleAsset, collection=None, draw_images: bool = True):
    """Put a copy of `asset` into `collection` (default: the scene's), under one root object at the origin
    (vehicle frame: x forward, y left, z up), in its plain look. Mesh data and materials are shared between
    copies; the body colour is per copy (set_body_color). `draw_images=False` leaves the worker's shared plate,
    sticker and livery images as they are: a vehicle loaded as an occluder after the shown identity's look was
    drawn must not put the plain look's plate on that identity."""
    import bpy

    collection = collection or bpy.context.scene.collection
    templates = _templates(asset)
    copies = {t: t.copy() for t in templates}
    for copy in copies.values():
        copy.use_fake_user = False
        collection.objects.link(copy)
    for t, copy in copies.items():
        if t.parent in copies:
            copy.parent = copies[t.parent]
    tops = [c for t, c in copies.items() if t.parent not in copies]
    if len(tops) == 1 and tops[0].type == "EMPTY":
        root = tops[0]
    else:  # user models: gather everything under a new root
        root = bpy.data.objects.new(asset.name, None)
        collection.objects.link(root)
        for top in tops:
            top.parent = root
    root["pamtri_model"] = asset.name
    root.location = (0.0, 0.0, 0.0)
    root.rotation_euler = (0.0, 0.0, 0.0)
    if asset.fixed_color:
        rgb = REFERENCE_RGB[COLOR_NAMES[asset.colors[0]]]
    else:
        rgb = DEFAULT_BODY_RGB
    set_body_color(root, asset, rgb, force=True)
    set_look(root, asset, rgb, draw_images=draw_images)
    return root


def vehicle_objects(root) -> list:
    """The root and every object under it."""
    return [root] + list(root.children_recursive)


def set_body_color(root, asset: VehicleAsset, rgb_linear, force: bool = False) -> None:
    """Set the car-paint base colour (linear RGB) of one loaded vehicle. Fixed-colour models keep their
    colour unless `force`."""
    if asset.fixed_color and not force:
        return
    rgb = [float(c) for c in rgb_linear][:3]
    for obj in vehicle_objects(root):
        obj[BODY_COLOR_PROP] = rgb


def plain_look(asset: VehicleAsset, rgb_linear):
    """A look with the default paint finish and plate and no marks (stickers, livery, dirt, dents, roof box,
    sunroof): a freshly loaded model's, and the contact sheet's. Otherwise the worker's shared plate / sticker /
    livery images would keep whatever identity was drawn last."""
    from types import SimpleNamespace

    marks = MarksConfig(sticker_count=(0, 0), livery_prob=0.0, taxi_prob=0.0, bus_livery_prob=0.0, dirt_prob=0.0,
                        dent_prob=0.0, roof_box_prob=0.0, sunroof_prob={})
    return identity_look(AppearanceConfig(marks=marks), 0, SimpleNamespace(
        vehicle_id=0, type_id=asset.type_id, paint_rgb=tuple(rgb_linear), twin_of=-1))


def set_look(root, asset: VehicleAsset, rgb_linear, look=None, draw_images: bool = True) -> None:
    """Give one loaded vehicle an identity's look (synth/appearance.py IdentityLook; None: `plain_look`):
    paint colour and finish, dirt, glass tint, and the worker's plate / sticker / livery images. Fixed-colour
    models keep their colour."""
    if look is None:
        look = plain_look(asset, rgb_linear)
    set_body_color(root, asset, rgb_linear)
    body = root.get(BODY_COLOR_PROP, list(rgb_linear))
    roof = list(look.roof_rgb) if look.two_tone else list(body)
    for obj in vehicle_objects(root):
        obj["pamtri_roof_color"] = roof
        obj["pamtri_finish"] = [look.metallic, look.roughness, look.coat_roughness]
        obj["pamtri_finish2"] = [look.coat, look.flake, look.pearl]
        obj["pamtri_wear"] = [look.dirt, look.dents, look.cladding]
        obj[SUNROOF_PROP] = list(sunroof_rect(asset.keypoints, look.sunroof))
        obj["pamtri_glass"] = [float(look.glass_transmission), float(look.windshield_transmission), 0.0]
    if draw_images:
        write_look_images(look)


_IMAGE_LOOK: dict[str, object] = {}  # shared image name -> the look whose texture it holds


def write_look_images(look) -> None:
    """Draw the look's plate, windshield stickers and side livery into the worker's shared images (skipped
    when they already hold this identity's)."""
    for name, draw in (("plate", plate_texture), ("glass_marks", glass_texture), ("side_marks", side_texture)):
        _draw_image(name, draw, look)


def write_neighbour_plate(look) -> None:
    """Draw the plate the sample's other vehicles wear (appearance.neighbour_look) into "plate_other"."""
    _draw_image("plate_other", plate_texture, look)


def _draw_image(name: str, draw, look) -> None:
    from synth.blender.vehicle_materials import shared_image  # imports bpy: this module loads without it

    img = shared_image(name)
    if _IMAGE_LOOK.get(img.name) == look and img.get("pamtri_drawn"):
        return
    w, h = img.size
    rgb = draw(look, (h, w))
    rgba = np.empty((h, w, 4), np.float32)
    rgba[..., :3] = rgb[..., :3] / 255.0
    rgba[..., 3] = rgb[..., 3] / 255.0 if rgb.shape[2] == 4 else 1.0
    img.pixels.foreach_set(rgba[::-1].ravel())  # Blender's rows run bottom to top
    img.update()
    img["pamtri_drawn"] = True
    _IMAGE_LOOK[img.name] = look


def _set_geometry_props(objects) -> None:
    """Measure where the shaders project their textures (vehicle frame, metres) and store it on every object
    (loaded copies inherit it): the body's extent, the roof line of a two-tone paint, the windshield and both
    plates and a truck's enlarged rear number as (half width, z low, z high) rectangles, the paint's lowest point
    (where cladding starts). See synth/blender/vehicle_materials.py."""
    from synth.blender.vehicle_materials import (  # imports bpy: this module loads without it
        PLATE_KINDS, REAR_NUMBER, REAR_NUMBER_PROP, material_kind)

    verts, glass, plates, paint, numbers = [], {"windshield": [], "side": []}, [], [], []
    for obj in objects:
        if obj.type != "MESH":
            continue
        mesh, world = obj.data, np.array(obj.matrix_world)
        co = np.empty(len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
        verts.append(co)
        kinds = [None if m is None else (material_kind(m) or m.name.lower()) for m in slot_materials(obj)]
        n = len(mesh.polygons)
        slot, normal, count = np.empty(n, np.int32), np.empty(n * 3), np.empty(n, np.int32)
        mesh.polygons.foreach_get("material_index", slot)
        mesh.polygons.foreach_get("normal", normal)
        mesh.polygons.foreach_get("loop_total", count)
        normal = normal.reshape(-1, 3) @ world[:3, :3].T
        corner = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corner)
        poly_of_corner = np.repeat(np.arange(n), count)  # loops are stored polygon after polygon
        for index, kind in enumerate(kinds):
            if kind is None:
                continue
            if kind in ("paint", REAR_NUMBER):
                (paint if kind == "paint" else numbers).append(co[corner[(slot == index)[poly_of_corner]]])
                continue
            is_glass = kind == "glass" or any(w in kind for w in ("glass", "window", "windshield"))
            is_plate = kind in PLATE_KINDS or "plate" in kind
            if not (is_glass or is_plate):
                continue
            if is_glass:
                groups = {"windshield": (slot == index) & (normal[:, 0] > 0.35),
                          "side": (slot == index) & (np.abs(normal[:, 1]) > 0.5)}
                for name, polys in groups.items():
                    if polys.any():
                        glass[name].append(co[corner[polys[poly_of_corner]]])
            else:
                plates.append(co[corner[(slot == index)[poly_of_corner]]])
    if not verts:
        return
    allv = np.concatenate(verts)
    xmin, xmax, height = float(allv[:, 0].min()), float(allv[:, 0].max()), float(allv[:, 2].max())
    plate = np.concatenate(plates) if plates else np.zeros((0, 3))
    front = plate[:, 0] > (xmin + xmax) / 2  # as the plate shader tells the ends apart

    def rect(groups, default):
        groups = [g for g in groups if len(g)]
        if not groups:
            return default
        pts = np.concatenate(groups)
        return [float(np.abs(pts[:, 1]).max()), float(pts[:, 2].min()), float(pts[:, 2].max())]

    side = glass["side"]
    roof_z = float(np.concatenate(side)[:, 2].max()) - 0.03 if side else 0.8 * height
    props = {
        "pamtri_extent": [xmin, xmax, height],
        "pamtri_roof_z": roof_z,
        "pamtri_floor_z": float(np.concatenate(paint)[:, 2].min()) if paint else 0.0,  # the paint's lowest point
        "pamtri_windshield": rect(glass["windshield"], [0.7, 0.8 * height, height]),
        "pamtri_plate_front": rect([plate[front]], [0.22, 0.3, 0.44]),
        "pamtri_plate_rear": rect([plate[~front]], [0.22, 0.3, 0.44]),
        REAR_NUMBER_PROP: rect(numbers, [0.55, 1.2, 1.55]),
    }
    for obj in objects:
        for key, value in props.items():
            obj[key] = value


def remove_vehicle(root) -> None:
    """Delete a loaded copy (objects only; shared mesh data stays cached)."""
    import bpy

    for obj in reversed(vehicle_objects(root)):
        bpy.data.objects.remove(obj)


def _distances_to(objects, points: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest face of `objects` (their world placement), skipping the cabin
    (seats, dashboard, its people: CABIN_KINDS), which is no surface a keypoint may sit on."""
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    from synth.blender.vehicle_materials import CABIN_KINDS  # imports bpy: this module loads without it

    cabin = tuple(f"_{kind}" for kind in CABIN_KINDS)
    trees = []
    for obj in objects:
        if obj.type != "MESH":
            continue
        skip = {i for i, m in enumerate(slot_materials(obj)) if m is not None and m.name.split(".")[0].endswith(cabin)}
        polys = [list(p.vertices) for p in obj.data.polygons if p.material_index not in skip]
        if not polys:
            continue
        world = np.array(obj.matrix_world)
        verts = np.array([v.co for v in obj.data.vertices]) @ world[:3, :3].T + world[:3, 3]
        trees.append(BVHTree.FromPolygons(verts.tolist(), polys))
    out = np.full(len(points), np.inf)
    for i, point in enumerate(points):
        for tree in trees:
            hit = tree.find_nearest(Vector(point))
            if hit[0] is not None:
                out[i] = min(out[i], hit[3])
    return out


def surface_distances(asset: VehicleAsset) -> np.ndarray:
    """Distance (m) from each of the 36 keypoints to the nearest surface of the model's mesh."""
    return _distances_to(_templates(asset), asset.keypoints)


def _raise_if_off_surface(asset: VehicleAsset, dist: np.ndarray, tol: float) -> None:
    bad = np.nonzero(dist > tol)[0]
    if len(bad):
        where = ", ".join(f"{i} {KEYPOINT_NAMES[i]} ({dist[i]:.3f} m)" for i in bad[:8])
        raise AssetError(asset.folder / "vehicle.yaml",
                         f"{len(bad)} keypoint(s) lie more than {tol} m from the surface of {asset.mesh_path.name}: "
                         f"{where}" + (" ..." if len(bad) > 8 else ""))


def check_asset_surface(asset: VehicleAsset, tol: float = SURFACE_TOL) -> np.ndarray:
    """Raise AssetError naming the sidecar when a keypoint is more than `tol` metres from the mesh surface.
    Returns the distances."""
    dist = surface_distances(asset)
    _raise_if_off_surface(asset, dist, tol)
    return dist


def build_library(out_dir="assets", seed: int = DEFAULT_SEED, n: int | None = None, force: bool = False,
                  spacing: float = 0.06, wheel_segments: int = 32, progress: bool = True) -> list[Path]:
    """Generate the procedural library into `out_dir` (one folder per model). Resumable: a folder whose
    sidecar already records the same seed and parameters is kept unless `force`."""
    import yaml
    from tqdm import tqdm

    from synth.blender.vehicle_mesh import write_model  # imports bpy: this module loads without it

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = library_plan(seed, n)
    folders = []
    for spec in tqdm(specs, desc="vehicle models", disable=not progress):
        folder = out_dir / spec.name
        sidecar = folder / "vehicle.yaml"
        if not force and sidecar.is_file() and (folder / "model.blend").is_file():
            try:
                prov = yaml.safe_load(sidecar.read_text()).get("provenance", {})
                same = prov.get("params") == spec.params.to_dict() and prov.get("spacing") == spacing
            except Exception:
                same = False
            if same:
                folders.append(folder)
                continue
        folders.append(write_model(spec, out_dir, spacing=spacing, wheel_segments=wheel_segments))
    return folders
