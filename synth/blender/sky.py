"""The sky every image is lit by, as a shader node group that both the world and the window glass use.

The world shows it to reflections and lights the scene; the glass reads it along its reflection vector and
emits it (Fresnel-weighted) instead of tracing a glossy bounce. A glossy closure mixed with a see-through
one is picked at random per sample, so at 3 samples per pixel a window is a few bright sky samples among
dark cabin ones: grain that the denoiser turns into blotches. Emission is evaluated at the hit, not sampled,
so the same reflection costs nothing and carries no noise.

The glass's sky has clouds (a bright cloud in a dark window is what real crops show); the world's has none:
the world is evaluated at every light sample of every shading point, where the clouds' noise cost 8 % of a
render (bench: a glossy-ray gate left that cost, as nodes are evaluated whatever their weight), and it
lights the scene better smooth.

Per-image values live on the scene as custom properties (set_sky) and reach the group through View Layer
Attribute nodes, so every glass material in the worker (library, imported or occluder vehicles) follows the
world without being touched. Imported lazily (bpy) by synth/blender/ modules only.
"""
from __future__ import annotations

import bpy

GROUP_NAME = "pamtri_sky"  # with clouds: the glass's (library materials name it)
PLAIN_GROUP_NAME = "pamtri_sky_plain"  # without: the world's
# scene custom properties read by the group (View Layer attributes)
HORIZON_PROP, ZENITH_PROP, GROUND_PROP = "pamtri_sky_horizon", "pamtri_sky_zenith", "pamtri_ground"
SEED_PROP, STRENGTH_PROP = "pamtri_sky_seed", "pamtri_sky_strength"
CLOUD_COVER_PROP, CLOUD_PROP = "pamtri_cloud_cover", "pamtri_cloud_rgb"
SKY_VERSION = 3  # bump when the graph changes: a group from an older library file is rebuilt


def set_sky(scene, horizon_rgb, zenith_rgb, ground_rgb, seed: float, strength: float, cloud_cover: float = 0.0,
            cloud_rgb=(1.0, 1.0, 1.0)) -> None:
    """This image's sky: colours in linear RGB, `seed` picks the skyline and the clouds, `strength` its radiance
    scale, `cloud_cover` (0..1) how much of the upper sky clouds of colour `cloud_rgb` hide."""
    scene[CLOUD_COVER_PROP] = float(cloud_cover)
    scene[CLOUD_PROP] = [float(c) for c in cloud_rgb]
    scene[HORIZON_PROP] = [float(c) for c in horizon_rgb]
    scene[ZENITH_PROP] = [float(c) for c in zenith_rgb]
    scene[GROUND_PROP] = [float(c) for c in ground_rgb]
    scene[SEED_PROP] = float(seed)
    scene[STRENGTH_PROP] = float(strength)


def sky_group(clouds: bool = True) -> bpy.types.ShaderNodeTree:
    """The worker's sky group (Direction -> Color, Strength), with or without clouds, built on first use."""
    name = GROUP_NAME if clouds else PLAIN_GROUP_NAME
    group = bpy.data.node_groups.get(name)
    if group is not None and group.get("pamtri_sky_version") == SKY_VERSION:
        return group
    if group is None:
        group = bpy.data.node_groups.new(name, "ShaderNodeTree")
    group.nodes.clear()
    # sockets are added, never cleared: the group nodes of an older library's glass keep their links
    have = {(item.in_out, item.name) for item in group.interface.items_tree if item.item_type == "SOCKET"}
    for in_out, socket, kind in (("INPUT", "Direction", "NodeSocketVector"), ("OUTPUT", "Color", "NodeSocketColor"),
                                 ("OUTPUT", "Strength", "NodeSocketFloat")):
        if (in_out, socket) not in have:
            group.interface.new_socket(socket, in_out=in_out, socket_type=kind)
    _build(group, clouds)
    group["pamtri_sky_version"] = SKY_VERSION
    return group


def sky_node(node_tree, direction, clouds: bool = True) -> bpy.types.Node:
    """A group node of the sky in `node_tree`, looking along the `direction` socket."""
    node = node_tree.nodes.new("ShaderNodeGroup")
    node.node_tree = sky_group(clouds)
    node_tree.links.new(direction, node.inputs["Direction"])
    return node


def _build(group, clouds: bool) -> None:
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
    if clouds:
        sky = mix(_cloud_density(node, math, links, x, y, z, scene_value), sky, scene_value(CLOUD_PROP, "Color"))
    # the band at half contrast against the sky: a rough coat blurs it, and at 3 samples a sharp, dark band
    # seen through a blurred reflection is grain the denoiser keeps
    with_band = mix(in_band, sky, mix(0.5, sky, band))
    colour = mix(math("LESS_THAN", z, 0.0), with_band, scene_value(GROUND_PROP, "Color"))
    links.new(colour, outputs.inputs["Color"])
    links.new(scene_value(STRENGTH_PROP, "Fac"), outputs.inputs["Strength"])


def _cloud_density(node, math, links, x, y, z, scene_value):
    """0..1 cloud in direction (x, y, z): a soft-thresholded noise on a plane over the scene (direction / z),
    the threshold set by the cover, fading into the haze near the horizon."""
    height = math("MAXIMUM", z, 0.06)
    seed = scene_value(SEED_PROP, "Fac")
    plane = node("ShaderNodeCombineXYZ")
    links.new(math("MULTIPLY_ADD", math("DIVIDE", x, height), 0.8, math("MULTIPLY", seed, 0.37)), plane.inputs[0])
    links.new(math("MULTIPLY_ADD", math("DIVIDE", y, height), 0.8, math("MULTIPLY", seed, 0.73)), plane.inputs[1])
    noise = node("ShaderNodeTexNoise", noise_dimensions="2D")
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = 2.0
    noise.inputs["Roughness"].default_value = 0.55
    links.new(plane.outputs[0], noise.inputs["Vector"])
    cover = scene_value(CLOUD_COVER_PROP, "Fac")
    low = math("MULTIPLY_ADD", cover, -0.32, 0.66)  # noise Fac sits near 0.5 +- 0.12: cover 0 -> rare wisps
    puffs = node("ShaderNodeMapRange", interpolation_type="SMOOTHSTEP")
    links.new(noise.outputs["Fac"], puffs.inputs["Value"])
    links.new(low, puffs.inputs["From Min"])
    links.new(math("ADD", low, 0.14), puffs.inputs["From Max"])
    above_haze = node("ShaderNodeMapRange")
    links.new(z, above_haze.inputs["Value"])
    above_haze.inputs["From Min"].default_value, above_haze.inputs["From Max"].default_value = 0.03, 0.3
    gate = math("MINIMUM", math("MULTIPLY", cover, 8.0), 1.0)  # cover 0: none at all
    return math("MULTIPLY", math("MULTIPLY", puffs.outputs["Result"], above_haze.outputs["Result"]), gate)
