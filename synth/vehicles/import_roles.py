"""Material roles of an imported model (`cli.py assets import`): paint, glass, tyre, rim, lamp, trim, interior,
plate, from the material names first, then shader values (transmission/alpha -> glass, emission -> lamp), then
where the material sits (an unnamed material on the wheels: a tyre when dark, a rim otherwise). Without a
paint-named material, the largest body material that is not a dark trim is the paint. Pure numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
import re

import numpy as np

ROLES = ("paint", "glass", "tyre", "rim", "lamp", "trim", "interior", "plate")
# name keywords per role, tried in this order (the first match wins)
ROLE_KEYWORDS = (
    ("interior", ("interior", "seat", "dashboard", "cabin", "steering", "inside", "leather", "carpet", "upholster",
                  "fabric", "headliner",
                  # the people in the cabin, see-through for the labels as the procedural models' are (a driver
                  # taken for trim hid the keypoints behind him); not "driver" or "passenger" ("DriverDoor"), not
                  # "skin" ("Car_Skin" is a livery)
                  "clothes", "clothing", "=hair", "mannequin", "=human", "=person", "=people")),
    ("trim", ("seal", "gasket", "weatherstrip")),  # a window's rubber seal is no glass
    ("rim", ("caliper", "clipper", "brakedisc", "brake_disc", "rotor")),  # brake parts sit in the wheels
    ("lamp", ("headlightglass", "headlight_glass", "lightglass", "light_glass", "lampglass", "lamp_glass",
              "lens")),  # a lamp's clear cover is part of the lamp, not a window
    ("glass", ("glass", "window", "windshield", "windscreen", "transparent")),
    ("tyre", ("tyre", "tire", "rubber")),
    ("rim", ("=rim", "=rims", "hubcap", "alloy", "spoke", "wheel")),
    ("lamp", ("headl", "taill", "lamp", "light", "indicator", "brake", "blinker", "reflector", "lens")),
    ("plate", ("plate", "licen", "number")),
    ("paint", ("paint", "body", "exterior", "colour", "color", "shell")),
    ("trim", ("trim", "chrome", "black", "plastic", "grille", "grill", "mirror", "bumper", "metal", "frame")),
)


@dataclass
class MaterialInfo:
    name: str
    base_color: tuple = (0.8, 0.8, 0.8)  # linear RGB (a texture's mean when one drives it)
    metallic: float = 0.0
    roughness: float = 0.5
    transmission: float = 0.0
    alpha: float = 1.0
    emission: float = 0.0
    has_texture: bool = False
    see_through: bool = False  # pamtri_see_through already set


def role_from_material(info: MaterialInfo) -> tuple[str | None, str]:
    """(role, reason) from the name first, then shader values; None where neither says."""
    name = info.name.lower()
    tokens = set(re.split(r"[^a-z]+", name))
    for role, words in ROLE_KEYWORDS:
        if any((w[1:] in tokens) if w.startswith("=") else (w in name) for w in words):
            return role, f"name ({name})"
    if info.see_through or info.transmission > 0.3 or info.alpha < 0.7:
        return "glass", "transmission/alpha"
    if info.emission > 0.5:
        return "lamp", "emission"
    return None, ""


def _luminance(rgb) -> float:
    r, g, b = rgb[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def assign_roles(materials: list[MaterialInfo], tri_material: np.ndarray, areas: np.ndarray,
                 wheel_tri: np.ndarray) -> tuple[dict, list, list]:
    """Role per material; the paint materials; notes. Unnamed materials: on the wheels dark -> tyre, else rim;
    the body material covering the most outer area that is not dark/grey trim becomes paint."""
    roles, notes = {}, []
    mat = np.maximum(np.asarray(tri_material), 0)
    area_by_mat = np.bincount(mat, weights=areas, minlength=len(materials))
    wheel_area = np.bincount(mat, weights=areas * wheel_tri, minlength=len(materials))
    for i, info in enumerate(materials):
        role, why = role_from_material(info)
        on_wheels = area_by_mat[i] > 0 and wheel_area[i] > 0.5 * area_by_mat[i]
        if role is None and on_wheels:
            role, why = ("tyre" if _luminance(info.base_color) < 0.05 else "rim"), "on the wheels"
        if role is not None:
            roles[info.name] = role
            notes.append(f"material {info.name}: {role} ({why})")
    paint = [m.name for m in materials if roles.get(m.name) == "paint"]
    if not paint:
        unassigned = [i for i, m in enumerate(materials) if m.name not in roles and area_by_mat[i] > 0]
        if unassigned:
            # the body's colour: the largest material that is not a dark or grey trim (an atlas is the largest)
            def score(i):
                m = materials[i]
                trimlike = _luminance(m.base_color) < 0.03 and not m.has_texture
                return area_by_mat[i] * (0.2 if trimlike else 1.0)

            best = max(unassigned, key=score)
            paint = [materials[best].name]
            roles[paint[0]] = "paint"
            notes.append(f"material {paint[0]}: paint (largest body material)")
    for m in materials:
        roles.setdefault(m.name, "trim")
    return roles, paint, notes


def lamp_kind_by_name(info: MaterialInfo) -> str | None:
    """'head' or 'tail' from a lamp material's name; None."""
    name = info.name.lower()
    if any(w in name for w in ("tail", "rear", "brake", "stop")):
        return "tail"
    if any(w in name for w in ("head", "front")):
        return "head"
    return None


def lamp_kind(info: MaterialInfo) -> str | None:
    """'head' or 'tail' from a lamp material's name or colour (white head lamps, red tail lamps); None."""
    named = lamp_kind_by_name(info)
    if named:
        return named
    r, g, b = info.base_color[:3]
    if r > 0.2 and r > 2.5 * max(g, b):
        return "tail"
    if min(r, g, b) > 0.5:
        return "head"
    return None
