"""Cycles materials of the procedural vehicles: car paint, glass, plates, lamp lenses and the plain kinds.

One material per kind and model, shared by every loaded copy; what differs between identities reaches the
shaders through object custom properties read by Attribute nodes (set by synth/blender/vehicles.py set_look):

- `pamtri_body_color`, `pamtri_roof_color` (linear RGB), `pamtri_finish` (metallic, base roughness, coat
  roughness), `pamtri_finish2` (coat weight, flake, pearl thin-film nm), `pamtri_wear` (dirt, dents, height of
  the black plastic cladding above the paint's lowest point),
  `pamtri_glass` (window transmission: side and rear panes, windshield), `pamtri_lamps` (emission of the
  daytime-running lights, of the brake lights; set per image by the scene backend's set_lamps);
- per model, measured from its mesh at load (set_geometry_props): `pamtri_extent` (x min, x max, height),
  `pamtri_roof_z`, `pamtri_floor_z`, `pamtri_plate_front` / `pamtri_plate_rear` / `pamtri_windshield` (half
  width, z low, z high).

The plate characters, windshield stickers and side livery are images shared by the worker (SHARED_IMAGES),
overwritten per identity; the shaders project them from object coordinates so they read left to right from
the viewer on either end or side. Glass emits the sky seen along its reflection vector (Fresnel-weighted) over a
Transparent BSDF: reflections and a see-through pane over the cabin, noise-free at a few samples
(synth/blender/sky.py says why a glossy closure or a refracting pane is not).

Glass and the cabin interior carry `pamtri_see_through = True`: keypoint-visibility ray casts skip them.
Imported lazily (bpy) by synth/blender/ modules only.
"""
from __future__ import annotations

import bpy

from synth.accessories import SUNROOF_PROP
from synth.blender.sky import GROUP_NAME as SKY_GROUP_NAME, sky_group, sky_node

BODY_COLOR_PROP = "pamtri_body_color"
SEE_THROUGH_PROP = "pamtri_see_through"
KIND_PROP = "pamtri_kind"
LOOK_PROP = "pamtri_look"
LOOK_VERSION = 20  # bump when a graph changes: libraries built before get their materials rebuilt at load
# lit by a glow (see _build_cabin)
CABIN_KINDS = ("interior", "seat", "dashboard", "skin", "hair", "clothes", "bus_seat", "cabin_lining", "cabin_pole")
SEE_THROUGH_KINDS = ("glass",) + CABIN_KINDS
SHARED_IMAGES = {"plate": (320, 100), "plate_other": (320, 100), "glass_marks": (256, 128),
                 "side_marks": (512, 128)}  # name: (w, h)
OTHER_PLATE_PROP = "pamtri_plate_other"  # 1 on the sample's other vehicles: their plate is "plate_other"

