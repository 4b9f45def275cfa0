"""The sky every image is lit by, as a shader node group that both the world and the window glass use.

The world shows it to reflections and lights the scene; the glass reads it along its reflection vector and
emits it (Fresnel-weighted) instead of tracing a glossy bounce. A glossy closure mixed with a see-through
one is picked at random per sample, so at 3 samples per pixel a window is a few bright sky samples among
dark cabin ones: grain that the denoiser turns into blotches. Emission is evaluated at the hit, not sampled,
so the same reflection costs nothing and carries no noise.

The glass's sky has clouds (a bright cloud in a dark window is what real crops show); the world shows the same
clouds to glossy rays only (glossy paint mirrors them as real paint does; diffuse light is better smooth). They
are read from a tileable noise map (cloud_map_image): the world is evaluated at every light sample of every
shading point, where procedural noise cost 8 % of a render (bench: a glossy-ray gate left that cost, as nodes are
evaluated whatever their weight); the image lookup costs nothing measurable.

Round the horizon and below it the sky shows the street the vehicle stands in: a panorama of the image's
procedural road scene (synth/street_view.py: road, kerb, pavement, facades with their windows), transparent
where the sky shows between the roof lines, turned to the road's heading and lit as the road is. Glossy paint
mirrors it as real paint mirrors a street (the band of uniform columns that stood there before left dark paint
a flat grey), and windows show facades across the street. Diffuse rays see the same street blurred
(street_view.diffuse_panorama: 25 degrees round the horizon, 6 up and down): a diffuse surface's light is a
low-pass integral of its surroundings, which the blur keeps, while the rooflines and window grids had made each of
3 samples per pixel land on sky or on wall by lot, mottle on grey days (bench/diffuse_street.py).

Per-image values live on the scene as custom properties (set_sky) and reach the group through View Layer
Attribute nodes, so every glass material in the worker (library, imported or occluder vehicles) follows the
world without being touched. Imported lazily (bpy) by synth/blender/ modules only.
"""
from __future__ import annotations

import bpy
import numpy as np

from synth.street_view import DIFFUSE_WIDTH, PANORAMA_WIDTH, diffuse_panorama

GROUP_NAME = "pamtri_sky"  # with clouds for every ray: the glass's (library materials name it)
PLAIN_GROUP_NAME = "pamtri_sky_plain"  # with clouds for glossy rays only: the world's
# scene custom properties read by the group (View Layer attributes)
HORIZON_PROP, ZENITH_PROP, GROUND_PROP = "pamtri_sky_horizon", "pamtri_sky_zenith", "pamtri_ground"
SEED_PROP, STRENGTH_PROP = "pamtri_sky_seed", "pamtri_sky_strength"
CLOUD_COVER_PROP, CLOUD_PROP = "pamtri_cloud_cover", "pamtri_cloud_rgb"
STREET_LIGHT_PROP, STREET_YAW_PROP = "pamtri_street_light", "pamtri_street_yaw"
STREET_IMAGE = "pamtri_street"  # the panorama of the street (synth/street_view.py), rewritten per road style
STREET_DIFFUSE_IMAGE = "pamtri_street_diffuse"  # the same blurred, for diffuse rays (street_view.diffuse_panorama)
CLOUD_MAP_IMAGE, CLOUD_MAP_SIZE, CLOUD_MAP_TILE, CLOUD_MAP_SEED = "pamtri_cloud_map", 256, 8.0, 1019
SKY_VERSION = 6  # bump when the graph changes: a group from an older library file is rebuilt


def set_sky(scene, horizon_rgb, zenith_rgb, ground_rgb, seed: float, strength: float, cloud_cover: float = 0.0,
            cloud_rgb=(1.0, 1.0, 1.0), street_light: float = 1.0, street_yaw: float = 0.0) -> None:
    """This image's sky: colours in linear RGB, `seed` picks the clouds, `strength` its radiance scale,
    `cloud_cover` (0..1) how much of the upper sky clouds of colour `cloud_rgb` hide; the street (set_street)
    under `street_light` (its radiance over its albedo, before `strength`: synth.shadows.lit_scale), its road
    heading `street_yaw` degrees."""
    scene[STREET_LIGHT_PROP] = [float(street_light)] * 3
    scene[STREET_YAW_PROP] = float(np.radians(street_yaw))
    scene[CLOUD_COVER_PROP] = float(cloud_cover)
    scene[CLOUD_PROP] = [float(c) for c in cloud_rgb]
    scene[HORIZON_PROP] = [float(c) for c in horizon_rgb]
    scene[ZENITH_PROP] = [float(c) for c in zenith_rgb]
    scene[GROUND_PROP] = [float(c) for c in ground_rgb]
    scene[SEED_PROP] = float(seed)
    scene[STRENGTH_PROP] = float(strength)


