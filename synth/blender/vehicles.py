"""Blender side of the vehicle library: load models into a scene, paint them, check keypoints against the
mesh, and (re)build the procedural library.

Contract: notes/asset_contract.md and docs/ASSETS.md. bpy is imported inside the functions, so importing this
module is cheap and safe without Blender.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.vehicles.library import AssetError, VehicleAsset, load_library
from synth.vehicles.params import DEFAULT_SEED, library_plan

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
        with bpy.data.libraries.load(str(path), link=False) as (src, dst):
            dst.objects = list(src.objects)
        objects = [o for o in dst.objects if o is not None]
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


def _templates(asset: VehicleAsset) -> list:
    from synth.blender.vehicle_materials import make_paintable

    key = str(Path(asset.mesh_path).resolve())
    if key not in _TEMPLATES:
        objects = _import_file(Path(asset.mesh_path))
        import bpy

        names = set(asset.paint_materials)
        missing = names - set(bpy.data.materials.keys())
        if missing:
            raise AssetError(asset.folder / "vehicle.yaml",
                             f"paint_material {sorted(missing)} not found in {asset.mesh_path}")
        for obj in objects:
            if obj.type == "MESH":
                for mat in obj.data.materials:
                    if mat is not None and mat.name in names:
                        make_paintable(mat)
        if asset.provenance.get("generator") != "procedural":  # user keypoints: refuse any off the surface
            _raise_if_off_surface(asset, _distances_to(objects, asset.keypoints), SURFACE_TOL)
        _TEMPLATES[key] = objects
    return _TEMPLATES[key]


def load_vehicle(asset: VehicleAsset, collection=None):
    """Put a copy of `asset` into `collection` (default: the scene's), under one root object at the origin
    (vehicle frame: x forward, y left, z up). Mesh data and materials are shared between copies; the body
    colour is per copy (set_body_color)."""
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
        from synth.vocabulary import COLOR_NAMES

        rgb = REFERENCE_RGB[COLOR_NAMES[asset.colors[0]]]
    else:
        rgb = DEFAULT_BODY_RGB
    set_body_color(root, asset, rgb, force=True)
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


def remove_vehicle(root) -> None:
    """Delete a loaded copy (objects only; shared mesh data stays cached)."""
    import bpy

    for obj in reversed(vehicle_objects(root)):
        bpy.data.objects.remove(obj)


def _distances_to(objects, points: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest face of `objects` (their world placement), skipping the cabin
    interior, which is no surface a keypoint may sit on."""
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    trees = []
    for obj in objects:
        if obj.type != "MESH":
            continue
        skip = {i for i, m in enumerate(obj.data.materials) if m is not None and m.name.endswith("_interior")}
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
    from synth.vocabulary import KEYPOINT_NAMES

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


def check_library(models_dir, tol: float = SURFACE_TOL) -> list[VehicleAsset]:
    """Load and validate every model of a directory, including the surface check."""
    assets = load_library(models_dir)
    for asset in assets:
        check_asset_surface(asset, tol)
    return assets


def build_library(out_dir="assets", seed: int = DEFAULT_SEED, n: int | None = None, force: bool = False,
                  spacing: float = 0.06, wheel_segments: int = 32, progress: bool = True) -> list[Path]:
    """Generate the procedural library into `out_dir` (one folder per model). Resumable: a folder whose
    sidecar already records the same seed and parameters is kept unless `force`."""
    import yaml
    from tqdm import tqdm

    from synth.blender.vehicle_mesh import write_model

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