# name: (base colour linear RGB, metallic, roughness, extra settings)
_SPECS = {
    "glass": ((0.30, 0.33, 0.35), 0.0, 0.02, {}),
    "rubber": ((0.018, 0.018, 0.018), 0.0, 0.85, {}),
    "chrome": ((0.75, 0.75, 0.76), 1.0, 0.12, {}),
    "metal_dark": ((0.05, 0.05, 0.055), 0.7, 0.45, {}),
    "trim": ((0.012, 0.012, 0.013), 0.0, 0.55, {}),
    "seam": ((0.2, 0.2, 0.2), 0.0, 0.6, {}),  # panel gaps: the body colour in shade (_build_seam)
    "headlight": ((0.85, 0.86, 0.9), 0.6, 0.08, {"Coat Weight": 1.0}),
    "taillight": ((0.35, 0.005, 0.005), 0.0, 0.12, {"Coat Weight": 1.0}),
    "plate": ((0.5, 0.5, 0.5), 0.0, 0.35, {}),
    "plate_blue": ((0.01, 0.04, 0.35), 0.0, 0.35, {}),
    "plate_yellow": ((0.75, 0.5, 0.02), 0.0, 0.35, {}),
    "interior": ((0.045, 0.043, 0.04), 0.0, 0.9, {}),
    # parts of the detailed vehicles (lamp clusters, grilles, cabin, heavy-vehicle bodies)
    "seat": ((0.06, 0.055, 0.05), 0.0, 0.85, {}),
    "dashboard": ((0.025, 0.025, 0.027), 0.0, 0.6, {}),
    # a bus's inside: moulded seats, light wall and ceiling panels, yellow grab poles
    "bus_seat": ((0.03, 0.06, 0.18), 0.0, 0.7, {}),
    "cabin_lining": ((0.30, 0.30, 0.28), 0.0, 0.8, {}),
    "cabin_pole": ((0.55, 0.40, 0.02), 0.0, 0.4, {}),
    # the people in the cabin
    "skin": ((0.40, 0.27, 0.20), 0.0, 0.6, {}),
    "hair": ((0.02, 0.018, 0.016), 0.0, 0.7, {}),
    "clothes": ((0.10, 0.11, 0.13), 0.0, 0.85, {}),
    # lamp internals read light grey in daylight; a mirror chrome would show the dark road it faces
    "reflector": ((0.75, 0.76, 0.78), 0.4, 0.3, {}),
    "lens_clear": ((0.85, 0.86, 0.9), 0.0, 0.05, {}),
    "drl": ((0.85, 0.86, 0.9), 0.0, 0.05, {"Coat Weight": 1.0}),  # a daytime-running light strip
    "lens_red": ((0.45, 0.008, 0.008), 0.0, 0.08, {"Coat Weight": 1.0}),
    "lens_amber": ((0.8, 0.3, 0.0), 0.0, 0.08, {"Coat Weight": 1.0}),
    "grille": ((0.015, 0.015, 0.017), 0.2, 0.4, {}),
    # a dump body's loads: soil, sand, gravel
    "load": ((0.14, 0.10, 0.065), 0.0, 0.95, {}),
    "load_sand": ((0.42, 0.33, 0.20), 0.0, 0.95, {}),
    "load_gravel": ((0.20, 0.20, 0.19), 0.0, 0.9, {}),
    # a stake truck's floor and what it carries
    "deck_wood": ((0.16, 0.11, 0.07), 0.0, 0.85, {}),
    "deck_steel": ((0.16, 0.16, 0.16), 0.6, 0.5, {}),
    "bed_liner": ((0.025, 0.025, 0.026), 0.0, 0.75, {}),  # a pickup bed's sprayed-in or drop-in liner
    "cardboard": ((0.33, 0.21, 0.10), 0.0, 0.9, {}),
    "tarp_blue": ((0.02, 0.07, 0.26), 0.0, 0.6, {}),
    "tarp_green": ((0.04, 0.11, 0.05), 0.0, 0.6, {}),
    "tarp_grey": ((0.10, 0.10, 0.09), 0.0, 0.65, {}),
    "steel": ((0.55, 0.56, 0.58), 1.0, 0.3, {}),
    # trucks' conspicuity tape: retroreflective red and white film (in daylight: bright, slightly glossy)
    "tape_red": ((0.5, 0.012, 0.01), 0.0, 0.3, {}),
    "tape_white": ((0.8, 0.8, 0.8), 0.0, 0.3, {}),
    "rear_number": ((0.75, 0.5, 0.02), 0.0, 0.35, {}),  # (painted with the plate texture: _build_plate)
    # a bus's LED destination signs: amber glyphs that glow in daylight, behind the sign's glass
    "led": ((0.05, 0.02, 0.0), 0.0, 0.3, {"Emission Color": (1.0, 0.32, 0.01), "Emission Strength": 1.2}),
}
PLATE_KINDS = ("plate", "plate_blue", "plate_yellow")
SUNROOF_RGB = (0.006, 0.007, 0.008)  # its tinted glass over a dark headliner (linear)
REAR_NUMBER = "rear_number"  # a truck's enlarged number on its cargo body's rear (the plate texture)
REAR_NUMBER_PROP = "pamtri_rear_number"  # its (half width, bottom, top) on the vehicle (vehicles.py)
LENS_KINDS = ("lens_clear",)  # see-through lenses over a reflector; the red and amber ones are opaque glossy
# lamps that light up: their emission colour, and which of `pamtri_lamps` (drl, brake) sets its strength
LAMP_LIGHT = {"drl": ((1.0, 0.97, 0.92), 0), "lens_red": ((1.0, 0.025, 0.012), 1)}
LAMPS_PROP = "pamtri_lamps"
DIRT_RGB = (0.085, 0.07, 0.05)  # road grime (linear): a grey-brown, lighter than black trim, darker than dust
DUST_RGB = (0.2, 0.18, 0.15)  # the dust film of a car not washed for weeks