def street_image(diffuse: bool = False) -> bpy.types.Image:
    """The worker's street panorama image (or its blurred twin for diffuse rays), made on first use
    (transparent: sky and ground alone)."""
    name, width = (STREET_DIFFUSE_IMAGE, DIFFUSE_WIDTH) if diffuse else (STREET_IMAGE, PANORAMA_WIDTH)
    image = _local(bpy.data.images, name)
    if image is None:
        height = width // 2
        image = bpy.data.images.new(name, width, height, alpha=True)
        image.colorspace_settings.name = "sRGB"
        image.alpha_mode = "CHANNEL_PACKED"  # colour and alpha apart: the group mixes them itself
        image.pixels.foreach_set(np.zeros(width * height * 4, np.float32))
    return image


def set_street(rgba: np.ndarray | None) -> None:
    """Show the street panorama `rgba` (synth/street_view.py: uint8, rows from the nadir up), and to diffuse
    rays its blurred twin; None: none (sky and ground alone)."""
    for image, pixels in ((street_image(), rgba), (street_image(diffuse=True), None if rgba is None
                                                    else diffuse_panorama(rgba))):
        if pixels is None:
            pixels = np.zeros((image.size[1], image.size[0], 4), np.uint8)
        if tuple(pixels.shape[:2]) != (image.size[1], image.size[0]):
            image.scale(pixels.shape[1], pixels.shape[0])
        image.pixels.foreach_set((pixels.reshape(-1) / np.float32(255)).astype(np.float32))
        image.update()


def cloud_map_image() -> bpy.types.Image:
    """The worker's tileable cloud noise (CLOUD_MAP_SIZE square, Non-Color): 1/f noise with the former procedural
    noise's statistics (mean 0.5, sd 0.1), one tile per CLOUD_MAP_TILE units of the cloud plane."""
    image = _local(bpy.data.images, CLOUD_MAP_IMAGE)
    if image is None:
        n = CLOUD_MAP_SIZE
        rng = np.random.default_rng(CLOUD_MAP_SEED)
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n)))
        spectrum = np.fft.fft2(rng.normal(size=(n, n))) / np.maximum(f, 1.0 / n) ** 1.9
        noise = np.real(np.fft.ifft2(spectrum))  # periodic: tiles without seams
        noise = 0.5 + 0.1 * (noise - noise.mean()) / noise.std()
        image = bpy.data.images.new(CLOUD_MAP_IMAGE, n, n, float_buffer=True)
        image.colorspace_settings.name = "Non-Color"
        rgba = np.repeat(np.clip(noise, 0.0, 1.0)[..., None], 4, axis=2).astype(np.float32)
        rgba[..., 3] = 1.0
        image.pixels.foreach_set(rgba.reshape(-1))
    return image


def sky_group(clouds: bool = True) -> bpy.types.ShaderNodeTree:
    """The worker's sky group (Direction -> Color, Strength), clouds for every ray or (`clouds` false, the world's)
    for glossy rays only, built on first use."""
    name = GROUP_NAME if clouds else PLAIN_GROUP_NAME
    group = _local(bpy.data.node_groups, name)
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


def _local(datablocks, name: str):
    """The worker's own datablock of this name: a library file's (linked, read-only) may share it."""
    return next((d for d in datablocks if d.name == name and d.library is None), None)


def sky_node(node_tree, direction, clouds: bool = True) -> bpy.types.Node:
    """A group node of the sky in `node_tree`, looking along the `direction` socket."""
    node = node_tree.nodes.new("ShaderNodeGroup")
    node.node_tree = sky_group(clouds)
    node_tree.links.new(direction, node.inputs["Direction"])
    return node


