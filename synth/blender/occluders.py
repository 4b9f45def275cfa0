"""The roadside objects that stand between a traffic camera and the vehicle: street-light and signal poles, road
signs with printed faces, guard rails and pedestrian railings, trees and bushes, and other vehicles drawn from
the model library. One pool per render worker, built once; each sample only places, shows and hides entries
(synth.occlusion.Occluder describes them).

Only the Blender backend imports this module (bpy).
"""
from __future__ import annotations

import numpy as np

import bpy

from synth.blender.vehicle_materials import OTHER_PLATE_PROP, ShaderGraph
from synth.blender.vehicles import load_vehicle, set_body_color, vehicle_objects
from synth.roadside import SIGN_STYLES, sign_face
from synth.occlusion import OCCLUDER_KINDS

OCCLUDER_PASS_INDEX = 2
RAILING_LENGTH = 14.0  # the railing meshes are built this long and scaled to the sample's length
SIGN_FACES_PER_STYLE = 3


# --- meshes (plain numpy: vertices and faces) --------------------------------------------------------------


def _cylinder(n=12, r=1.0, z0=0.0, z1=1.0, x=0.0, y=0.0):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([x + r * np.cos(a), y + r * np.sin(a)], axis=1)
    verts = [(p[0], p[1], z0) for p in ring] + [(p[0], p[1], z1) for p in ring]
    faces = [(i, (i + 1) % n, n + (i + 1) % n, n + i) for i in range(n)]
    faces += [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
    return verts, faces


def _box(cx, cy, cz, sx, sy, sz):
    verts = [(cx + dx * sx / 2, cy + dy * sy / 2, cz + dz * sz / 2)
             for dz in (-1, 1) for dy in (-1, 1) for dx in (-1, 1)]
    faces = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    return verts, faces


def _merge(parts):
    verts, faces = [], []
    for v, f in parts:
        base = len(verts)
        verts += list(v)
        faces += [tuple(base + i for i in face) for face in f]
    return verts, faces


def _crown(seed, lumps=9, clumps=420):
    """A tree crown or bush: a cluster of lumpy spheres filling a unit-height volume centred on the z axis,
    sitting on z = 0 (scaled per use to the sample's radius and height), covered in leaf clusters (small spheres
    standing half out of it, 10-20 cm across on a 2 m bush), so the outline is a ragged run of leafy bumps
    as foliage's is, not a smooth blob. The lumps are dense enough for their ripples (a coarse sphere rippled
    finer than its edges read as crumpled facets close to the camera), and the clusters thin out on the
    underside, which a crown shades and nobody sees."""
    rng = np.random.default_rng(seed)
    import bmesh

    def icosphere(level):
        bm = bmesh.new()
        bmesh.ops.create_icosphere(bm, subdivisions=level, radius=0.5)
        verts = np.array([v.co[:] for v in bm.verts])
        faces = [tuple(v.index for v in f.verts) for f in bm.faces]
        bm.free()
        return verts, faces

    sphere, faces = icosphere(3)
    small, small_faces = icosphere(2)
    waves = rng.normal(0, 1, (8, 3)) * rng.uniform(4, 10, (8, 1))  # random directions, frequencies a lump resolves
    phases = rng.uniform(0, 2 * np.pi, 8)

    def ragged(v, amount):
        bumps = np.sin(v @ waves.T + phases) @ (0.6 ** np.arange(8) / 2.0)  # a few octaves, coarse to fine
        return v * (1 + amount * bumps[:, None])

    parts, blobs = [], []
    for k in range(lumps):  # a core and lumps standing out of it unevenly: a crown's outline is not an oval
        centre = np.array([0.0, 0.0, 0.5]) if k == 0 else np.array(
            [*rng.uniform(-0.32, 0.32, 2), rng.uniform(0.3, 0.75)])
        radius = 0.8 if k == 0 else rng.uniform(0.4, 0.65)
        blobs.append((centre, 0.5 * radius))
        parts.append((ragged(sphere * radius, 0.12) + centre, faces))
    weights = np.array([r for _, r in blobs]) ** 2
    for _ in range(clumps):  # leaf clusters over the blobs, fewer underneath
        centre, r = blobs[int(rng.choice(len(blobs), p=weights / weights.sum()))]
        d = rng.normal(0, 1, 3)
        if d[2] < 0 and rng.random() < 0.6:
            d[2] = -d[2]
        d /= np.linalg.norm(d)
        size = rng.uniform(0.05, 0.1)
        squash = np.array([1.0, 1.0, rng.uniform(0.6, 0.9)])  # leaves lie flat-ish: clusters wider than tall
        parts.append((small * size * squash + centre + d * r * rng.uniform(0.88, 1.0), small_faces))
    verts, faces = _merge(parts)
    verts = np.asarray(verts)
    # fit the unit volume by scaling, not clipping (a clipped crown has flat sides)
    verts[:, :2] /= 2 * np.abs(verts[:, :2]).max(axis=0)
    verts[:, 2] = (verts[:, 2] - verts[:, 2].min()) / np.ptp(verts[:, 2])
    return [tuple(v) for v in verts], faces


def _street_light_arm():
    """Arm and lamp head of a street light, from the top of its pole (at the origin) out along +x (metres)."""
    return _merge([_box(0.9, 0.0, -0.05, 1.8, 0.07, 0.07), _box(1.75, 0.0, -0.12, 0.6, 0.26, 0.1)])


def _guard_rail():
    """A W-beam guard rail on posts every 2 m, 1 m high before scaling to the sample's height, along x."""
    n = int(RAILING_LENGTH / 2) + 1
    posts = [_box(-RAILING_LENGTH / 2 + 2 * i, 0.0, 0.45, 0.1, 0.15, 0.9) for i in range(n)]
    beam = [_box(0.0, -0.12, 0.8, RAILING_LENGTH, 0.04, 0.12), _box(0.0, -0.1, 0.68, RAILING_LENGTH, 0.03, 0.1),
            _box(0.0, -0.1, 0.92, RAILING_LENGTH, 0.03, 0.06)]
    return _merge(posts + beam)


def _pedestrian_railing():
    """Top and bottom rails with vertical bars every 13 cm, 1 m high before scaling, along x."""
    n = int(RAILING_LENGTH / 0.13)
    bars = [_box(-RAILING_LENGTH / 2 + 0.13 * i, 0.0, 0.5, 0.018, 0.018, 0.96) for i in range(n + 1)]
    rails = [_box(0.0, 0.0, 0.98, RAILING_LENGTH, 0.05, 0.05), _box(0.0, 0.0, 0.1, RAILING_LENGTH, 0.04, 0.04)]
    posts = [_box(-RAILING_LENGTH / 2 + 2.5 * i, 0.0, 0.5, 0.06, 0.06, 1.0) for i in range(int(RAILING_LENGTH / 2.5) + 1)]
    return _merge(bars + rails + posts)


# --- materials ---------------------------------------------------------------------------------------------


def _object_colour_material(name, metallic=0.0, roughness=0.55):
    """Base colour from the object's colour (each placed object its own)."""
    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    info = nt.nodes.new("ShaderNodeObjectInfo")
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Roughness"].default_value = roughness
    nt.links.new(info.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _foliage_material(name):
    """Leaves: the object's green broken into leaves a few centimetres across, with dark gaps where the eye sees
    into the canopy between them (thresholded noise on world coordinates, so a bush and a tree have leaves of
    one size and the gaps are ragged holes, not the polygon borders of cells, which read as facets), clusters
    of their own brightness and yellowness, single leaves catching the light, and the crown darker towards its
    bottom, where it shades itself."""
    mat = bpy.data.materials.new(name)
    g = ShaderGraph(mat)
    info, coords = g.new("ShaderNodeObjectInfo"), g.new("ShaderNodeTexCoord")
    position = g.new("ShaderNodeNewGeometry").outputs["Position"]
    clusters = g.new("ShaderNodeTexNoise", Vector=position, Scale=3.5, Detail=2.0)
    leaves = g.new("ShaderNodeTexNoise", Vector=position, Scale=22.0, Detail=3.0, Roughness=0.6)
    grain = g.new("ShaderNodeTexNoise", Vector=position, Scale=80.0, Detail=1.0)
    # between the leaves: the canopy's inside, in its own shade (not black: light comes through the leaves)
    gap = g.map_range(leaves.outputs["Fac"], 0.36, 0.55, 0.3, 1.1)
    leaf = g.map_range(grain.outputs["Fac"], 0.3, 0.7, 0.82, 1.15)
    cluster_fac = clusters.outputs["Fac"]
    cluster = g.map_range(cluster_fac, 0.3, 0.7, 0.7, 1.25)
    # self-shade: the crown's bottom (its unit coordinates' z)
    _x, _y, z = g.split(coords.outputs["Object"])
    lower = g.map_range(z, 0.0, 0.8, 0.45, 1.05)
    shade = g.math("MULTIPLY", g.math("MULTIPLY", gap, leaf), g.math("MULTIPLY", cluster, lower))
    # lit clusters a little yellower
    yellow = g.mix_rgb(g.map_range(cluster_fac, 0.5, 0.75, 0.0, 0.35), info.outputs["Color"], (0.32, 0.36, 0.08))
    colour = g.new("ShaderNodeVectorMath")
    colour.operation = "SCALE"
    g.feed(colour.inputs[0], yellow)
    g.feed(colour.inputs["Scale"], shade)
    bump = g.new("ShaderNodeBump", Height=leaves.outputs["Fac"], Strength=1.0, Distance=0.08)
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour.outputs["Vector"], "Roughness": 0.65,
                                                "Normal": bump.outputs["Normal"]})
    g.finish(bsdf.outputs["BSDF"])
    return mat