class ShaderGraph:
    """Terse node building for one material's tree."""

    def __init__(self, mat: bpy.types.Material, keep: bool = False):
        """`keep`: add to the material's own nodes (a user model's) instead of starting afresh."""
        if mat.node_tree is None:  # older files; new 5.0 materials always have a node tree
            mat.use_nodes = True
        self.nt = mat.node_tree
        if not keep:
            self.nt.nodes.clear()
        self.out = next((n for n in self.nt.nodes if n.type == "OUTPUT_MATERIAL"), None) if keep else None
        self.out = self.out or self.new("ShaderNodeOutputMaterial")
        self._coords = None
        self._attrs = {}

    def new(self, kind: str, **inputs):
        node = self.nt.nodes.new(kind)
        for name, value in inputs.items():
            self.set(node, name, value)
        return node

    def set(self, node, name, value):
        self.feed(node.inputs[name], value)

    def feed(self, socket, value):
        """Link a socket output into `socket`, or set its value (a colour from an RGB triple)."""
        if isinstance(value, bpy.types.NodeSocket):
            self.nt.links.new(value, socket)
        elif isinstance(value, (tuple, list)) and len(value) == 3 and socket.type == "RGBA":
            socket.default_value = (*value, 1.0)
        else:
            socket.default_value = value

    def attr(self, name: str, output: str = "Vector"):
        """An object attribute's socket; one node per attribute and material, however often it is read."""
        node = self._attrs.get(name)
        if node is None:
            node = self._attrs[name] = self.new("ShaderNodeAttribute")
            node.attribute_type = "OBJECT"
            node.attribute_name = name
            node.name = name
        return node.outputs[output]

    def split(self, vector):
        node = self.new("ShaderNodeSeparateXYZ")
        self.nt.links.new(vector, node.inputs[0])
        return node.outputs["X"], node.outputs["Y"], node.outputs["Z"]

    def coords(self):
        """Object-space position (x, y, z) and normal (nx, ny, nz) sockets."""
        if self._coords is None:
            tc = self.new("ShaderNodeTexCoord")
            self._coords = (self.split(tc.outputs["Object"]), self.split(tc.outputs["Normal"]))
        return self._coords

    def math(self, op: str, a, b=0.0, c=0.0, clamp: bool = False):
        node = self.new("ShaderNodeMath")
        node.operation = op
        node.use_clamp = clamp
        for socket, value in zip(node.inputs, (a, b, c)):
            self.feed(socket, value)
        return node.outputs[0]

    def map_range(self, value, a, b, c=0.0, d=1.0, clamp: bool = True):
        node = self.new("ShaderNodeMapRange", Value=value)
        node.clamp = clamp
        for i, v in zip(("From Min", "From Max", "To Min", "To Max"), (a, b, c, d)):
            self.set(node, i, v)
        return node.outputs["Result"]

    def mix_rgb(self, fac, a, b, blend: str = "MIX"):
        node = self.new("ShaderNodeMix")
        node.data_type = "RGBA"
        node.blend_type = blend
        self.feed(node.inputs[0], fac)
        self.feed(node.inputs[6], a)
        self.feed(node.inputs[7], b)
        return node.outputs[2]

    def mix_shader(self, fac, a, b):
        node = self.new("ShaderNodeMixShader")
        self.feed(node.inputs[0], fac)
        self.nt.links.new(a, node.inputs[1])
        self.nt.links.new(b, node.inputs[2])
        return node.outputs[0]

    def image(self, name: str, u, v, label: str):
        vec = self.new("ShaderNodeCombineXYZ", X=u, Y=v)
        tex = self.new("ShaderNodeTexImage", Vector=vec.outputs[0])
        tex.name = label
        tex.extension = "CLIP"
        tex.interpolation = "Linear"
        tex.image = shared_image(name)
        return tex

    def finish(self, shader) -> None:
        self.nt.links.new(shader, self.out.inputs["Surface"])


def shared_image(name: str):
    """The worker's image `pamtri_<name>` (created blank on first use); set_look overwrites its pixels."""
    full = f"pamtri_{name}"
    img = bpy.data.images.get(full)
    if img is None:
        w, h = SHARED_IMAGES[name]
        img = bpy.data.images.new(full, w, h, alpha=True)
        img.pixels.foreach_set([0.0] * (w * h * 4))
    return img


def _projected(g: ShaderGraph, prop: str, across, z, flip):
    """(u, v) of a point on a face projected onto the rectangle `prop` = (half width, z low, z high): u runs
    left to right for a viewer facing the face (`flip` 1 mirrors it), v bottom to top."""
    hw, z0, z1 = g.split(g.attr(prop))
    u = g.math("MULTIPLY_ADD", g.math("DIVIDE", across, g.math("MAXIMUM", hw, 1e-3)), 0.5, 0.5)
    u = g.math("ADD", g.math("MULTIPLY", flip, g.math("SUBTRACT", 1.0, g.math("MULTIPLY", u, 2.0))), u)
    v = g.math("DIVIDE", g.math("SUBTRACT", z, z0), g.math("MAXIMUM", g.math("SUBTRACT", z1, z0), 1e-3))
    return u, v


def _is_rear(g: ShaderGraph, x):
    """1 behind the body's middle (the rear half), else 0: which end a point is on, whatever its normal."""
    xmin, xmax, _h = g.split(g.attr("pamtri_extent"))
    return g.math("LESS_THAN", x, g.math("MULTIPLY", g.math("ADD", xmin, xmax), 0.5))


def _dirt_mask(g: ShaderGraph, scale: float = 2.5):
    """Road grime weight, scaled by the identity's `dirt`: what the wheels throw up, heaviest along the sills
    and the lower ends and gone by the belt line, in streaks that run down the panels (a fine noise stretched
    upright). Round blotches of a plain noise read as rust or camouflage at 100-250 px, not as dirt."""
    (x, y, z), _ = g.coords()
    dirt, _dents, _ = g.split(g.attr("pamtri_wear"))
    low = g.math("POWER", g.map_range(z, 0.1, 0.8, 1.0, 0.0), 1.2)
    pos = g.new("ShaderNodeCombineXYZ", X=g.math("MULTIPLY", x, 3.0 * scale), Y=g.math("MULTIPLY", y, 3.0 * scale),
                Z=g.math("MULTIPLY", z, 0.6 * scale))
    noise = g.new("ShaderNodeTexNoise", Vector=pos.outputs[0], Scale=1.0, Detail=1.0)
    streaks = g.map_range(noise.outputs["Factor"], 0.3, 0.7, 0.55, 1.0)
    return g.math("MULTIPLY", g.math("MULTIPLY", dirt, low), streaks, clamp=True)


