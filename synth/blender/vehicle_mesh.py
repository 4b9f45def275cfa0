"""Turn the pure-numpy vehicle parts (synth/vehicles/geometry.py) into Blender objects and save a model folder.

Imported lazily (bpy) by synth/blender/vehicles.py.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import bpy  # noqa: I001 (bmesh needs bpy loaded first)
import bmesh
import numpy as np

from synth.blender.vehicle_materials import make_material, make_paint
from synth.vehicles.assemble import build_vehicle_mesh
from synth.vehicles.geometry import Part, Profile, keypoints
from synth.vehicles.library import PAINTABLE_COLORS, write_sidecar
from synth.vehicles.params import ModelSpec

MESH_NAME = "model.blend"
SMOOTH_ANGLE = math.radians(35)
# shaded smooth in a part that is otherwise flat (the details' boxes and prisms)
ROUNDED_KINDS = ("load", "load_sand", "load_gravel", "tarp_blue", "tarp_green", "tarp_grey")


def part_to_object(name: str, part: Part, materials: dict[str, bpy.types.Material]) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    verts = np.asarray(part.verts, dtype=np.float64)
    mesh.from_pydata(verts.tolist(), [], [list(f) for f in part.faces])
    used = sorted(set(part.materials), key=part.materials.index)
    for key in used:
        mesh.materials.append(materials[key])
    index = {key: i for i, key in enumerate(used)}
    mesh.polygons.foreach_set("material_index", [index[m] for m in part.materials])
    mesh.validate(clean_customdata=False)
    bm = bmesh.new()
    bm.from_mesh(mesh)
    bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=1e-5)  # degenerate rows of the loft collapse
    bmesh.ops.dissolve_degenerate(bm, edges=bm.edges, dist=1e-6)
    bmesh.ops.recalc_face_normals(bm, faces=bm.faces)
    bm.to_mesh(mesh)
    bm.free()
    if part.smooth:
        mesh.shade_smooth()
        mesh.set_sharp_from_angle(angle=SMOOTH_ANGLE)
    else:
        mesh.shade_flat()
        rounded = [index[k] for k in ROUNDED_KINDS if k in index]
        if rounded:  # a mound among the boxes: its facets would read as low-poly
            mats = np.zeros(len(mesh.polygons), np.int32)
            mesh.polygons.foreach_get("material_index", mats)
            mesh.polygons.foreach_set("use_smooth", np.isin(mats, rounded).tolist())
    obj = bpy.data.objects.new(name, mesh)
    return obj


def model_materials(name: str, type_name: str, kinds) -> dict[str, bpy.types.Material]:
    """Fresh materials for one model, one per material kind its parts use (names prefixed with the model so
    files never collide on append)."""
    mats = {"paint": make_paint(f"{name}_paint")}
    for kind in sorted(set(kinds) - {"paint", "plate"}):
        mats[kind] = make_material(kind, f"{name}_{kind}")
    plate = "plate_yellow" if type_name in ("bus", "truck") else "plate_blue"
    mats["plate"] = make_material(plate, f"{name}_plate")
    return mats


def build_objects(spec: ModelSpec, spacing: float = 0.06, wheel_segments: int = 32):
    """Create the model's objects (root empty + parts) in bpy.data, not linked to any scene."""
    parts = build_vehicle_mesh(spec.params, spacing=spacing, wheel_segments=wheel_segments)
    mats = model_materials(spec.name, spec.params.type_name, {m for part in parts.values() for m in part.materials})
    root = bpy.data.objects.new(spec.name, None)
    root.empty_display_type = "PLAIN_AXES"
    root["pamtri_model"] = spec.name
    objects = [root]
    for key, part in parts.items():
        obj = part_to_object(f"{spec.name}.{key}", part, mats)
        obj.parent = root
        objects.append(obj)
    return root, objects, list(mats.values())


def _remove(objects, materials):
    meshes = [o.data for o in objects if o.type == "MESH"]
    for obj in objects:
        bpy.data.objects.remove(obj)
    for mesh in meshes:
        bpy.data.meshes.remove(mesh)
    for mat in materials:
        bpy.data.materials.remove(mat)


def colour_policy(spec: ModelSpec) -> dict:
    if spec.fixed_color:
        return {"mode": "fixed", "color": spec.fixed_color}
    return {"mode": "paintable", "colors": list(PAINTABLE_COLORS)}


def write_model(spec: ModelSpec, models_dir: Path, spacing: float = 0.06, wheel_segments: int = 32) -> Path:
    """Build one procedural model and write `<models_dir>/<name>/` (model.blend, then vehicle.yaml last, so a
    folder with a sidecar is complete)."""
    folder = Path(models_dir) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    root, objects, mats = build_objects(spec, spacing, wheel_segments)
    try:
        path = folder / MESH_NAME
        tmp = folder / f".{MESH_NAME}.tmp{os.getpid()}.blend"
        bpy.data.libraries.write(str(tmp), set(objects), path_remap="NONE", fake_user=False, compress=True)
        os.replace(tmp, path)
    finally:
        _remove(objects, mats)
    p = spec.params
    prof = Profile(p)
    write_sidecar(
        folder, type_name=p.type_name, mesh=MESH_NAME, keypoints=keypoints(p),
        paint_material=f"{spec.name}_paint", colour_policy=colour_policy(spec),
        dimensions={"length": prof.length, "width": p.width, "height": prof.height},
        provenance={"generator": "procedural", "generator_version": 1, "seed": spec.seed, "index": spec.index,
                    "params": p.to_dict(), "spacing": spacing, "wheel_segments": wheel_segments},
    )
    return folder
