"""The look of an identity beyond its model and colour: paint finish, glass tint, dirt, number plate and marks
(stickers, livery, dents). Pure numpy and cv2: sampled here, carried out by the Blender backend.

An identity's look is a pure function of (config, seed, identity), so an identity keeps its plate and marks in
every image. It is drawn from two streams: the *finish* (paint type, clear coat, two-tone roof, glass tint,
plate style) from the identity's twin root, and the *marks* (plate characters, stickers, livery, dirt, dents)
from the identity itself. Twin identities (IdentityConfig.twin_fraction, synth/identities.py) share model,
colour and paint shade, hence the finish, and differ only in their marks: the hard negatives that dominate
real ReID errors.

Textures are drawn as uint8 images, row 0 at the top, u (columns) left to right as a viewer facing the surface
sees it; the backend maps them so (plates read left to right from the front and from the rear).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np

from synth.config import Config
from synth.vocabulary import COLOR_NAMES, TYPE_NAMES

Range = tuple[float, float]

HEAVY_TYPES = ("bus", "truck")
PLATE_STYLES = ("cn_blue", "cn_yellow", "cn_green", "eu", "us")
PLATE_MASKS = ("none", "blank", "blur")
FINISHES = ("solid", "metallic", "pearl", "matte")
LIVERIES = ("none", "stripe", "logo", "taxi", "bus")
PLATE_TEXTURE = (100, 320)  # rows, columns: the aspect of a 440 x 140 mm plate
SIDE_TEXTURE = (128, 512)  # u along the vehicle's length, v its height
# windshield stickers' paper colours (sRGB): the yearly inspection label's blue, yellow or green, environmental
# green, the insurance label's white; printed pale (saturated squares read as a toy's decals)
STICKER_SRGB = ((0.45, 0.57, 0.75), (0.82, 0.78, 0.45), (0.84, 0.84, 0.82), (0.47, 0.66, 0.5), (0.86, 0.86, 0.86))
GLASS_TEXTURE = (128, 256)  # u across the windshield / rear window, v its height
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # plates leave out I and O
_DIGITS = "0123456789"
LIVERY_COMMERCIAL_FACTOR = 10.0  # vans, buses and trucks: a company's colours far more often than a private car
# the colours stripes, logos and bands are painted in (sRGB): decal and fleet colours, not any RGB (random
# hues drew toy-like lime and salmon stripes)
LIVERY_COLOURS = ((0.92, 0.92, 0.9), (0.08, 0.08, 0.09), (0.65, 0.66, 0.68), (0.75, 0.1, 0.1), (0.1, 0.25, 0.65),
                  (0.95, 0.78, 0.1), (0.1, 0.5, 0.25), (0.95, 0.45, 0.08))


@dataclass
class PaintConfig(Config):
    # relative frequency of each finish (metallic paints dominate today's cars; matte is rare)
    finishes: dict = field(default_factory=lambda: {"solid": 0.35, "metallic": 0.45, "pearl": 0.15, "matte": 0.05})
    # colours that cars wear as metallic paint (champagne, mocha): a solid draw becomes metallic (a solid gold or
    # brown read as tan and chocolate clay)
    metallic_colours: tuple[str, ...] = ("golden", "brown")
    two_tone_prob: float = 0.06  # roof (above the belt line) in a second colour
    clear_coat_roughness: Range = (0.01, 0.06)  # rougher coats blur the skyline into noise at 3 samples
    base_roughness: Range = (0.25, 0.5)  # under the clear coat; matte paint uses the high end, without coat
    flake: Range = (0.3, 1.0)  # metallic flakes: how much they brighten the highlights (metallic, pearl)
    pearl_thickness: Range = (250.0, 600.0)  # nm: thin-film interference of pearl paint
    # fraction of light the side and rear windows' tint lets through (film or privacy glass; 0.2-0.6 on every
    # pane, windshields included, had lit cabins on show)
    glass_transmission: Range = (0.15, 0.45)
    # a bus's side and rear panes: seen through two of them (and the seats, poles and riders between), so a
    # tint as dark as a car's (halved, as it was before buses had a cabin) drew one black band down the side;
    # at these the far windows and the seat backs show, as on city buses in traffic
    bus_glass_transmission: Range = (0.15, 0.4)
    # the windshield's (and a cab's rear pane's): windshields are clear by law (70 % and up), and a bus's,
    # truck's or van's cab with its seats, dashboard and driver shows through it in VeRi's frontal crops; at the
    # side windows' tint a bus front was one black slab
    windshield_transmission: Range = (0.6, 0.8)
    # cars (and vans, trucks' cabs) whose side and rear windows are untinted, as clear as the windshield: their
    # seats, headrests and far windows show through (as in VeRi's close crops); the rest wear film or privacy
    # glass, common on China's cars: about one in five of the VeRi montage's side windows shows grey, the rest
    # near black. Buses keep their tint.
    clear_glass_prob: float = 0.2
    # unpainted black plastic along the bottom of the body (bumper valances, sills), as most crossovers and many
    # cars have: probability per type, and its height above the body's lowest point (m)
    cladding_prob: dict = field(default_factory=lambda: {
        "suv": 0.6, "pickup": 0.5, "hatchback": 0.35, "estate": 0.35, "mpv": 0.3, "van": 0.3, "sedan": 0.15})
    cladding_height: Range = (0.07, 0.16)


@dataclass
class PlateConfig(Config):
    # relative frequency of plate styles for light vehicles and for buses and trucks (VeRi: Chinese plates,
    # blue on cars, yellow on big vehicles, green on new-energy cars)
    styles: dict = field(default_factory=lambda: {"cn_blue": 0.9, "cn_green": 0.1})
    heavy_styles: dict = field(default_factory=lambda: {"cn_yellow": 1.0})
    mask: str = "none"  # privacy: none, blank (plate without characters), blur (characters blurred away)


@dataclass
class MarksConfig(Config):
    sticker_count: tuple[int, int] = (0, 4)  # windshield stickers (inspection, parking), uniform inclusive
    # a painted stripe or a company logo on the sides: rare on private cars (one car in 33 of VeRi's project
    # montage), common on vans, trucks and buses (x LIVERY_COMMERCIAL_FACTOR)
    livery_prob: float = 0.04
    taxi_prob: float = 0.04  # sedans: taxi livery (a two-colour side band)
    # buses: their operator's colours, a broad band along the lower body under a thin one (a plain body was the
    # exception among VeRi's buses)
    bus_livery_prob: float = 0.75
    dirt_prob: float = 0.5  # probability that an identity is dirty at all
    dirt: Range = (0.1, 0.8)  # dirt strength on the lower body and wheel arches when dirty
    dent_prob: float = 0.1  # dents and scratches (drawn as scratches on the sides)
    roof_box_prob: float = 0.05  # cars, pickups and vans: a roof box (cargo pod) on the roof
    # a sunroof's dark glass in the roof, by type (a trim level: common on China's sedans and SUVs, and what a
    # high traffic camera sees of a roof), a panoramic one (most of the roof) in `panoramic_share` of them
    sunroof_prob: dict = field(default_factory=lambda: {
        "sedan": 0.4, "suv": 0.45, "hatchback": 0.25, "estate": 0.3, "mpv": 0.3, "pickup": 0.1, "van": 0.05})
    panoramic_share: float = 0.35


@dataclass
class AppearanceConfig(Config):
    paint: PaintConfig = field(default_factory=PaintConfig)
    plate: PlateConfig = field(default_factory=PlateConfig)
    marks: MarksConfig = field(default_factory=MarksConfig)


@dataclass(frozen=True)
class IdentityLook:
    # finish (shared by twins)
    finish: str
    metallic: float
    roughness: float
    coat: float  # clear-coat weight
    coat_roughness: float
    flake: float
    pearl: float  # thin-film thickness in nm, 0 = none
    two_tone: bool
    roof_rgb: tuple[float, float, float]  # linear RGB of the roof (the body paint's when not two-tone)
    glass_transmission: float
    plate_style: str
    # marks (the identity's own)
    plate_text: str
    plate_mask: str
    stickers: tuple  # ((u, v, w, h, r, g, b), ...) on the glass texture: fractions, sRGB 0-1
    livery: str
    livery_rgb: tuple[float, float, float]  # sRGB 0-1
    dirt: float
    dents: float
    marks_seed: int
    # (length and width as fractions of the roof's, height in metres, linear grey albedo); () = no roof box
    roof_box: tuple = ()
    cladding: float = 0.0  # height (m) of the black plastic band above the body's lowest point; 0 = none
    windshield_transmission: float = 0.7
    # (start behind the windshield's top, length, width) as fractions of the roof's span and width
    # (accessories.sunroof_rect); () = none
    sunroof: tuple = ()

    def to_dict(self) -> dict:
        return asdict(self)


def _choose(rng: np.random.Generator, weights: dict, allowed, what: str) -> str:
    names = [k for k in weights if weights[k] > 0]
    unknown = [k for k in names if k not in allowed]
    if unknown or not names:
        raise ValueError(f"{what}: unknown or no entries {unknown or names}; choose from {list(allowed)}")
    w = np.array([float(weights[k]) for k in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _u(rng, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _twin_root(identity) -> int:
    twin = int(getattr(identity, "twin_of", -1))
    return twin if twin >= 0 else int(identity.vehicle_id)


def plate_text(style: str, rng: np.random.Generator) -> str:
    """Random characters in a style's format. '#' stands for a Chinese province character (drawn as a glyph)."""
    letters = _ALNUM[:24]
    if style in ("cn_blue", "cn_yellow"):
        return "#" + str(rng.choice(list(letters))) + "." + "".join(rng.choice(list(_ALNUM), 5))
    if style == "cn_green":
        return "#" + str(rng.choice(list(letters))) + "." + "".join(rng.choice(list(_ALNUM), 6))
    if style == "eu":
        return ("".join(rng.choice(list(letters), 2)) + "-" + "".join(rng.choice(list(_DIGITS), 3)) + "-"
                + "".join(rng.choice(list(letters), 2)))
    return str(rng.integers(1, 10)) + "".join(rng.choice(list(letters), 3)) + "".join(rng.choice(list(_DIGITS), 3))