def _body_colour(g: ShaderGraph, z):
    """The body colour at height z: the roof's above `pamtri_roof_z` (a two-tone car's), the body's below."""
    roof = g.math("GREATER_THAN", z, g.attr("pamtri_roof_z", "Fac"))
    return g.mix_rgb(roof, g.attr(BODY_COLOR_PROP, "Color"), g.attr("pamtri_roof_color", "Color"))


def _sunroof_mask(g: ShaderGraph):
    """1 on the identity's sunroof: dark glass flush in the roof (SUNROOF_PROP: rear x, front x, half width in
    the vehicle frame), where the body faces up inside that rectangle; else 0."""
    (x, y, _z), (_nx, _ny, nz) = g.coords()
    x0, x1, half = g.split(g.attr(SUNROOF_PROP))
    return g.math("MULTIPLY", g.math("MULTIPLY", g.math("GREATER_THAN", x, x0), g.math("LESS_THAN", x, x1)),
                  g.math("MULTIPLY", g.math("LESS_THAN", g.math("ABSOLUTE", y), half),
                         g.math("GREATER_THAN", nz, 0.6)))


def _build_paint(mat: bpy.types.Material) -> None:
    g = ShaderGraph(mat)
    (x, y, z), (_nx, ny, _nz) = g.coords()
    metallic, rough, coat_rough = g.split(g.attr("pamtri_finish"))
    coat, flake, pearl = g.split(g.attr("pamtri_finish2"))
    colour = _body_colour(g, z)
    # livery and scratches on the sides: u along the length, mirrored on the left so text reads correctly
    xmin, xmax, height = g.split(g.attr("pamtri_extent"))
    along = g.math("DIVIDE", g.math("SUBTRACT", x, xmin), g.math("MAXIMUM", g.math("SUBTRACT", xmax, xmin), 1e-3))
    left = g.math("GREATER_THAN", y, 0.0)
    u = g.math("ADD", g.math("MULTIPLY", left, g.math("SUBTRACT", 1.0, g.math("MULTIPLY", along, 2.0))), along)
    v = g.math("DIVIDE", z, g.math("MAXIMUM", height, 1e-3))
    side = g.image("side_marks", u, v, "pamtri_side_tex")
    facing = g.map_range(g.math("ABSOLUTE", ny), 0.45, 0.75)
    colour = g.mix_rgb(g.math("MULTIPLY", side.outputs["Alpha"], facing), colour, side.outputs["Color"])
    # black plastic cladding along the bottom (valances, sills): the identity's band above the paint's floor
    dirt_amount, _dents, cladding = g.split(g.attr("pamtri_wear"))
    clad = g.math("MULTIPLY", g.math("GREATER_THAN", cladding, 0.0),
                  g.math("LESS_THAN", z, g.math("ADD", g.attr("pamtri_floor_z", "Fac"), cladding)))
    colour = g.mix_rgb(clad, colour, _SPECS["trim"][0])
    # the identity's sunroof, glossy as a pane (the coat's lobe) without the paint's flakes, pearl or metal
    sunroof = _sunroof_mask(g)
    colour = g.mix_rgb(sunroof, colour, SUNROOF_RGB)
    painted = g.math("SUBTRACT", g.math("SUBTRACT", 1.0, clad), sunroof)
    coat = g.math("MAXIMUM", g.math("MULTIPLY", coat, painted), sunroof)
    flake, metallic, pearl = (g.math("MULTIPLY", value, painted) for value in (flake, metallic, pearl))
    # a dirty car is dusty all over (a film that greys dark paint and dulls the coat) and grimy low down
    film = g.math("MULTIPLY", dirt_amount, 0.18)
    colour = g.mix_rgb(film, colour, DUST_RGB)
    dirt = _dirt_mask(g)
    colour = g.mix_rgb(g.math("MULTIPLY", dirt, 0.8), colour, DIRT_RGB)
    # Metallic flakes brighten the base layer's highlights under the coat. (A flake bump puts grain in the
    # normal pass that the denoiser keeps; a fine roughness sparkle is unguided noise at 3 samples.)
    roughness = g.math("MAXIMUM", g.math("MULTIPLY_ADD", dirt, 0.5, rough, clamp=True),
                       g.math("MULTIPLY", clad, 0.6))
    # (the pigment layer under a coat is mostly diffuse: a full dielectric lobe at its roughness lays a broad
    # white sheen over the colour, salmon reds and chalky blues)
    specular = g.math("MULTIPLY_ADD", flake, 0.5, 0.2)
    # Metallic paint's flop (darker where the body turns away from the viewer) as a colour ramp on the facing
    # angle, with only a little of Principled's metallic lobe: a rough metal base mirrors the sky through
    # glossy samples, grain at 3 samples per pixel (and still at 64) that the denoiser turns into mottle.
    grazing = g.new("ShaderNodeLayerWeight", Blend=0.5).outputs["Facing"]
    colour = g.mix_rgb(g.math("MULTIPLY", g.math("MULTIPLY", metallic, 0.6), g.math("POWER", grazing, 1.5)),
                       colour, (0.0, 0.0, 0.0))
    metallic = g.math("MULTIPLY", metallic, 0.25)
    # (Dents show as the side texture's scratches: a bump node evaluates its height three times per shading
    # point, which cost more than the rest of the paint.)
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{
        "Base Color": colour, "Metallic": metallic, "Roughness": roughness, "Specular IOR Level": specular,
        "Coat Weight": g.math("MULTIPLY", g.math("MULTIPLY", coat, g.math("SUBTRACT", 1.0, dirt)),
                              g.math("SUBTRACT", 1.0, film)), "Coat Roughness": coat_rough,
        "Thin Film Thickness": pearl, "Thin Film IOR": 1.45})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (0.5, 0.5, 0.5, 1.0)
    mat["pamtri_paint"] = True