def _sign_material(name, image_rgb: np.ndarray):
    """A sign panel: the printed face on its +x side (the panel's generated coordinates span it), grey metal
    on the back and edges."""
    h, w = image_rgb.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=False)
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = image_rgb[::-1].astype(np.float32) / 255.0  # bpy images start at the bottom row
    image.pixels.foreach_set(rgba.ravel())
    image.pack()
    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.45
    coord = nt.nodes.new("ShaderNodeTexCoord")
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    uv = nt.nodes.new("ShaderNodeCombineXYZ")
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.extension = "EXTEND"
    front = nt.nodes.new("ShaderNodeMath")
    front.operation = "GREATER_THAN"
    front.inputs[1].default_value = 0.9
    mix = nt.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    colours = [s for s in mix.inputs if s.type == "RGBA"]
    colours[0].default_value = (0.35, 0.36, 0.37, 1.0)
    nt.links.new(coord.outputs["Generated"], sep.inputs[0])
    # looking at the +x face, the panel's -y edge is on the viewer's left
    flip = nt.nodes.new("ShaderNodeMath")
    flip.operation = "SUBTRACT"
    flip.inputs[0].default_value = 1.0
    nt.links.new(sep.outputs["Y"], flip.inputs[1])
    nt.links.new(flip.outputs["Value"], uv.inputs["X"])
    nt.links.new(sep.outputs["Z"], uv.inputs["Y"])
    nt.links.new(uv.outputs["Vector"], tex.inputs["Vector"])
    nt.links.new(sep.outputs["X"], front.inputs[0])
    nt.links.new(front.outputs["Value"], mix.inputs["Factor"])
    nt.links.new(tex.outputs["Color"], colours[1])
    nt.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    return mat


