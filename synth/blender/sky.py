"""The sky every image is lit by, as one shader node group that both the world and the window glass use.

The world shows it to reflections and lights the scene; the glass reads it along its reflection vector and
emits it (Fresnel-weighted) instead of tracing a glossy bounce. A glossy closure mixed with a see-through
one is picked at random per sample, so at 3 samples per pixel a window is a few bright sky samples among
dark cabin ones: grain that the denoiser turns into blotches. Emission is evaluated at the hit, not sampled,
so the same reflection costs nothing and carries no noise.

Per-image values live on the scene as custom properties (set_sky) and reach the group through View Layer
Attribute nodes, so every glass material in the worker (library, imported or occluder vehicles) follows the
world without being touched. Imported lazily (bpy) by synth/blender/ modules only.
"""
from __future__ import annotations

import bpy

GROUP_NAME = "pamtri_sky"
# scene custom properties read by the group (View Layer attributes)
HORIZON_PROP, ZENITH_PROP, GROUND_PROP = "pamtri_sky_horizon", "pamtri_sky_zenith", "pamtri_ground"
SEED_PROP, STRENGTH_PROP = "pamtri_sky_seed", "pamtri_sky_strength"
SKY_VERSION = 1  # bump when the graph changes: a group from an older library file is rebuilt


def set_sky(scene, horizon_rgb, zenith_rgb, ground_rgb, seed: float, strength: float) -> None:
    """This image's sky: colours in linear RGB, `seed` picks the skyline, `strength` its radiance scale."""
    scene[HORIZON_PROP] = [float(c) for c in horizon_rgb]
    scene[ZENITH_PROP] = [float(c) for c in zenith_rgb]
    scene[GROUND_PROP] = [float(c) for c in ground_rgb]
    scene[SEED_PROP] = float(seed)
    scene[STRENGTH_PROP] = float(strength)


def sky_group() -> bpy.types.ShaderNodeTree:
    """The worker's sky group (Direction -> Color, Strength), built on first use."""
    group = bpy.data.node_groups.get(GROUP_NAME)
    if group is not None and group.get("pamtri_sky_version") == SKY_VERSION:
        return group
    if group is None:
        group = bpy.data.node_groups.new(GROUP_NAME, "ShaderNodeTree")
    group.nodes.clear()
    group.interface.clear()
    group.interface.new_socket("Direction", in_out="INPUT", socket_type="NodeSocketVector")
    group.interface.new_socket("Color", in_out="OUTPUT", socket_type="NodeSocketColor")
    group.interface.new_socket("Strength", in_out="OUTPUT", socket_type="NodeSocketFloat")
    _build(group)
    group["pamtri_sky_version"] = SKY_VERSION
    return group


def sky_node(node_tree, direction) -> bpy.types.Node:
    """A group node of the sky in `node_tree`, looking along the `direction` socket."""
    node = node_tree.nodes.new("ShaderNodeGroup")
    node.node_tree = sky_group()
    node_tree.links.new(direction, node.inputs["Direction"])
    return node


def _build(group) -> None:
    """A sky brighter towards the horizon above a band of buildings and trees round the horizon (blocky
    columns of random height, a smoother tree line), over the ground: what glossy bodies and windows mirror
    by a road."""
    nt = group.nodes
    links = group.links

    def node(kind, **settings):
        n = nt.new(kind)
        for key, value in settings.items():
            setattr(n, key, value)
        return n

    def link_or_set(socket, value):
        if isinstance(value, bpy.types.NodeSocket):
            links.new(value, socket)
        else:
            socket.default_value = value

    def math(op, a, b=0.0, c=0.0):
        n = node("ShaderNodeMath", operation=op)
        for socket, value in zip(n.inputs, (a, b, c)):
            link_or_set(socket, value)
        return n.outputs[0]

    def mix(fac, a, b):
        n = node("ShaderNodeMix", data_type="RGBA")
        link_or_set(n.inputs[0], fac)
        link_or_set(n.inputs[6], a)
        link_or_set(n.inputs[7], b)
        return n.outputs[2]

    def scene_value(name, output):
        n = node("ShaderNodeAttribute", attribute_type="VIEW_LAYER", attribute_name=name)
        return n.outputs[output]

    inputs, outputs = node("NodeGroupInput"), node("NodeGroupOutput")
    sep = node("ShaderNodeSeparateXYZ")
    links.new(inputs.outputs["Direction"], sep.inputs[0])
    x, y, z = sep.outputs
    azimuth = math("ARCTAN2", y, x)  # -pi..pi
    column = math("ADD", math("FLOOR", math("MULTIPLY", azimuth, 40 / 6.2832)), scene_value(SEED_PROP, "Fac"))
    # one white-noise lookup per column gives its building height (R), whether it holds a building (G) and
    # its tree height (B): the world is evaluated at every shading point's light sample, keep it lean
    tall = node("ShaderNodeTexWhiteNoise", noise_dimensions="1D")
    links.new(column, tall.inputs["W"])
    rgb = node("ShaderNodeSeparateColor")
    links.new(tall.outputs["Color"], rgb.inputs[0])
    height, gate, tree = rgb.outputs
    # heights in z of the direction (about the sine of the elevation angle)
    building_h = math("MULTIPLY", math("ADD", math("POWER", height, 2.0), 0.15),
                      math("MULTIPLY", math("GREATER_THAN", gate, 0.45), 0.2))
    tree_h = math("MULTIPLY_ADD", tree, 0.06, 0.02)
    is_building = math("GREATER_THAN", building_h, tree_h)
    in_band = math("LESS_THAN", z, math("MAXIMUM", building_h, tree_h))
    facade = mix(height, (0.09, 0.09, 0.095, 1.0), (0.3, 0.29, 0.27, 1.0))
    band = mix(is_building, (0.025, 0.05, 0.02, 1.0), facade)
    # sky: hazy and bright at the horizon, deeper towards the zenith
    haze = node("ShaderNodeMapRange")
    links.new(z, haze.inputs["Value"])
    haze.inputs["From Min"].default_value, haze.inputs["From Max"].default_value = 0.0, 0.7
    sky = mix(haze.outputs["Result"], scene_value(HORIZON_PROP, "Color"), scene_value(ZENITH_PROP, "Color"))
    # the band at half contrast against the sky: a rough coat blurs it, and at 3 samples a sharp, dark band
    # seen through a blurred reflection is grain the denoiser keeps
    with_band = mix(in_band, sky, mix(0.5, sky, band))
    colour = mix(math("LESS_THAN", z, 0.0), with_band, scene_value(GROUND_PROP, "Color"))
    links.new(colour, outputs.inputs["Color"])
    links.new(scene_value(STRENGTH_PROP, "Fac"), outputs.inputs["Strength"])