# A panel gap's strip (12 mm, synth/vehicles/geometry.py GAP) as a share of its paint's brightness: a real 4 mm
# slit between rolled panel edges darkens a 1-2 cm pixel by about half; black trim drew ink outlines round the
# hood and doors of light cars at 150-250 px
SEAM_SHADE = 0.45


def _build_seam(mat: bpy.types.Material) -> None:
    """A panel gap: the body's (or two-tone roof's) colour in shade, without the clear coat (a slit mirrors no
    sky)."""
    g = ShaderGraph(mat)
    (_x, _y, z), _ = g.coords()
    colour = _body_colour(g, z)
    colour = g.mix_rgb(1.0 - SEAM_SHADE, colour, (0.0, 0.0, 0.0))
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour, "Roughness": 0.6})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (0.2, 0.2, 0.2, 1.0)


# Window glass's reflectance at normal incidence, per surface (n = 1.52)
GLASS_F0 = ((1.52 - 1.0) / (1.52 + 1.0)) ** 2


def _pane_reflectance(g: ShaderGraph):
    """Reflectance of a pane's two surfaces (2F / (1 + F), Schlick's F at glass's index): 8 % face on, 14 %
    at 60 degrees, 40 % at 75, as side windows and backlights show at a glance. Taken from |cos| of the
    view angle, so a pane seen from inside (a bus's far windows) reflects as from outside, not totally."""
    facing = g.new("ShaderNodeLayerWeight", Blend=0.5).outputs["Facing"]  # 1 - |cos| at blend 0.5
    fresnel = g.math("MULTIPLY_ADD", g.math("POWER", facing, 5.0), 1.0 - GLASS_F0, GLASS_F0)
    return g.math("DIVIDE", g.math("MULTIPLY", fresnel, 2.0), g.math("ADD", fresnel, 1.0))


def _build_glass(mat: bpy.types.Material, tint=(0.92, 0.97, 0.96)) -> None:
    """Window glass: the sky seen along the reflection vector, emitted with a Fresnel weight, over a tinted
    Transparent BSDF (synth/blender/sky.py says why not a glossy closure; no refraction either: at a few
    samples per pixel a refracting pane over the cabin is mostly noise), with the windshield's stickers."""
    g = ShaderGraph(mat)
    (x, y, z), (nx, _ny, _nz) = g.coords()
    reflect = _pane_reflectance(g)
    # the windshield (a pane facing along the body in its front half: a cab's rear pane too) at its own
    # transmission, the other windows at the tint's
    front = g.math("MULTIPLY", g.math("SUBTRACT", 1.0, _is_rear(g, x)),
                   g.math("GREATER_THAN", g.math("ABSOLUTE", nx), 0.35))
    tinted, windshield, _ = g.split(g.attr("pamtri_glass"))
    transmission = g.math("MULTIPLY_ADD", front, g.math("SUBTRACT", windshield, tinted), tinted)
    see = g.mix_rgb(g.math("MULTIPLY", g.math("SUBTRACT", 1.0, reflect), transmission), (0.0, 0.0, 0.0), tint)
    clear = g.new("ShaderNodeBsdfTransparent", Color=see)
    sky = sky_node(g.nt, g.new("ShaderNodeTexCoord").outputs["Reflection"])
    mirror = g.new("ShaderNodeEmission", Color=sky.outputs["Color"],
                   Strength=g.math("MULTIPLY", sky.outputs["Strength"], reflect))
    shader = g.new("ShaderNodeAddShader")
    g.nt.links.new(clear.outputs[0], shader.inputs[0])
    g.nt.links.new(mirror.outputs[0], shader.inputs[1])
    shader = shader.outputs[0]
    mat.cycles.emission_sampling = "NONE"  # a reflection, not a lamp: no light samples towards the windows
    # stickers: on the windshield, read from the front
    u, v = _projected(g, "pamtri_windshield", y, z, 0.0)
    tex = g.image("glass_marks", u, v, "pamtri_glass_tex")
    sticker = g.new("ShaderNodeBsdfDiffuse", Color=tex.outputs["Color"])
    shader = g.mix_shader(g.math("MULTIPLY", tex.outputs["Alpha"], front), shader, sticker.outputs[0])
    g.finish(shader)
    mat.diffuse_color = (0.05, 0.06, 0.065, 1.0)
    mat[SEE_THROUGH_PROP] = True