# --- the pool ----------------------------------------------------------------------------------------------


def mesh_object(name, verts, faces, material, collection, smooth=False):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in verts], [], [tuple(f) for f in faces])
    mesh.update()
    for poly in mesh.polygons:
        poly.use_smooth = smooth
    mesh.materials.append(material)
    ob = bpy.data.objects.new(name, mesh)
    collection.objects.link(ob)
    ob.pass_index = OCCLUDER_PASS_INDEX
    return ob


class OccluderPool:
    """`slots` entries of every kind (library vehicles are loaded on first use, one copy per model); `place`
    shows the sample's occluders and hides the rest, and returns the names of the objects shown."""

    def __init__(self, scene, models, slots: int):
        self.models = models
        self.collection = bpy.data.collections.new("occluders")
        scene.collection.children.link(self.collection)
        c = self.collection
        painted = _object_colour_material("occluder_painted")
        metal = _object_colour_material("occluder_metal", metallic=0.85, roughness=0.35)
        self._painted, self._foliage, self._slots = painted, _foliage_material("occluder_foliage"), slots
        self.sign_materials = [
            _sign_material(f"sign_{s}_{k}", sign_face(s, seed=97 * s + k))
            for s in range(len(SIGN_STYLES)) for k in range(SIGN_FACES_PER_STYLE)]
        self.pool: dict[str, list[list]] = {k: [] for k in OCCLUDER_KINDS if k != "vehicle"}
        for j in range(slots):
            self.pool["pole"].append([mesh_object(f"pole{j}", *_cylinder(12), metal, c),
                                      mesh_object(f"polearm{j}", *_street_light_arm(), metal, c)])
            self.pool["sign"].append([
                mesh_object(f"signpole{j}", *_cylinder(8), metal, c),
                mesh_object(f"signpanel{j}", *_box(0.0, 0.0, 0.5, 1.0, 1.0, 1.0), self.sign_materials[0], c),
            ])
            self.pool["railing"].append([mesh_object(f"guardrail{j}", *_guard_rail(), metal, c),
                                         mesh_object(f"railing{j}", *_pedestrian_railing(), painted, c)])
        self.vehicles: dict[int, tuple] = {}  # model index -> (root, collection, objects)
        for entries in self.pool.values():
            for objs in entries:
                for ob in objs:
                    ob.hide_render = ob.hide_viewport = True

    def _vegetation(self, j: int) -> list:
        """Trunk and crown of vegetation slot j, built on first use: a crown's 36,000 faces take 0.3 s to build,
        which a worker whose samples never show one (or a short test) need not spend."""
        while len(self.pool["vegetation"]) <= j:
            k = len(self.pool["vegetation"])
            objs = [mesh_object(f"trunk{k}", *_cylinder(8), self._painted, self.collection),
                    mesh_object(f"crown{k}", *_crown(k), self._foliage, self.collection, smooth=True)]
            for ob in objs:
                ob.hide_render = ob.hide_viewport = True
            self.pool["vegetation"].append(objs)
        return self.pool["vegetation"][j]

    def _vehicle(self, model_index: int):
        """A copy of library model `model_index` (its own objects, shared meshes), loaded on first use."""
        if model_index not in self.vehicles:
            collection = bpy.data.collections.new(f"occluder_vehicle_{model_index}")
            root = load_vehicle(self.models[model_index], collection=collection, draw_images=False)
            objects = [o for o in vehicle_objects(root) if o.type == "MESH"]
            for ob in objects:
                ob.pass_index = OCCLUDER_PASS_INDEX
                ob[OTHER_PLATE_PROP] = 1.0  # its plate is the sample's neighbours' (set_occluders draws it)
            self.vehicles[model_index] = (root, collection, objects)
        return self.vehicles[model_index]

    def place(self, occluders) -> set[str]:
        used = {k: 0 for k in self.pool}
        shown: set[str] = set()
        wanted_vehicles = set()
        for occ in occluders:
            x, y = occ.position
            yaw = np.radians(occ.yaw)
            a, b, c = occ.size
            if occ.kind == "vehicle":
                root, collection, objects = self._vehicle(occ.model)
                wanted_vehicles.add(occ.model)
                root.location = (x, y, 0.0)
                root.rotation_euler = (0.0, 0.0, yaw)
                set_body_color(root, self.models[occ.model], tuple(occ.color))
                shown.update(o.name for o in objects)
                continue
            pool = self.pool[occ.kind]
            if occ.kind == "vegetation" and used[occ.kind] < self._slots:
                self._vegetation(used[occ.kind])
            if used[occ.kind] >= len(pool):
                continue
            objs = list(pool[used[occ.kind]])
            used[occ.kind] += 1
            for ob in objs:
                ob.location = (x, y, 0.0)
                ob.rotation_euler = (0.0, 0.0, yaw)
                ob.color = (*occ.color, 1.0)
            if occ.kind == "pole":
                objs[0].scale = (a, a, b)
                objs[1].location = (x, y, b)
                if not c:  # a plain pole (signals, cameras), no street-light arm
                    objs = objs[:1]
            elif occ.kind == "sign":
                objs[0].scale = (0.05, 0.05, c + b)
                objs[0].color = (0.45, 0.46, 0.47, 1.0)
                objs[1].scale = (0.04, a, b)
                objs[1].location = (x, y, c)
                objs[1].material_slots[0].material = self.sign_materials[occ.variant % len(self.sign_materials)]
            elif occ.kind == "railing":
                objs = objs[:1] if c else objs[1:]
                objs[0].scale = (a / RAILING_LENGTH, 1.0, b)
            else:  # vegetation: a bush (no trunk) or a small tree
                trunk = c > 0.5
                crown_h = b * (0.6 if trunk else 1.0)
                objs[0].scale = (0.12, 0.12, b - crown_h + 0.2)
                objs[0].color = (0.12, 0.07, 0.03, 1.0)
                objs[1].scale = (a * 2, a * 2, crown_h)
                objs[1].location = (x, y, b - crown_h)
                if not trunk:
                    objs = objs[1:]
            for ob in objs:
                shown.add(ob.name)
                ob.hide_render = ob.hide_viewport = False
        for entries in self.pool.values():
            for objs in entries:
                for ob in objs:
                    if ob.name not in shown and not ob.hide_render:
                        ob.hide_render = ob.hide_viewport = True
        children = bpy.context.scene.collection.children
        for index, (_root, collection, _objects) in self.vehicles.items():
            linked = collection.name in children
            if index in wanted_vehicles and not linked:
                children.link(collection)
            elif index not in wanted_vehicles and linked:
                children.unlink(collection)
        return shown
