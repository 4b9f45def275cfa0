"""The off-screen shadow caster's plane in the worker's scene (synth/shadows.py draws its mask and placement).

A horizontal plane that only shadow rays meet, with the mask as its opacity. It stops only rays running
towards the sun (the Incoming vector within SUN_GATE_DEGREES of it): the sky's light samples pass, so the sky
light on the ground is what synth/shadows.ground_light assumes when it shades the road outside the shadow
catcher, and the two meet without a seam. Kept out of the viewport depsgraph, so the label ray casts
(scene.ray_cast) never meet it. Imported lazily (bpy) by synth/blender/scene_backend.py only.
"""
from __future__ import annotations

import numpy as np

import bpy

from synth.blender.occluders import mesh_object
from synth.shadows import HALF_SIZE, MASK_SIZE, SUN_GATE_DEGREES, sun_direction


class ShadowCaster:
    def __init__(self, scene):
        self.image = bpy.data.images.new("pamtri_caster", MASK_SIZE, MASK_SIZE, alpha=False, float_buffer=False)
        self.image.colorspace_settings.name = "Non-Color"
        mat = bpy.data.materials.new("pamtri_caster")
        nt = mat.node_tree
        nt.nodes.clear()
        coords = nt.nodes.new("ShaderNodeTexCoord")
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image, tex.interpolation, tex.extension = self.image, "Linear", "CLIP"
        nt.links.new(coords.outputs["Generated"], tex.inputs["Vector"])
        # opaque only to rays heading for the sun: Incoming points back along the ray, so -to_sun
        self.to_sun = nt.nodes.new("ShaderNodeCombineXYZ")
        facing = nt.nodes.new("ShaderNodeVectorMath")
        facing.operation = "DOT_PRODUCT"
        nt.links.new(nt.nodes.new("ShaderNodeNewGeometry").outputs["Incoming"], facing.inputs[0])
        nt.links.new(self.to_sun.outputs["Vector"], facing.inputs[1])
        gate = nt.nodes.new("ShaderNodeMath")
        gate.operation = "LESS_THAN"
        nt.links.new(facing.outputs["Value"], gate.inputs[0])
        gate.inputs[1].default_value = -float(np.cos(np.radians(SUN_GATE_DEGREES)))
        opacity = nt.nodes.new("ShaderNodeMath")
        opacity.operation = "MULTIPLY"
        nt.links.new(tex.outputs["Color"], opacity.inputs[0])
        nt.links.new(gate.outputs[0], opacity.inputs[1])
        mix = nt.nodes.new("ShaderNodeMixShader")
        nt.links.new(opacity.outputs[0], mix.inputs["Fac"])
        nt.links.new(nt.nodes.new("ShaderNodeBsdfTransparent").outputs[0], mix.inputs[1])
        black = nt.nodes.new("ShaderNodeBsdfDiffuse")
        black.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
        nt.links.new(black.outputs[0], mix.inputs[2])
        nt.links.new(mix.outputs[0], nt.nodes.new("ShaderNodeOutputMaterial").inputs["Surface"])
        verts = [(-1.0, -1.0, 0.0), (1.0, -1.0, 0.0), (1.0, 1.0, 0.0), (-1.0, 1.0, 0.0)]
        self.plane = mesh_object("pamtri_caster", verts, [(0, 1, 2, 3)], mat, scene.collection)
        self.plane.pass_index = 0
        for ray in ("camera", "diffuse", "glossy", "transmission", "volume_scatter"):
            setattr(self.plane, "visible_" + ray, False)
        self.plane.visible_shadow = True
        self.plane.hide_viewport = True  # out of the depsgraph the label ray casts use
        self.plane.hide_render = True

    def place(self, caster, mask, sun_elevation: float, sun_azimuth: float) -> None:
        """Show `caster` (synth/shadows.sample_caster) with opacity `mask` (rows bottom-up), or hide it (None)."""
        self.plane.hide_render = caster is None
        if caster is None:
            return
        rgba = np.ones((MASK_SIZE, MASK_SIZE, 4), np.float32)  # a byte image: Blender rounds to 1/255
        rgba[..., :3] = np.asarray(mask, np.float32)[..., None]
        self.image.pixels.foreach_set(rgba.ravel())
        self.image.update()
        self.to_sun.inputs[0].default_value, self.to_sun.inputs[1].default_value, \
            self.to_sun.inputs[2].default_value = (float(c) for c in sun_direction(sun_elevation, sun_azimuth))
        self.plane.location = (caster["centre"][0], caster["centre"][1], caster["height"])
        self.plane.rotation_euler = (0.0, 0.0, float(np.radians(caster["angle"])))
        self.plane.scale = (HALF_SIZE, HALF_SIZE, 1.0)