def _build_plate(mat: bpy.types.Material, painted: bool = False) -> None:
    """The plate texture on the front or rear plate (chosen by which way the face looks), left to right; or,
    `painted`, on a truck's enlarged rear number (its own box, `pamtri_rear_number`)."""
    g = ShaderGraph(mat)
    (x, y, z), _ = g.coords()
    if painted:
        rear = 1.0
        box_out = g.attr(REAR_NUMBER_PROP)
    else:
        rear = _is_rear(g, x)
        front_box, rear_box = g.attr("pamtri_plate_front"), g.attr("pamtri_plate_rear")
        box = g.new("ShaderNodeMix")
        box.data_type = "VECTOR"
        g.nt.links.new(rear, box.inputs[0])
        g.nt.links.new(front_box, box.inputs[4])
        g.nt.links.new(rear_box, box.inputs[5])
        box_out = box.outputs[1]
    hw, z0, z1 = g.split(box_out)
    u = g.math("MULTIPLY_ADD", g.math("DIVIDE", y, g.math("MAXIMUM", hw, 1e-3)), 0.5, 0.5)
    u = g.math("ADD", g.math("MULTIPLY", rear, g.math("SUBTRACT", 1.0, g.math("MULTIPLY", u, 2.0))), u)
    v = g.math("DIVIDE", g.math("SUBTRACT", z, z0), g.math("MAXIMUM", g.math("SUBTRACT", z1, z0), 1e-3))
    tex = g.image("plate", u, v, "pamtri_plate_tex")
    tex.extension = "EXTEND"
    other = g.image("plate_other", u, v, "pamtri_plate_other_tex")
    other.extension = "EXTEND"
    plate = g.mix_rgb(g.attr(OTHER_PLATE_PROP, "Fac"), tex.outputs["Color"], other.outputs["Color"])
    colour = g.mix_rgb(g.math("MULTIPLY", _dirt_mask(g, 6.0), 0.5), plate, DIRT_RGB)
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour, "Roughness": 0.35, "Metallic": 0.0})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (0.05, 0.15, 0.6, 1.0)


def _build_lens(mat: bpy.types.Material, rgb) -> None:
    """A clear lamp lens: mostly see-through (the reflector behind it shows), glossy."""
    g = ShaderGraph(mat)
    fresnel = g.new("ShaderNodeLayerWeight", Blend=0.2).outputs["Fresnel"]
    clear = g.new("ShaderNodeBsdfTransparent", Color=tuple(0.9 * c for c in rgb))
    mirror = g.new("ShaderNodeBsdfGlossy", Roughness=0.04)
    g.finish(g.mix_shader(g.map_range(fresnel, 0.0, 1.0, 0.15, 1.0), clear.outputs[0], mirror.outputs[0]))
    mat.diffuse_color = (*rgb, 1.0)


def _build_lamp(mat: bpy.types.Material, kind: str) -> None:
    """A lamp lens that lights up at the strength the object's `pamtri_lamps` gives it (0 or unset: off)."""
    rgb, metallic, roughness, extra = _SPECS[kind]
    light, which = LAMP_LIGHT[kind]
    g = ShaderGraph(mat)
    strength = g.split(g.attr(LAMPS_PROP))[which]
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": rgb, "Metallic": metallic, "Roughness": roughness,
                                                "Emission Color": light, "Emission Strength": strength, **extra})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (*rgb, 1.0)


def _build_plain(mat: bpy.types.Material, kind: str) -> None:
    rgb, metallic, roughness, extra = _SPECS[kind]
    g = ShaderGraph(mat)
    colour = rgb
    settings = {"Metallic": metallic, "Roughness": roughness, **extra}
    if kind in ("rubber", "trim", "metal_dark", "grille", "steel"):  # road grime on the lower parts
        dirt = _dirt_mask(g, 4.0)
        colour = g.mix_rgb(g.math("MULTIPLY", dirt, 0.6), rgb, DIRT_RGB)
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour, **settings})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (*rgb, 1.0)


# an open bed's floor: lines along y (planks, a liner's ribs) or x (a steel sheet's ribs), their pitch, the share
# of a pitch that is a dark groove, the shade spread from line to line
DECK_LINES = {"deck_wood": (True, 0.16, 0.07, 0.5), "deck_steel": (False, 0.3, 0.05, 0.5),
              "bed_liner": (True, 0.1, 0.4, 0.1)}
