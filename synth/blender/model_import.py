"""Blender side of `cli.py assets import`: read a user's model with Blender's own importers, bake it (object
transforms, parent hierarchies, modifiers and the pose at the first animation frame all applied into plain
meshes), hand numpy arrays to synth/vehicles/importer.py, then write the normalised model folder
(model.blend + vehicle.yaml) through a temporary folder renamed into place, so nothing is half-written.

Also `export_model`: write a model folder's mesh to .glb/.obj/.fbx under a given 4x4 transform (the round-trip
bench and tests use it to make ground truth in other frames and units).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import yaml

from synth.blender.vehicles import REFERENCE_RGB
from synth.vehicles.importer import (ImportFailure, ImportResult, MaterialInfo, MeshArrays, analyse,
                                     role_from_material)
from synth.vehicles.library import PAINTABLE_COLORS, load_asset, write_sidecar
from synth.vocabulary import KEYPOINT_NAMES

IMPORT_SUFFIXES = (".blend", ".glb", ".gltf", ".obj", ".fbx", ".stl", ".ply", ".usd", ".usda", ".usdc", ".usdz")
MESH_NAME = "model.blend"
OVERRIDES_KEY = "overrides"


def _import_objects(bpy, path: Path) -> list:
    """Objects of the file, linked into a scratch scene (so the depsgraph evaluates them)."""
    suffix = path.suffix.lower()
    before = set(bpy.data.objects)
    try:
        if suffix == ".blend":
            with bpy.data.libraries.load(str(path), link=False) as (src, dst):
                dst.objects = list(src.objects)
            objects = [o for o in dst.objects if o is not None]
        else:
            op = {".glb": bpy.ops.import_scene.gltf, ".gltf": bpy.ops.import_scene.gltf,
                  ".obj": bpy.ops.wm.obj_import, ".fbx": bpy.ops.import_scene.fbx, ".stl": bpy.ops.wm.stl_import,
                  ".ply": bpy.ops.wm.ply_import}.get(suffix, bpy.ops.wm.usd_import)
            result = op(filepath=str(path))
            if "FINISHED" not in result:
                raise ImportFailure(path, "Blender's importer could not read the file")
            objects = [o for o in bpy.data.objects if o not in before]
    except (RuntimeError, OSError, ValueError) as exc:
        raise ImportFailure(path, f"Blender cannot read the file: {str(exc).strip().splitlines()[-1]}") from None
    return objects


def _material_info(mat) -> MaterialInfo:
    info = MaterialInfo(name=mat.name if mat else "none")
    if mat is None:
        return info
    info.base_color = tuple(mat.diffuse_color[:3])
    info.see_through = bool(mat.get("pamtri_see_through", False))
    if mat.node_tree is None:
        return info
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        return info

    def value(name, default):
        sock = bsdf.inputs.get(name)
        return default if sock is None else sock.default_value

    base = bsdf.inputs["Base Color"]
    info.base_color = tuple(base.default_value[:3])
    if base.is_linked and not mat.get("pamtri_paint", False):  # our own paint drives its colour itself
        node = base.links[0].from_node
        if node.type == "TEX_IMAGE" and node.image is not None and node.image.size[0] > 0:
            info.has_texture = True  # an image gives the body its colour (an atlas)
            img = node.image
            px = np.empty(img.size[0] * img.size[1] * img.channels, np.float32)
            img.pixels.foreach_get(px)
            info.base_color = tuple(px.reshape(-1, img.channels)[:, :3].mean(0))
    info.metallic = float(value("Metallic", 0.0))
    info.roughness = float(value("Roughness", 0.5))
    info.transmission = float(value("Transmission Weight", value("Transmission", 0.0)))
    info.alpha = float(value("Alpha", 1.0))
    em = bsdf.inputs.get("Emission Color")
    strength = float(value("Emission Strength", 0.0))
    info.emission = strength * (max(em.default_value[:3]) if em is not None else 0.0)
    return info


def _coords(me) -> np.ndarray:
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


# Parts whose triangles average under this share of the model's length on a side are decimated on import: 1/500
# is 1 cm on a car, where a traffic camera at 250 px sees 2 cm per pixel (a CC0 BMW M6's tyres carried 483k of
# its 793k triangles, in sidewall lettering).
MIN_EDGE = 1 / 500


class LoadedModel:
    """The file's meshes baked into world space (new mesh datablocks), detail finer than `min_edge` of the
    length merged (None: kept), its arrays, and its materials."""

    def __init__(self, path: Path, min_edge: float | None = MIN_EDGE):
        import bpy

        self.path = path
        scene = bpy.data.scenes.new("pamtri_import")
        try:
            objects = _import_objects(bpy, path)
        except ImportFailure:
            bpy.data.scenes.remove(scene)
            raise
        for obj in objects:
            for coll in list(obj.users_collection):
                coll.objects.unlink(obj)
            scene.collection.objects.link(obj)
        scene.frame_set(scene.frame_start)
        depsgraph = scene.view_layers[0].depsgraph
        depsgraph.update()
        self.meshes = []  # (object name, baked mesh)
        for obj in objects:
            if obj.type not in ("MESH", "CURVE", "SURFACE", "META", "FONT"):
                continue
            ev = obj.evaluated_get(depsgraph)
            me = bpy.data.meshes.new_from_object(ev, preserve_all_data_layers=True, depsgraph=depsgraph)
            me.transform(ev.matrix_world)
            if len(me.polygons):
                self.meshes.append((obj.name, me))
            else:
                bpy.data.meshes.remove(me)
        for obj in objects:
            bpy.data.objects.remove(obj)
        bpy.data.scenes.remove(scene)
        if not self.meshes:
            raise ImportFailure(path, "the file holds no mesh")
        self.decimated = self._cap_detail(min_edge) if min_edge else {}
        self.arrays = self._arrays()

    def _cap_detail(self, min_edge: float) -> dict[str, tuple[int, int]]:
        """Merge triangles finer than `min_edge` of the model's length, part by part (a collapse decimation to
        the ratio that brings a part's mean triangle up to that size): detail a traffic camera cannot resolve
        costs render time and memory all the same. Returns {part: (triangles before, after)} for those changed."""
        import bpy

        lo = np.min([np.min(_coords(me), axis=0) for _, me in self.meshes], axis=0)
        hi = np.max([np.max(_coords(me), axis=0) for _, me in self.meshes], axis=0)
        min_area = 0.5 * (min_edge * float(np.max(hi - lo))) ** 2  # a right triangle with legs of min_edge
        changed = {}
        for k, (obj_name, me) in enumerate(self.meshes):
            me.calc_loop_triangles()
            n = len(me.loop_triangles)
            area = sum(p.area for p in me.polygons)
            if n < 1000 or area / n >= min_area:
                continue
            obj = bpy.data.objects.new("pamtri_decimate", me)
            mod = obj.modifiers.new("decimate", "DECIMATE")
            mod.ratio = max(area / n / min_area, 0.02)
            scene = bpy.data.scenes.new("pamtri_decimate")
            scene.collection.objects.link(obj)
            scene.frame_set(scene.frame_start)  # (builds the scene's depsgraph)
            depsgraph = scene.view_layers[0].depsgraph
            low = bpy.data.meshes.new_from_object(obj.evaluated_get(depsgraph), preserve_all_data_layers=True,
                                                 depsgraph=depsgraph)
            bpy.data.objects.remove(obj)
            bpy.data.scenes.remove(scene)
            bpy.data.meshes.remove(me)
            low.calc_loop_triangles()
            changed[obj_name] = (n, len(low.loop_triangles))
            self.meshes[k] = (obj_name, low)
        return changed

    def _arrays(self) -> MeshArrays:
        verts, tris, tri_mat, tri_obj = [], [], [], []
        materials, mat_index, base = [], {}, 0
        for k, (_, me) in enumerate(self.meshes):
            me.calc_loop_triangles()
            n = len(me.vertices)
            co = _coords(me)
            lt = np.empty(len(me.loop_triangles) * 3, np.int64)
            me.loop_triangles.foreach_get("vertices", lt)
            mi = np.empty(len(me.loop_triangles), np.int64)
            me.loop_triangles.foreach_get("material_index", mi)
            local = []
            for mat in me.materials:
                key = mat.name if mat else "none"
                if key not in mat_index:
                    mat_index[key] = len(materials)
                    materials.append(_material_info(mat))
                local.append(mat_index[key])
            local = np.array(local or [-1])
            verts.append(co)
            tris.append(lt.reshape(-1, 3) + base)
            tri_mat.append(local[np.clip(mi, 0, len(local) - 1)])
            tri_obj.append(np.full(len(mi), k))
            base += n
        return MeshArrays(verts=np.concatenate(verts), tris=np.concatenate(tris), tri_material=np.concatenate(tri_mat),
                          tri_object=np.concatenate(tri_obj), materials=materials,
                          object_names=[n for n, _ in self.meshes])

    def release(self) -> None:
        import bpy

        for _, me in self.meshes:
            if me.users == 0:
                bpy.data.meshes.remove(me)
        self.meshes = []


def _read_overrides(folder: Path) -> dict:
    path = folder / "vehicle.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return {}
    return dict(data.get(OVERRIDES_KEY) or {})


def parse_fix(text: str) -> tuple[int, np.ndarray]:
    """'12=x,y,z' -> (12, array); the right-side twin is mirrored."""
    try:
        idx, xyz = text.split("=")
        point = np.array([float(v) for v in xyz.split(",")])
        i = int(idx)
        assert point.shape == (3,) and 0 <= i < 36
    except (ValueError, AssertionError):
        raise ValueError(f"--fix {text!r}: expected INDEX=x,y,z with INDEX 0..35 (metres, vehicle frame)") from None
    return i, point


def apply_overrides(result: ImportResult, overrides: dict, arrays_m=None) -> list[str]:
    """Apply an override block (type, paint_material, roles, keypoints) to an analysis; returns what changed."""
    done = []
    if overrides.get("type"):
        result.type_name, result.type_guessed = str(overrides["type"]), False
        done.append(f"type {result.type_name}")
    for name, role in (overrides.get("material_roles") or {}).items():
        result.roles[str(name)] = str(role)
        done.append(f"material {name}: {role}")
    if overrides.get("material_roles"):
        result.paint_materials = [n for n, r in result.roles.items() if r == "paint"]
    for idx, xyz in (overrides.get("keypoints") or {}).items():
        i = int(idx)
        p = np.asarray(xyz, float)
        j = i + 18 if i < 18 else i - 18
        result.keypoints[i] = p
        result.keypoints[j] = p * [1.0, -1.0, 1.0]
        result.methods[i % 18] = {"method": "override", "confidence": "measured", "snapped_cm": 0.0}
        done.append(f"keypoint {i} (and {j} mirrored)")
    return done


def import_model(path: str | Path, out_dir: str | Path, name: str | None = None, type_name: str | None = None,
                 length: float | None = None, fixes: list[str] = (), licence: str | None = None,
                 source: str | None = None, keep_detail: bool = False) -> tuple[Path, ImportResult]:
    """Import one file into `out_dir/<name>/`. Overrides already in that folder's vehicle.yaml and `fixes`
    (INDEX=x,y,z) are applied and kept. Parts finer than MIN_EDGE of the length are decimated unless
    `keep_detail`. Raises ImportFailure (nothing written) on bad input."""
    import bpy

    path = Path(path)
    if not path.is_file():
        raise ImportFailure(path, "no such file")
    if path.suffix.lower() not in IMPORT_SUFFIXES:
        raise ImportFailure(path, f"unsupported format {path.suffix!r} (one of {', '.join(IMPORT_SUFFIXES)})")
    name = name or _clean_name(path.stem if path.stem.lower() not in ("model", "scene") else path.parent.name)
    out_dir = Path(out_dir)
    final = out_dir / name
    overrides = _read_overrides(final)
    for fix in fixes:
        i, p = parse_fix(fix)
        overrides.setdefault("keypoints", {})[i] = [float(v) for v in p]
    loaded = LoadedModel(path, None if keep_detail else MIN_EDGE)
    try:
        result = analyse(loaded.arrays, path, type_name=type_name or overrides.get("type"), length=length)
        if loaded.decimated:
            before, after = (sum(v[i] for v in loaded.decimated.values()) for i in (0, 1))
            result.notes.append(f"decimated {len(loaded.decimated)} part(s) finer than 1/{round(1 / MIN_EDGE)} of "
                                f"the length: {before} -> {after} triangles (--keep-detail keeps them)")
        changed = apply_overrides(result, overrides)
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = out_dir / f".importing.{name}.{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        tmp = staging / name  # the folder is named as it will be: the sidecar's name must equal it
        tmp.mkdir(parents=True)
        try:
            atlas = _atlas_colour(result.paint_materials, loaded.arrays.materials)
            if atlas is not None:
                result.notes.append(f"the paint is a texture: kept as it is, fixed colour {atlas}")
                result.paint_materials = []
            _write_blend(bpy, loaded, result, name, tmp / MESH_NAME)
            _write_sidecar(tmp, result, path, overrides, changed, licence, source, write_sidecar, atlas)
            if final.exists():
                old = staging / f"{name}.replaced"
                os.replace(final, old)
                os.replace(tmp, final)
            else:
                os.replace(tmp, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        loaded.release()
    return final, result


def _clean_name(stem: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_")
    return out or "model"


def _write_blend(bpy, loaded: LoadedModel, result: ImportResult, name: str, path: Path) -> None:
    from mathutils import Matrix

    matrix = Matrix([list(r) for r in result.matrix])
    root = bpy.data.objects.new(name, None)
    root["pamtri_model"] = name
    objects = [root]
    see_through = {n for n, r in result.roles.items() if r in ("glass", "interior")}
    for obj_name, me in loaded.meshes:
        me.transform(matrix)
        me.update()
        obj = bpy.data.objects.new(f"{name}.{obj_name}", me)
        obj.parent = root
        objects.append(obj)
        for mat in me.materials:
            if mat is None:
                continue
            mat["pamtri_role"] = result.roles.get(mat.name, "trim")
            if mat.name in see_through:
                mat["pamtri_see_through"] = True
            if mat.name in result.paint_materials:
                mat["pamtri_paint"] = True
            if mat.node_tree:
                for node in mat.node_tree.nodes:
                    if node.type == "TEX_IMAGE" and node.image is not None and not node.image.packed_file:
                        try:
                            node.image.pack()
                        except RuntimeError:
                            pass
    try:
        bpy.data.libraries.write(str(path), set(objects), path_remap="NONE", fake_user=False, compress=True)
    finally:
        for obj in objects:
            bpy.data.objects.remove(obj)


def _atlas_colour(paint: list, materials: list) -> str | None:
    """A model whose body colour comes from a texture (an atlas shared with windows, lamps, tyres) cannot be
    repainted without painting everything: it keeps its look, as a fixed colour (the VeRi colour nearest the
    texture's mean). None when the paint is a plain colour."""
    infos = [m for m in materials if m.name in paint]
    if not infos or not all(m.has_texture for m in infos):
        return None
    if any(role_from_material(m)[0] == "paint" for m in infos):  # named paint: repainted even if textured
        return None
    rgb = np.mean([m.base_color for m in infos], axis=0)
    return min(REFERENCE_RGB, key=lambda c: float(np.sum((np.asarray(REFERENCE_RGB[c]) - rgb) ** 2)))


def _write_sidecar(folder: Path, result: ImportResult, source_path: Path, overrides: dict, changed, licence,
                   source, write_sidecar, atlas) -> None:
    paint = result.paint_materials
    textured_only = atlas is not None
    policy = {"mode": "paintable", "colors": list(PAINTABLE_COLORS)}
    if atlas is not None:
        policy = {"mode": "fixed", "color": atlas}
    write_sidecar(folder, type_name=result.type_name, mesh=MESH_NAME, keypoints=result.keypoints,
                  paint_material=paint if len(paint) != 1 else paint[0], colour_policy=policy,
                  dimensions=result.dimensions,
                  provenance=_plain({"source": source or str(source_path), "licence": licence or "unknown",
                                     "imported_from": source_path.name, "unit": result.unit,
                                     "scale": round(result.scale, 6)}))
    review = [f"{i} {KEYPOINT_NAMES[i]}" for i, m in enumerate(result.methods) if m["confidence"] != "measured"]
    extra = {
        "import": {
            "type_guessed": result.type_guessed,
            "type_scores": {k: round(float(v), 3) for k, v in result.type_scores.items()},
            "matrix": [[round(float(v), 7) for v in row] for row in result.matrix],
            "wheels": result.wheels,
            "textured_paint_fixed_colour": bool(textured_only),
            "warnings": list(result.warnings),
            "review": review,
        },
        "material_roles": dict(result.roles),
        "keypoint_methods": [{"index": i, "name": KEYPOINT_NAMES[i], **m} for i, m in enumerate(result.methods)],
        OVERRIDES_KEY: overrides or {},
    }
    extra = _plain(extra)
    path = folder / "vehicle.yaml"
    text = path.read_text()
    note = ("# overrides: kept across re-imports; keys type, material_roles {name: role}, keypoints {index: [x, y, z]}"
            " (a keypoint's mirror twin follows)\n")
    path.write_text(text + yaml.safe_dump(extra, sort_keys=False, default_flow_style=None).replace(
        f"\n{OVERRIDES_KEY}:", f"\n{note}{OVERRIDES_KEY}:"))


def _plain(obj):
    """numpy scalars and arrays inside dicts/lists -> plain Python (for yaml.safe_dump)."""
    if isinstance(obj, dict):
        return {str(k) if isinstance(k, np.str_) else (int(k) if isinstance(k, np.integer) else k): _plain(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def export_model(model_folder: str | Path, out_path: str | Path, matrix: np.ndarray) -> Path:
    """Write the model folder's mesh to .glb/.obj/.fbx after applying `matrix` (4x4) to every object."""
    import bpy
    from mathutils import Matrix

    asset = load_asset(model_folder)
    out_path = Path(out_path)
    scene = bpy.context.scene
    with bpy.data.libraries.load(str(asset.mesh_path), link=False) as (src, dst):
        dst.objects = list(src.objects)
    objects = [o for o in dst.objects if o is not None]
    for obj in scene.objects:
        obj.select_set(False)
    for obj in objects:
        scene.collection.objects.link(obj)
    bpy.context.view_layer.update()
    m = Matrix([list(r) for r in matrix])
    for obj in objects:
        if obj.parent is None:
            obj.matrix_world = m @ obj.matrix_world
    for obj in objects:
        obj.select_set(True)
    bpy.context.view_layer.update()
    try:
        suffix = out_path.suffix.lower()
        if suffix == ".glb":
            bpy.ops.export_scene.gltf(filepath=str(out_path), export_format="GLB", use_selection=True,
                                      export_apply=True)
        elif suffix == ".obj":
            bpy.ops.wm.obj_export(filepath=str(out_path), forward_axis="Y", up_axis="Z", export_selected_objects=True)
        elif suffix == ".fbx":
            bpy.ops.export_scene.fbx(filepath=str(out_path), use_selection=True)
        else:
            raise ValueError(f"cannot export {suffix}")
    finally:
        for obj in objects:
            bpy.data.objects.remove(obj)
    return out_path


ROUNDTRIP_UNITS = {"m": 1.0, "cm": 100.0, "mm": 1000.0, "inch": 1 / 0.0254}


def random_placement(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A 4x4 from the vehicle frame to a random file frame: a rotation permuting the axes (with signs), a unit
    (m, cm, mm, inch) and an offset of up to 5 m; and the unit's name."""
    perm = rng.permutation(3)
    rot = np.zeros((3, 3))
    rot[np.arange(3), perm] = rng.choice([-1.0, 1.0], 3)
    if np.linalg.det(rot) < 0:
        rot[0] *= -1
    unit = str(rng.choice(list(ROUNDTRIP_UNITS)))
    k = ROUNDTRIP_UNITS[unit]
    m = np.eye(4)
    m[:3, :3] = rot * k
    m[:3, 3] = rng.uniform(-5, 5, 3) * k
    return m, unit


def roundtrip(model_folder: str | Path, fmt: str, rng: np.random.Generator, work_dir: str | Path) -> dict:
    """Export a model with known keypoints in a random frame and unit, import it back, compare the keypoints."""
    import time

    asset = load_asset(model_folder)
    matrix, unit = random_placement(rng)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    exported = export_model(model_folder, work_dir / f"{asset.name}.{fmt}", matrix)
    t0 = time.perf_counter()
    folder, result = import_model(exported, work_dir / "imported", name=f"{asset.name}_{fmt}")
    seconds = time.perf_counter() - t0
    err = np.linalg.norm(result.keypoints - asset.keypoints, axis=1)
    return {"model": asset.name, "format": fmt, "unit": unit, "unit_found": result.unit,
            "type": asset.type_name, "type_guessed": result.type_name, "seconds": round(seconds, 2),
            "median_cm": round(float(np.median(err)) * 100, 2), "max_cm": round(float(err.max()) * 100, 2),
            "errors_cm": [round(float(e) * 100, 2) for e in err], "folder": str(folder)}
