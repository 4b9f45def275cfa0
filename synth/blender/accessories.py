"""Blender side of synth/accessories.py: one roof box and its cross bars per worker, placed on the shown
vehicle's roof for identities that carry one and unlinked otherwise. Only the Blender backend imports it."""
from __future__ import annotations

import numpy as np

import bpy
import bmesh
import mathutils

from synth.accessories import box_corners, rounded_box_mesh, roof_box_frame, roof_span

BAR_SIZE = (0.035, 0.03)  # cross-bar depth along x and height (m)


def _plastic(name: str):
    mat = bpy.data.materials.new(name)
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.35
    bsdf.inputs["Coat Weight"].default_value = 0.3
    return mat


def _mesh(name: str, verts, faces, material):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in verts], [], [tuple(f) for f in faces])
    bm = bmesh.new()
    bm.from_mesh(mesh)
    bmesh.ops.recalc_face_normals(bm, faces=bm.faces)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    mesh.materials.append(material)
    return bpy.data.objects.new(name, mesh)


class RoofBox:
    """The worker's roof box: `place` puts it on a loaded vehicle (or takes it away) and returns the corners the
    vehicle's amodal box must now contain."""

    def __init__(self, scene, pass_index: int):
        self.collection = bpy.data.collections.new("accessories")
        self.scene = scene
        self.material = _plastic("roof_box")
        self.bar_material = _plastic("roof_bars")
        self.bar_material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.02, 0.02, 0.022, 1)
        self.box = _mesh("roof_box", *rounded_box_mesh(), self.material)
        # two bars across the roof, each a unit box scaled per vehicle
        cube = [(x, y, z) for z in (0, 1) for y in (-0.5, 0.5) for x in (-0.5, 0.5)]
        quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
        self.bars = [_mesh(f"roof_bar_{i}", cube, quads, self.bar_material) for i in range(2)]
        for ob in (self.box, *self.bars):
            ob.pass_index = pass_index
            self.collection.objects.link(ob)
        self.shown = False

    def _show(self, show: bool) -> None:
        children = self.scene.collection.children
        if show and not self.shown:
            children.link(self.collection)
        elif not show and self.shown:
            children.unlink(self.collection)
        self.shown = show

    def place(self, vehicle, roof_box) -> np.ndarray:
        """Put the box of IdentityLook.roof_box on `vehicle` (a LoadedVehicle), or hide it when () ; returns
        its corners (8, 3) in the vehicle frame, or an empty (0, 3) array."""
        if not roof_box:
            self._show(False)
            return np.zeros((0, 3))
        kp = vehicle.asset.keypoints
        x_rear, x_front, half = roof_span(kp)
        roof_z = self._roof_top(vehicle, np.linspace(x_rear, x_front, 5)[1:-1], half)
        base, size = roof_box_frame(kp, roof_box, roof_z)
        self.box.location = mathutils.Vector(base.tolist())
        self.box.scale = mathutils.Vector(size.tolist())
        shade = float(roof_box[3])
        self.material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (shade, shade,
                                                                                                shade, 1.0)
        for bar, dx in zip(self.bars, (-0.3, 0.3)):
            x = base[0] + dx * size[0]
            bar_z = self._roof_top(vehicle, [x], half) - 0.01  # each bar stands on the roof where it crosses it
            bar.location = mathutils.Vector((x, 0.0, bar_z))
            bar.scale = mathutils.Vector((BAR_SIZE[0], 2.0 * half * 0.95, base[2] - bar_z + 0.01))
        self._show(True)
        return box_corners(base, size)

    @staticmethod
    def _roof_top(vehicle, xs, half: float) -> float:
        """The highest roof point at these x, found by casting down onto the model's own mesh."""
        top = float(vehicle.height) + 1.0
        zs = []
        for x in xs:
            for y in (-0.5 * half, 0.0, 0.5 * half):
                loc, _n, _i, _d = vehicle.bvh.ray_cast(mathutils.Vector((x, y, top)), mathutils.Vector((0, 0, -1)))
                if loc is not None:
                    zs.append(loc.z)
        return max(zs) if zs else float(vehicle.height)