DECK_KINDS = tuple(DECK_LINES)


def _build_deck(mat: bpy.types.Material, kind: str) -> None:
    """An open bed's floor: a stake truck's planks along the bed (a dark gap between them, each board its own
    shade) or steel sheet with ribs across it, a pickup's ribbed black liner, in blotches of grime. Seen from a
    raised camera, a bed floor of one flat colour read as a lid on a box."""
    rgb, metallic, roughness, extra = _SPECS[kind]
    along_y, pitch, groove, spread = DECK_LINES[kind]
    g = ShaderGraph(mat)
    (x, y, _z), _ = g.coords()
    lines = g.math("DIVIDE", y if along_y else x, pitch)
    gap = g.math("LESS_THAN", g.math("FRACT", lines), groove)
    board = g.new("ShaderNodeTexWhiteNoise")
    board.noise_dimensions = "1D"
    g.feed(next(s for s in board.inputs if s.name == "W"), g.math("FLOOR", lines))
    colour = g.mix_rgb(g.map_range(board.outputs["Value"], 0.0, 1.0, 0.0, spread), rgb,
                       tuple(1.6 * c for c in rgb))
    colour = g.mix_rgb(g.math("MULTIPLY", gap, 0.75), colour, (0.0, 0.0, 0.0))
    pos = g.new("ShaderNodeCombineXYZ", X=x, Y=y)
    grime = g.new("ShaderNodeTexNoise", Vector=pos.outputs[0], Scale=2.5, Detail=2.0)
    colour = g.mix_rgb(g.map_range(grime.outputs["Factor"], 0.4, 0.7, 0.0, 0.7), colour, DIRT_RGB)
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour, "Metallic": metallic,
                                                "Roughness": roughness, **extra})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (*rgb, 1.0)


LOAD_KINDS = ("load", "load_sand", "load_gravel")


def _build_load(mat: bpy.types.Material, kind: str) -> None:
    """A dump body's load of soil, sand or gravel: its colour in clumps and wheel-track shades (two octaves of
    noise, 0.6-1.4 times the base), dull. A load of one flat colour read as a lid."""
    rgb, _metallic, roughness, _extra = _SPECS[kind]
    g = ShaderGraph(mat)
    (x, y, z), _ = g.coords()
    pos = g.new("ShaderNodeCombineXYZ", X=x, Y=y, Z=z)
    clumps = g.new("ShaderNodeTexNoise", Vector=pos.outputs[0], Scale=3.0, Detail=4.0, Roughness=0.6)
    shade = g.map_range(clumps.outputs["Factor"], 0.3, 0.7, 0.0, 1.0)
    colour = g.mix_rgb(shade, tuple(0.6 * c for c in rgb), tuple(min(1.0, 1.4 * c) for c in rgb))
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour, "Roughness": roughness})
    g.finish(bsdf.outputs["BSDF"])
    mat.diffuse_color = (*rgb, 1.0)


def _build_cabin(mat: bpy.types.Material, kind: str) -> None:
    """Seats, dashboard and the cabin lining, seen through the glass: half diffuse, half a dim glow of their
    own colour. The cabin is lit through the windows only, which at 3 samples per pixel is mostly noise behind
    the pane; the glow stands in for that light without noise or bounces."""
    rgb, _metallic, roughness, _extra = _SPECS[kind]
    g = ShaderGraph(mat)
    colour = g.new("ShaderNodeRGB")
    colour.name = "pamtri_cabin_color"
    colour.outputs[0].default_value = (*rgb, 1.0)
    bsdf = g.new("ShaderNodeBsdfPrincipled", **{"Base Color": colour.outputs[0], "Roughness": roughness})
    glow = g.new("ShaderNodeEmission", Color=colour.outputs[0], Strength=0.2)  # a cabin is in shade (0.5 lit it up)
    g.finish(g.mix_shader(0.6, bsdf.outputs["BSDF"], glow.outputs[0]))
    mat.diffuse_color = (*rgb, 1.0)


def build_material(mat: bpy.types.Material, kind: str) -> None:
    """(Re)build `mat`'s node tree as material `kind`; records the kind and the look version."""
    if kind == "paint":
        _build_paint(mat)
    elif kind == "seam":
        _build_seam(mat)
    elif kind == "glass":
        _build_glass(mat)
    elif kind in PLATE_KINDS or kind == REAR_NUMBER:
        _build_plate(mat, painted=kind == REAR_NUMBER)
    elif kind in CABIN_KINDS:
        _build_cabin(mat, kind)
    elif kind in LENS_KINDS:
        _build_lens(mat, _SPECS[kind][0])
    elif kind in LAMP_LIGHT:
        _build_lamp(mat, kind)
    elif kind in DECK_KINDS:
        _build_deck(mat, kind)
    elif kind in LOAD_KINDS:
        _build_load(mat, kind)
    else:
        _build_plain(mat, kind)
    if kind in SEE_THROUGH_KINDS:
        mat[SEE_THROUGH_PROP] = True
    mat[KIND_PROP] = kind
    mat[LOOK_PROP] = LOOK_VERSION