def identity_look(config: AppearanceConfig, seed: int, identity) -> IdentityLook:
    """The look of `identity` (an Identity of synth/identities.py: vehicle_id, type_id, paint_rgb, twin_of)."""
    type_name = TYPE_NAMES[int(identity.type_id)]
    heavy = type_name in HEAVY_TYPES
    pc, mc = config.paint, config.marks
    fin = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0xA9, _twin_root(identity))))
    finish = _choose(fin, pc.finishes, FINISHES, "appearance.paint.finishes")
    colour_id = int(getattr(identity, "color_id", 0))
    if finish == "solid" and 0 < colour_id < len(COLOR_NAMES) and COLOR_NAMES[colour_id] in pc.metallic_colours:
        finish = "metallic"
    metallic = {"solid": 0.0, "metallic": fin.uniform(0.5, 0.9), "pearl": fin.uniform(0.2, 0.5),
                "matte": fin.uniform(0.0, 0.4)}[finish]
    roughness = _u(fin, pc.base_roughness)
    coat, coat_rough = 1.0, _u(fin, pc.clear_coat_roughness)
    if finish == "matte":
        coat, roughness = 0.0, max(roughness, 0.5)
    flake = _u(fin, pc.flake) if finish in ("metallic", "pearl") else 0.0
    pearl = _u(fin, pc.pearl_thickness) if finish == "pearl" else 0.0
    paint = np.asarray(identity.paint_rgb, np.float64)
    two_tone = bool(fin.random() < pc.two_tone_prob) and not heavy
    roof = paint
    if two_tone:  # a dark or a white roof over the body colour, as two-tone cars are sold
        roof = np.array([0.012, 0.012, 0.014]) if paint.mean() > 0.15 or fin.random() < 0.5 else np.full(3, 0.75)
    glass = _u(fin, pc.bus_glass_transmission if type_name == "bus" else pc.glass_transmission)
    style = _choose(fin, config.plate.heavy_styles if heavy else config.plate.styles, PLATE_STYLES,
                    "appearance.plate.styles")
    if config.plate.mask not in PLATE_MASKS:
        raise ValueError(f"appearance.plate.mask must be one of {PLATE_MASKS}, got {config.plate.mask!r}")
    cladding = 0.0  # (drawn after everything above: finishes drawn before it existed stay the same)
    if fin.random() < float(pc.cladding_prob.get(type_name, 0.0)):
        cladding = _u(fin, pc.cladding_height)
    windshield = _u(fin, pc.windshield_transmission)  # (after the cladding, for the same reason)
    if fin.random() < pc.clear_glass_prob and type_name != "bus":
        glass = windshield

    marks = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0xAA, int(identity.vehicle_id))))
    text = plate_text(style, marks)
    lo, hi = mc.sticker_count
    stickers = []
    u_next, v_top = 0.05, 0.89  # the row starts 5 % in from the glass's edge
    for _ in range(int(marks.integers(lo, hi + 1))):
        # Inspection, environmental and insurance stickers: 5-8 cm labels lined up from the top corner of the
        # windshield on the passenger side (viewer's left). The glass is about 1.9 times as wide as it is tall,
        # so h = 1.9 w is square in metres. (Six draws each, as before, so the marks drawn after them are
        # unchanged.)
        w = marks.uniform(0.035, 0.058)
        h = w * 1.9 * marks.uniform(0.75, 1.2)
        u = float(min(u_next + abs(marks.normal(0.0, 0.012)), 0.9 - w))
        u_next = u + w + 0.006
        v = float(v_top - h - marks.uniform(0.0, 0.03))
        rgb = np.array(STICKER_SRGB[int(marks.integers(len(STICKER_SRGB)))]) * marks.uniform(0.85, 1.0)
        stickers.append((u, v, float(w), float(h), *(float(c) for c in rgb)))
    livery = "none"
    if type_name == "sedan" and marks.random() < mc.taxi_prob:
        livery = "taxi"
    elif type_name == "bus" and marks.random() < mc.bus_livery_prob:
        livery = "bus"
    elif marks.random() < mc.livery_prob * (LIVERY_COMMERCIAL_FACTOR if type_name in ("van", "bus", "truck") else 1.0):
        livery = "stripe" if marks.random() < 0.5 else "logo"
    pick, shade, _ = marks.uniform(0.0, 1.0, 3)  # (three draws, as the random colour took before)
    base = np.asarray(LIVERY_COLOURS[int(pick * len(LIVERY_COLOURS))])  # (pick < 1)
    livery_rgb = tuple(float(c) for c in np.clip(base * (0.85 + 0.3 * shade), 0.0, 1.0))
    dirt = _u(marks, mc.dirt) if marks.random() < mc.dirt_prob else 0.0
    dents = float(marks.uniform(0.3, 1.0)) if marks.random() < mc.dent_prob else 0.0
    # accessories from their own stream: looks drawn before they existed keep their other marks
    extra = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0xAB, int(identity.vehicle_id))))
    roof_box = ()
    if not heavy and extra.random() < mc.roof_box_prob:
        shade = float(extra.choice([0.015, 0.05, 0.2, 0.6], p=[0.55, 0.2, 0.15, 0.1]))  # black .. white
        length, width, height = extra.uniform(0.75, 1.05), extra.uniform(0.5, 0.75), extra.uniform(0.3, 0.42)
        roof_box = (float(length), float(width), float(height), shade)
    if livery == "taxi":  # the taxi's roof sign: a short, wide white light box (shaped as a roof box)
        roof_box = (0.17, 0.58, 0.17, 0.6)
    sunroof = _sunroof(mc, type_name, np.random.default_rng(
        np.random.SeedSequence(int(seed), spawn_key=(0xAC, int(identity.vehicle_id)))))
    return IdentityLook(
        sunroof=sunroof,
        roof_box=roof_box, finish=finish, metallic=float(metallic), roughness=float(roughness), coat=float(coat),
        coat_roughness=float(coat_rough), flake=float(flake), pearl=float(pearl), two_tone=two_tone,
        roof_rgb=tuple(float(c) for c in roof), glass_transmission=glass, plate_style=style, plate_text=text,
        plate_mask=config.plate.mask, stickers=tuple(stickers), livery=livery, livery_rgb=livery_rgb,
        dirt=float(dirt), dents=dents, marks_seed=int(marks.integers(2**31)), cladding=float(cladding),
        windshield_transmission=windshield,
    )


