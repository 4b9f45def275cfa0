"""Principled-BSDF materials of the procedural vehicles (Cycles-ready).

The body paint reads its base colour from the object custom property `pamtri_body_color` through an Attribute
node, so one shared material gives every loaded instance its own colour (set_body_color sets the property).
Glass and the cabin interior carry `pamtri_see_through = True`: keypoint-visibility ray casts skip them.
Imported lazily (bpy) by synth/blender/vehicles.py only.
"""
from __future__ import annotations

import bpy

BODY_COLOR_PROP = "pamtri_body_color"
SEE_THROUGH_PROP = "pamtri_see_through"

# name: (base colour linear RGB, metallic, roughness, extra settings)
_SPECS = {
    "glass": ((0.30, 0.33, 0.35), 0.0, 0.02, {"Transmission Weight": 1.0, "IOR": 1.45}),
    "rubber": ((0.018, 0.018, 0.018), 0.0, 0.85, {}),
    "chrome": ((0.75, 0.75, 0.76), 1.0, 0.18, {}),
    "metal_dark": ((0.05, 0.05, 0.055), 0.7, 0.45, {}),
    "trim": ((0.012, 0.012, 0.013), 0.0, 0.55, {}),
    "headlight": ((0.85, 0.86, 0.9), 0.6, 0.08, {"Coat Weight": 1.0}),
    "taillight": ((0.45, 0.01, 0.01), 0.0, 0.12, {"Coat Weight": 1.0}),
    "plate_blue": ((0.01, 0.04, 0.35), 0.0, 0.4, {}),
    "plate_yellow": ((0.75, 0.5, 0.02), 0.0, 0.4, {}),
    "interior": ((0.015, 0.015, 0.016), 0.0, 0.9, {}),
    # parts of the detailed vehicles (lamp clusters, grilles, cabin, heavy-vehicle bodies)
    "seat": ((0.03, 0.03, 0.032), 0.0, 0.8, {}),
    "dashboard": ((0.02, 0.02, 0.022), 0.0, 0.6, {}),
    "reflector": ((0.8, 0.8, 0.82), 1.0, 0.12, {}),
    "lens_clear": ((0.85, 0.86, 0.9), 0.0, 0.05, {"Coat Weight": 1.0}),
    "lens_red": ((0.5, 0.01, 0.01), 0.0, 0.1, {"Coat Weight": 1.0}),
    "lens_amber": ((0.8, 0.3, 0.0), 0.0, 0.1, {"Coat Weight": 1.0}),
    "grille": ((0.015, 0.015, 0.017), 0.2, 0.45, {}),
    "load": ((0.25, 0.2, 0.14), 0.0, 0.95, {}),
    "steel": ((0.55, 0.56, 0.58), 1.0, 0.3, {}),
}


def _principled(mat: bpy.types.Material) -> bpy.types.Node:
    if mat.node_tree is None:  # older files; new 5.0 materials always have a node tree
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        out = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
        mat.node_tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def make_paintable(mat: bpy.types.Material, default_rgb=(0.5, 0.5, 0.5)) -> None:
    """Route the Base Color of `mat`'s Principled BSDF from the object property `pamtri_body_color`.
    Idempotent; works on imported user materials too."""
    bsdf = _principled(mat)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    attr = nodes.get("pamtri_body_color")
    if attr is None:
        attr = nodes.new("ShaderNodeAttribute")
        attr.name = "pamtri_body_color"
        attr.attribute_type = "OBJECT"
        attr.attribute_name = BODY_COLOR_PROP
        attr.location = (bsdf.location[0] - 300, bsdf.location[1])
    links.new(attr.outputs["Color"], bsdf.inputs["Base Color"])
    mat.diffuse_color = (*default_rgb, 1.0)  # viewport / workbench
    mat["pamtri_paint"] = True


def make_paint(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    bsdf.inputs["Metallic"].default_value = 0.25
    bsdf.inputs["Roughness"].default_value = 0.38
    bsdf.inputs["Coat Weight"].default_value = 1.0
    bsdf.inputs["Coat Roughness"].default_value = 0.04
    make_paintable(mat)
    return mat


def make_material(kind: str, name: str) -> bpy.types.Material:
    rgb, metallic, roughness, extra = _SPECS[kind]
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Roughness"].default_value = roughness
    for key, value in extra.items():
        bsdf.inputs[key].default_value = value
    mat.diffuse_color = (*rgb, 1.0)
    if kind in ("glass", "interior"):
        mat[SEE_THROUGH_PROP] = True
    return mat