def material_kind(mat: bpy.types.Material, model_name: str | None = None) -> str | None:
    """The kind of a procedural-library material: recorded on it, else its name `<model>_<kind>`."""
    kind = mat.get(KIND_PROP)
    if kind:
        return str(kind)
    name = mat.name.split(".")[0]
    if model_name and name.startswith(f"{model_name}_"):
        rest = name[len(model_name) + 1:]
        if rest == "paint" or rest in _SPECS:
            return rest
    return None


def refresh_material(mat: bpy.types.Material, model_name: str | None = None) -> bool:
    """Bring a procedural-library material to the current look (libraries built before a change render with
    today's shaders). Returns whether `mat` is a library material."""
    kind = material_kind(mat, model_name)
    if kind is None:
        return False
    if mat.get(LOOK_PROP) != LOOK_VERSION:
        build_material(mat, kind)
    for node in mat.node_tree.nodes:  # the images are the worker's (a file's copies would stay blank)
        if node.type == "TEX_IMAGE" and node.name in _IMAGE_NODES:
            node.image = shared_image(_IMAGE_NODES[node.name])
        elif node.type == "GROUP" and node.node_tree is not None and node.node_tree.name == SKY_GROUP_NAME:
            node.node_tree = sky_group()  # today's sky, whichever the library file holds
    return True


_IMAGE_NODES = {"pamtri_plate_tex": "plate", "pamtri_plate_other_tex": "plate_other",
                "pamtri_glass_tex": "glass_marks", "pamtri_side_tex": "side_marks"}


def tint_glass(mat: bpy.types.Material) -> None:
    """A user model's window material rendered as the library's glass (tinted by its own base colour)."""
    tint = (0.92, 0.97, 0.96)
    for node in mat.node_tree.nodes if mat.node_tree else ():
        if node.type == "BSDF_PRINCIPLED" and not node.inputs["Base Color"].is_linked:
            rgb = node.inputs["Base Color"].default_value[:3]
            tint = tuple(min(1.0, 0.5 + c) for c in rgb)
    _build_glass(mat, tint)
    mat[LOOK_PROP] = LOOK_VERSION


def _principled(mat: bpy.types.Material) -> bpy.types.Node:
    if mat.node_tree is None:
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        out = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
        mat.node_tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def make_paintable(mat: bpy.types.Material, default_rgb=(0.5, 0.5, 0.5)) -> None:
    """Route the Base Color of a user model's paint (its Principled BSDF) from the object property
    `pamtri_body_color`, with the identity's sunroof (dark where `_sunroof_mask` is 1). Idempotent. The
    library's own paint is built whole by build_material."""
    if mat.get(KIND_PROP) == "paint":
        return
    bsdf = _principled(mat)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    attr = nodes.get("pamtri_body_color")
    if attr is None:
        attr = nodes.new("ShaderNodeAttribute")
        attr.name = "pamtri_body_color"
        attr.attribute_type = "OBJECT"
        attr.attribute_name = BODY_COLOR_PROP
        attr.location = (bsdf.location[0] - 300, bsdf.location[1])
    colour = attr.outputs["Color"]
    mix = nodes.get("pamtri_sunroof_mix")
    if mix is None:
        g = ShaderGraph(mat, keep=True)
        mix = g.mix_rgb(_sunroof_mask(g), colour, SUNROOF_RGB).node
        mix.name = "pamtri_sunroof_mix"
    links.new(colour, mix.inputs[6])
    links.new(mix.outputs[2], bsdf.inputs["Base Color"])
    mat.diffuse_color = (*default_rgb, 1.0)
    mat["pamtri_paint"] = True


def light_user_lamp(mat: bpy.types.Material, kind: str) -> None:
    """Let a user model's lamp light up as the library's lamps do: its Principled BSDF emits in the colour of
    LAMP_LIGHT[kind] ("drl" at the front, "lens_red" at the rear) at the strength the object's `pamtri_lamps`
    gives (0: off, whatever the file's own emission). Its surface look stays the file's. Idempotent."""
    if mat.get("pamtri_lamp") == kind:
        return
    light, which = LAMP_LIGHT[kind]
    bsdf = _principled(mat)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "OBJECT"
    attr.attribute_name = LAMPS_PROP
    split = nodes.new("ShaderNodeSeparateXYZ")
    links.new(attr.outputs["Vector"], split.inputs[0])
    links.new(split.outputs[which], bsdf.inputs["Emission Strength"])
    emission = bsdf.inputs["Emission Color"]
    for link in list(emission.links):
        links.remove(link)
    emission.default_value = (*light, 1.0)
    mat["pamtri_lamp"] = kind


def make_paint(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    build_material(mat, "paint")
    return mat


def make_material(kind: str, name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    build_material(mat, kind)
    return mat