def neighbour_look(look: IdentityLook, seed: int) -> IdentityLook:
    """The look whose plate the other vehicles in a sample wear (traffic and occluder vehicles): the shown
    identity's plate style and mask with characters of their own, drawn from the sample's seed, so no
    neighbour carries the identity's number."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0xAD,)))
    return replace(look, plate_text=plate_text(look.plate_style, rng),
                   marks_seed=int(rng.integers(2**31)))


def _sunroof(mc: MarksConfig, type_name: str, rng: np.random.Generator) -> tuple:
    """An identity's sunroof (IdentityLook.sunroof) from its own stream: a tilt-and-slide panel over the front
    seats (about 0.8 x 0.85 m on a car's roof) or a panoramic one over both rows."""
    if rng.random() >= float(mc.sunroof_prob.get(type_name, 0.0)):
        return ()
    if rng.random() < mc.panoramic_share:
        return float(rng.uniform(0.06, 0.1)), float(rng.uniform(0.7, 0.84)), float(rng.uniform(0.8, 0.9))
    return float(rng.uniform(0.08, 0.16)), float(rng.uniform(0.35, 0.45)), float(rng.uniform(0.62, 0.74))


# --- textures ----------------------------------------------------------------------------------------------

# style: (background sRGB, character sRGB)
_PLATE_COLORS = {
    "cn_blue": ((15, 48, 150), (235, 235, 235)),  # reflectances: a sunlit plate shows brighter than these
    "cn_yellow": ((235, 180, 20), (15, 15, 15)),
    "cn_green": ((120, 200, 120), (15, 15, 15)),
    "eu": ((235, 235, 230), (20, 20, 20)),
    "us": ((235, 235, 240), (25, 35, 110)),
}


def _hanzi(img, x0, y0, w, h, color, rng):
    """A glyph with the stroke structure of a Chinese character (a province abbreviation; Hershey fonts have
    none): a few horizontal, vertical and slanted strokes in its cell."""
    t = max(2, int(round(w * 0.13)))
    for _ in range(int(rng.integers(4, 8))):
        kind = rng.integers(3)
        if kind == 0:
            y = int(y0 + rng.uniform(0.1, 0.9) * h)
            cv2.line(img, (int(x0 + rng.uniform(0, 0.3) * w), y), (int(x0 + rng.uniform(0.7, 1) * w), y), color, t,
                     cv2.LINE_AA)
        elif kind == 1:
            x = int(x0 + rng.uniform(0.15, 0.85) * w)
            cv2.line(img, (x, int(y0 + rng.uniform(0, 0.3) * h)), (x, int(y0 + rng.uniform(0.7, 1) * h)), color, t,
                     cv2.LINE_AA)
        else:
            a = (int(x0 + rng.uniform(0.2, 0.8) * w), int(y0 + rng.uniform(0.3, 0.6) * h))
            b = (int(x0 + rng.uniform(0, 1) * w), int(y0 + rng.uniform(0.8, 1) * h))
            cv2.line(img, a, b, color, t, cv2.LINE_AA)


def plate_texture(look: IdentityLook, shape=PLATE_TEXTURE) -> np.ndarray:
    """The number plate as an sRGB uint8 image (rows, columns, 3): background, border and the characters of
    `look.plate_text`, left to right; `look.plate_mask` blanks or blurs the characters."""
    h, w = shape
    bg, ink = _PLATE_COLORS[look.plate_style]
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    if look.plate_style == "cn_green":  # new-energy plates fade from white (top) to green
        fade = np.linspace(0.0, 1.0, h)[:, None, None]
        img[:] = np.round((1 - fade) * np.array([235, 245, 235]) + fade * np.array(bg)).astype(np.uint8)
    border = ink if look.plate_style.startswith("cn") else (60, 60, 60)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), border, max(1, h // 40), cv2.LINE_AA)
    left = 8
    if look.plate_style == "eu":  # the blue country band
        img[5:h - 5, 5:int(w * 0.1)] = (20, 50, 160)
        left = int(w * 0.12)
    if look.plate_mask == "blank":
        return img
    rng = np.random.default_rng(look.marks_seed)
    chars = list(look.plate_text)
    n = len(chars)
    cell = (w - left - 8) / n
    scale = h / 42.0 * 0.95
    thick = max(2, int(round(h / 14)))
    for i, ch in enumerate(chars):
        x0 = left + i * cell
        if ch == "#":
            _hanzi(img, x0 + cell * 0.1, h * 0.18, cell * 0.8, h * 0.64, ink, rng)
        elif ch == ".":
            cv2.circle(img, (int(x0 + cell / 2), h // 2), max(2, h // 22), ink, -1, cv2.LINE_AA)
        elif ch != "-":
            (tw, th), _ = cv2.getTextSize(ch, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            sx = cell * 0.8 / max(tw, 1)  # narrow every glyph to its cell, as plate fonts are
            glyph = np.zeros((th + 2 * thick, tw + 2 * thick), np.uint8)
            cv2.putText(glyph, ch, (thick, th + thick), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
            gh = int(round(h * 0.66))
            gw = max(1, int(round(glyph.shape[1] * min(sx, 1.0) * gh / glyph.shape[0])))
            gw = min(gw, int(cell * 0.9))
            glyph = cv2.resize(glyph, (gw, gh), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
            gx, gy = int(x0 + (cell - gw) / 2), int(h * 0.17)
            region = img[gy:gy + gh, gx:gx + gw].astype(np.float32)
            img[gy:gy + gh, gx:gx + gw] = np.round(region * (1 - glyph) + glyph * np.array(ink)).astype(np.uint8)
    if look.plate_mask == "blur":
        img = cv2.GaussianBlur(img, (0, 0), h / 6)
    return img


def glass_texture(look: IdentityLook, shape=GLASS_TEXTURE) -> np.ndarray:
    """Stickers on the windshield as straight-alpha sRGB RGBA uint8 (transparent elsewhere)."""
    h, w = shape
    img = np.zeros((h, w, 4), np.uint8)
    rng = np.random.default_rng(look.marks_seed + 1)
    for u, v, sw, sh, r, g, b in look.stickers:
        x0, x1 = int(u * w), int((u + sw) * w)
        y1, y0 = int((1 - v) * h), int((1 - v - sh) * h)
        colour = np.array([r, g, b]) * 255
        img[y0:y1, x0:x1, :3] = colour.astype(np.uint8)
        img[y0:y1, x0:x1, 3] = 255
        if y1 - y0 > 4 and x1 - x0 > 4 and rng.random() < 0.7:  # a printed circle or text block
            inner = (colour * rng.uniform(0.2, 0.6)).astype(np.uint8).tolist()
            cv2.circle(img, ((x0 + x1) // 2, (y0 + y1) // 2), max(1, (x1 - x0) // 3), (*inner, 255), -1)
    return img


BUS_LIVERIES = ("band", "waves", "advert")
WINDOW_LINE = 0.42  # a bus's window line as a share of its height: what its livery keeps under


def bus_livery(img: np.ndarray, colour, rng: np.random.Generator) -> str:
    """A city bus operator's livery on the side texture (v = height share, row 0 = roof), drawn over the body
    colour: its band along the lower body under the windows with a thin one over it; or sweeping waves that the
    windows cut; or that band under an advertisement panel between the axles. Designs are symmetric in u: the
    texture is mirrored on the left side so that text reads, and a sweep must still run the same way on both.
    Returns the design's name (BUS_LIVERIES)."""
    h, w = img.shape[:2]
    second = tuple(int(255 - 0.5 * c) if rng.random() < 0.5 else int(0.5 * c) for c in colour)
    kind = BUS_LIVERIES[int(rng.choice(len(BUS_LIVERIES), p=(0.35, 0.4, 0.25)))]
    top = rng.uniform(0.27, 0.34)
    if kind == "waves":
        u = np.abs(np.arange(w) / (w - 1) - 0.5)  # 0 at the middle of the bus, 0.5 at its ends
        v = 1.0 - (np.arange(h)[:, None] + 0.5) / h
        for band, rgb in enumerate((colour, second, colour)[:int(rng.integers(2, 4))]):
            turns, low = rng.uniform(0.5, 1.5), rng.uniform(0.1, 0.16)
            centre = low + 0.08 * band + rng.uniform(0.04, 0.1) * (0.5 - 0.5 * np.cos(2 * np.pi * turns * u))
            thick = rng.uniform(0.05, 0.1) * (1.0 + rng.uniform(-0.5, 0.5) * np.cos(np.pi * u))
            centre = np.minimum(centre, WINDOW_LINE - 0.5 * thick)  # under the windows (which would hide it)
            img[np.abs(v - centre) < 0.5 * thick] = (*rgb, 255)
        return kind
    img[int((1 - top) * h):int(0.9 * h)] = (*colour, 255)
    img[int((1 - top - 0.05) * h):int((1 - top - 0.025) * h)] = (*second, 255)
    if kind == "advert":  # over the band, between the axles: a bright field, a brand's name and its emblem
        x0, x1 = int(rng.uniform(0.25, 0.35) * w), int(rng.uniform(0.65, 0.75) * w)
        y0, y1 = int((1 - top + 0.01) * h), int(0.88 * h)
        field_rgb = np.asarray(LIVERY_COLOURS[int(rng.integers(len(LIVERY_COLOURS)))]) * 255
        ink = (20, 20, 22) if field_rgb.mean() > 128 else (245, 245, 240)
        img[y0:y1, x0:x1] = (*(int(c) for c in field_rgb), 255)
        text = "".join(rng.choice(list(_ALNUM[:24]), int(rng.integers(3, 7))))
        scale = 0.035 * (y1 - y0)
        cv2.putText(img, text, (x0 + int(0.3 * (x1 - x0)), y1 - int(0.25 * (y1 - y0))), cv2.FONT_HERSHEY_DUPLEX,
                    scale, (*ink, 255), max(1, int(2.5 * scale)), cv2.LINE_AA)
        cv2.circle(img, (x0 + int(0.15 * (x1 - x0)), (y0 + y1) // 2), int(0.3 * (y1 - y0)), (*second, 255), -1,
                   cv2.LINE_AA)
    return kind


def side_texture(look: IdentityLook, shape=SIDE_TEXTURE) -> np.ndarray:
    """Livery, logo and scratches on the body sides as straight-alpha sRGB RGBA uint8: u runs along the
    vehicle from the viewer's left to right, v up its height (row 0 = roof)."""
    h, w = shape
    img = np.zeros((h, w, 4), np.uint8)
    rng = np.random.default_rng(look.marks_seed + 2)
    colour = tuple(int(c * 255) for c in look.livery_rgb)
    if look.livery == "stripe":
        z = rng.uniform(0.3, 0.5)
        t = rng.uniform(0.03, 0.08)
        img[int((1 - z - t) * h):int((1 - z) * h), :, :3] = colour
        img[int((1 - z - t) * h):int((1 - z) * h), :, 3] = 255
    elif look.livery == "taxi":  # a band of a second colour below the windows, the taxi's number on the door
        img[int(0.45 * h):int(0.62 * h), int(0.12 * w):int(0.88 * w)] = (*colour, 255)
        cv2.putText(img, "".join(rng.choice(list(_DIGITS), 4)), (int(0.42 * w), int(0.58 * h)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (250, 250, 250, 255), 2, cv2.LINE_AA)
    elif look.livery == "bus":
        bus_livery(img, colour, rng)
    elif look.livery == "logo":  # a company name and a block on the sides of a van or truck
        x0 = int(rng.uniform(0.2, 0.4) * w)
        y = int(rng.uniform(0.35, 0.55) * h)
        text = "".join(rng.choice(list(_ALNUM[:24]), int(rng.integers(3, 8))))
        cv2.rectangle(img, (x0 - 10, y - 30), (x0 - 10 + 30, y + 5), (*colour, 255), -1)
        cv2.putText(img, text, (x0 + 30, y), cv2.FONT_HERSHEY_DUPLEX, 1.0, (*colour, 255), 3, cv2.LINE_AA)
    if look.dents > 0:  # scratches: thin bright lines through the paint
        for _ in range(int(rng.integers(1, 7))):
            x, y = rng.uniform(0.1, 0.9) * w, rng.uniform(0.4, 0.8) * h
            a, length = rng.uniform(-0.3, 0.3), rng.uniform(0.03, 0.12) * w
            end = (int(x + length * np.cos(a)), int(y + length * np.sin(a)))
            cv2.line(img, (int(x), int(y)), end, (200, 200, 195, int(255 * look.dents)), 1, cv2.LINE_AA)
    return img