def _build(group, clouds: bool) -> None:
    """A sky brighter towards the horizon over the ground, behind the street the vehicle stands in (the
    panorama of synth/street_view.py, turned to the road's heading and lit as the road is): what glossy bodies
    and windows mirror by a road."""
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

    def mix(fac, a, b, blend="MIX"):
        n = node("ShaderNodeMix", data_type="RGBA", blend_type=blend)
        link_or_set(n.inputs[0], fac)
        link_or_set(n.inputs[6], a)
        link_or_set(n.inputs[7], b)
        return n.outputs[2]

    def scene_value(name, output):
        n = node("ShaderNodeAttribute", attribute_type="VIEW_LAYER", attribute_name=name)
        return n.outputs[output]

    inputs, outputs = node("NodeGroupInput"), node("NodeGroupOutput")
    unit = node("ShaderNodeVectorMath", operation="NORMALIZE")
    links.new(inputs.outputs["Direction"], unit.inputs[0])
    sep = node("ShaderNodeSeparateXYZ")
    links.new(unit.outputs["Vector"], sep.inputs[0])
    x, y, z = sep.outputs
    # sky: hazy and bright at the horizon, deeper towards the zenith
    haze = node("ShaderNodeMapRange")
    links.new(z, haze.inputs["Value"])
    haze.inputs["From Min"].default_value, haze.inputs["From Max"].default_value = 0.0, 0.7
    sky = mix(haze.outputs["Result"], scene_value(HORIZON_PROP, "Color"), scene_value(ZENITH_PROP, "Color"))
    density = _cloud_density(node, math, links, x, y, z, scene_value)
    if not clouds:  # the world: clouds for glossy rays only (paint mirrors them; diffuse light is better smooth)
        density = math("MULTIPLY", density, node("ShaderNodeLightPath").outputs["Is Glossy Ray"])
    sky = mix(density, sky, scene_value(CLOUD_PROP, "Color"))
    backdrop = mix(math("LESS_THAN", z, 0.0), sky, scene_value(GROUND_PROP, "Color"))
    # the street: longitude from the road's heading, latitude (street_view.panorama_directions' layout)
    along_road = math("SUBTRACT", math("ARCTAN2", y, x), scene_value(STREET_YAW_PROP, "Fac"))
    texel = node("ShaderNodeCombineXYZ")
    links.new(math("MULTIPLY_ADD", along_road, 1 / 6.283185307, 0.5), texel.inputs[0])
    links.new(math("MULTIPLY_ADD", math("ARCSINE", z), 1 / 3.141592654, 0.5), texel.inputs[1])
    colours = []
    for diffuse in (False, True):
        street = node("ShaderNodeTexImage", extension="REPEAT", interpolation="Linear")
        street.image = street_image(diffuse)
        links.new(texel.outputs[0], street.inputs["Vector"])
        # its colours are the background's (albedo under the metered light): times the light on the road
        lit = mix(1.0, street.outputs["Color"], scene_value(STREET_LIGHT_PROP, "Color"), blend="MULTIPLY")
        colours.append(mix(street.outputs["Alpha"], backdrop, lit))
    # diffuse rays see the street blurred (street_view.diffuse_panorama): the same light, less noise
    path = node("ShaderNodeLightPath")
    colour = mix(path.outputs["Is Diffuse Ray"], *colours)
    links.new(colour, outputs.inputs["Color"])
    links.new(scene_value(STRENGTH_PROP, "Fac"), outputs.inputs["Strength"])


def _cloud_density(node, math, links, x, y, z, scene_value):
    """0..1 cloud in direction (x, y, z): a soft-thresholded noise on a plane over the scene (direction / z),
    the threshold set by the cover, fading into the haze near the horizon. The noise is the worker's tileable
    cloud map (cloud_map_image): an image lookup, where procedural noise cost 8 % of a render in the world."""
    height = math("MAXIMUM", z, 0.06)
    seed = scene_value(SEED_PROP, "Fac")
    plane = node("ShaderNodeCombineXYZ")
    links.new(math("MULTIPLY_ADD", math("DIVIDE", x, height), 0.8, math("MULTIPLY", seed, 0.37)), plane.inputs[0])
    links.new(math("MULTIPLY_ADD", math("DIVIDE", y, height), 0.8, math("MULTIPLY", seed, 0.73)), plane.inputs[1])
    scaled = node("ShaderNodeVectorMath", operation="SCALE")
    links.new(plane.outputs[0], scaled.inputs[0])
    scaled.inputs["Scale"].default_value = 1.0 / CLOUD_MAP_TILE
    noise = node("ShaderNodeTexImage", extension="REPEAT", interpolation="Linear")
    noise.image = cloud_map_image()
    links.new(scaled.outputs[0], noise.inputs["Vector"])
    fac = noise.outputs["Color"]
    cover = scene_value(CLOUD_COVER_PROP, "Fac")
    low = math("MULTIPLY_ADD", cover, -0.32, 0.66)  # noise Fac sits near 0.5 +- 0.12: cover 0 -> rare wisps
    puffs = node("ShaderNodeMapRange", interpolation_type="SMOOTHSTEP")
    links.new(fac, puffs.inputs["Value"])
    links.new(low, puffs.inputs["From Min"])
    links.new(math("ADD", low, 0.14), puffs.inputs["From Max"])
    above_haze = node("ShaderNodeMapRange")
    links.new(z, above_haze.inputs["Value"])
    above_haze.inputs["From Min"].default_value, above_haze.inputs["From Max"].default_value = 0.03, 0.3
    gate = math("MINIMUM", math("MULTIPLY", cover, 8.0), 1.0)  # cover 0: none at all
    return math("MULTIPLY", math("MULTIPLY", puffs.outputs["Result"], above_haze.outputs["Result"]), gate)
