"""The vehicle model library on disk: one folder per model, a mesh plus a human-readable `vehicle.yaml`.

Layout and fields are documented in docs/ASSETS.md (the contract shared with the renderer lives in
notes/asset_contract.md). This module is pure Python: it reads and validates sidecars; the checks that need the
mesh (keypoints on the surface) live on the Blender side, `synth.blender.vehicles.check_asset_surface`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from synth.vocabulary import COLOR_IDS, COLOR_NAMES, FLIP_INDEX, KEYPOINT_NAMES, NUM_KEYPOINTS, TYPE_IDS, TYPE_NAMES

SCHEMA_VERSION = 1
SIDECAR_NAME = "vehicle.yaml"
MESH_SUFFIXES = (".blend", ".glb", ".gltf", ".obj", ".fbx")
PAINTABLE_COLORS = tuple(COLOR_NAMES[1:])


class AssetError(ValueError):
    """A vehicle model breaks the asset contract. The message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class VehicleAsset:
    name: str
    type_id: int  # VeRi type id (1-based)
    keypoints: np.ndarray  # (36, 3) float64, metres, vehicle frame (x forward, y left, z up)
    mesh_path: Path
    paint_material: str | list[str]
    colors: tuple[int, ...]  # VeRi colour ids this model may take; exactly one when fixed_color
    fixed_color: bool
    dimensions: dict
    provenance: dict
    folder: Path
    extra: dict = field(default_factory=dict)  # any further sidecar fields, kept for round trips

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.type_id]

    @property
    def paint_materials(self) -> list[str]:
        return [self.paint_material] if isinstance(self.paint_material, str) else list(self.paint_material)


# --- reading -----------------------------------------------------------------------------------------------


def _require(data: dict, key: str, path: Path):
    if key not in data:
        raise AssetError(path, f"missing field '{key}'")
    return data[key]


def _parse_keypoints(value, path: Path) -> np.ndarray:
    try:
        kps = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssetError(path, "keypoints must be a list of 36 [x, y, z] numbers") from None
    if kps.ndim != 2 or kps.shape[1] != 3:
        raise AssetError(path, f"keypoints must be 36 x [x, y, z], got shape {kps.shape}")
    if kps.shape[0] != NUM_KEYPOINTS:
        raise AssetError(path, f"expected {NUM_KEYPOINTS} keypoints, got {kps.shape[0]}")
    if not np.all(np.isfinite(kps)):
        bad = sorted(set(np.nonzero(~np.isfinite(kps))[0].tolist()))
        raise AssetError(path, f"keypoints {bad} are not finite numbers")
    left, right = kps[:18, 1], kps[18:, 1]
    if np.median(left) <= np.median(right):
        raise AssetError(path, "keypoints 0-17 must lie on the vehicle's left (+y) and 18-35 on its right "
                               "(docs/ASSETS.md); these are the other way round or not separated")
    return kps


def _parse_colour_policy(value, path: Path) -> tuple[tuple[int, ...], bool]:
    if not isinstance(value, dict) or "mode" not in value:
        raise AssetError(path, "colour_policy must be {mode: paintable, colors: [...]} or {mode: fixed, color: ...}")
    mode = value["mode"]
    if mode == "fixed":
        name = value.get("color")
        if name not in COLOR_IDS or name == "unknown":
            raise AssetError(path, f"colour_policy.color {name!r} is not a VeRi colour {PAINTABLE_COLORS}")
        return (COLOR_IDS[name],), True
    if mode == "paintable":
        names = value.get("colors", list(PAINTABLE_COLORS))
        if not isinstance(names, list) or not names:
            raise AssetError(path, "colour_policy.colors must be a non-empty list of colour names")
        bad = [n for n in names if n not in COLOR_IDS or n == "unknown"]
        if bad:
            raise AssetError(path, f"colour_policy.colors has unknown colour(s) {bad}; known: {PAINTABLE_COLORS}")
        return tuple(COLOR_IDS[n] for n in names), False
    raise AssetError(path, f"colour_policy.mode must be 'paintable' or 'fixed', got {mode!r}")


def load_asset(folder: str | Path) -> VehicleAsset:
    """Read and validate one model folder's sidecar. Raises AssetError naming the file on any problem."""
    folder = Path(folder)
    path = folder / SIDECAR_NAME
    if not path.is_file():
        raise AssetError(path, f"missing sidecar: every model folder needs a {SIDECAR_NAME} (see docs/ASSETS.md)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AssetError(path, f"malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise AssetError(path, "expected a mapping at the top level")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise AssetError(path, f"schema_version {version} is not supported (this toolkit reads {SCHEMA_VERSION})")
    type_name = _require(data, "type", path)
    if type_name not in TYPE_IDS or type_name == "unknown":
        raise AssetError(path, f"type {type_name!r} is not a VeRi type {TYPE_NAMES[1:]}")
    mesh_name = _require(data, "mesh", path)
    mesh_path = folder / str(mesh_name)
    if mesh_path.suffix.lower() not in MESH_SUFFIXES:
        raise AssetError(path, f"mesh {mesh_name!r} must be one of {MESH_SUFFIXES}")
    if not mesh_path.is_file():
        raise AssetError(path, f"mesh file {mesh_path} does not exist")
    keypoints = _parse_keypoints(_require(data, "keypoints", path), path)
    colors, fixed = _parse_colour_policy(_require(data, "colour_policy", path), path)
    paint = data.get("paint_material", [])
    if not isinstance(paint, (str, list)):
        raise AssetError(path, "paint_material must be a material name or a list of names")
    name = data.get("name", folder.name)
    if name != folder.name:
        raise AssetError(path, f"name {name!r} must equal the folder name {folder.name!r}")
    dims = data.get("dimensions") or _dimensions_from_keypoints(keypoints)
    known = {"name", "type", "mesh", "keypoints", "paint_material", "colour_policy", "dimensions", "provenance",
             "schema_version"}
    return VehicleAsset(
        name=name, type_id=TYPE_IDS[type_name], keypoints=keypoints, mesh_path=mesh_path, paint_material=paint,
        colors=colors, fixed_color=fixed, dimensions=dict(dims), provenance=dict(data.get("provenance") or {}),
        folder=folder, extra={k: v for k, v in data.items() if k not in known},
    )


def load_library(models_dir: str | Path | list | tuple = "assets") -> list[VehicleAsset]:
    """Every model folder under `models_dir` (folders holding a vehicle.yaml or a mesh), sorted by name; a list
    of directories is one library (e.g. the shipped one and a user's imported models): names must not repeat."""
    if isinstance(models_dir, (list, tuple)):
        assets = sorted((a for d in models_dir for a in load_library(d)), key=lambda a: a.name)
        for a, b in zip(assets, assets[1:]):
            if a.name == b.name:
                raise AssetError(b.folder, f"model name {a.name!r} is also in {a.folder.parent}: rename one "
                                           "folder (model names identify the vehicles)")
        return assets
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise AssetError(models_dir, "models directory does not exist")
    assets = []
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        has_mesh = any(f.suffix.lower() in MESH_SUFFIXES for f in folder.iterdir())
        if (folder / SIDECAR_NAME).exists() or has_mesh:
            assets.append(load_asset(folder))
    if not assets:
        raise AssetError(models_dir, f"no vehicle models found (expected one folder per model with {SIDECAR_NAME})")
    return assets


def _dimensions_from_keypoints(kps: np.ndarray) -> dict:
    span = kps.max(0) - kps.min(0)
    return {"length": float(span[0]), "width": float(span[1]), "height": float(kps[:, 2].max())}


# --- writing -----------------------------------------------------------------------------------------------


def _round(values, ndigits=4):
    return [[round(float(v), ndigits) for v in row] for row in np.asarray(values)]


def write_sidecar(folder: str | Path, *, type_name: str, mesh: str, keypoints: np.ndarray,
                  paint_material: str | list[str], colour_policy: dict, dimensions: dict, provenance: dict) -> Path:
    """Write vehicle.yaml atomically, keypoints one per line with their names as comments-free flow lists."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "name": folder.name,
        "type": type_name,
        "mesh": mesh,
        "paint_material": paint_material,
        "colour_policy": colour_policy,
        "dimensions": {k: round(float(v), 4) for k, v in dimensions.items()},
        "provenance": provenance,
    }
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    lines = ["keypoints:  # 36 x [x, y, z] metres; x forward, y left, z up (docs/ASSETS.md)"]
    for name, row in zip(KEYPOINT_NAMES, _round(keypoints)):
        lines.append(f"- [{row[0]}, {row[1]}, {row[2]}]  # {name}")
    path = folder / SIDECAR_NAME
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    tmp.write_text(text + "\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def mirror_error(keypoints: np.ndarray) -> float:
    """Largest distance between a keypoint and the mirror image (y -> -y) of its left/right partner, metres."""
    kps = np.asarray(keypoints, dtype=np.float64)
    mirrored = kps[FLIP_INDEX] * np.array([1.0, -1.0, 1.0])
    return float(np.abs(kps - mirrored).max())


# Window bottom corners (rear window 12 / 30, windshield 15 / 33) and the sill-line arch ends (2, 5, 6, 9 and
# their right-side twins): the keypoints that bound the body below the glass.
_WINDOW_BOTTOMS = [12, 15, 30, 33]
_WINDSHIELD_BOTTOMS = [15, 33]
_SILL_POINTS = [2, 5, 6, 9, 20, 23, 24, 27]


def lower_cabin_box(keypoints: np.ndarray, side_margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(min corner, max corner), in the vehicle frame, of what fills the body below the glass for anyone looking
    in through a window: dashboard, seats, floor and the closed boot behind them. From the tail to the base of
    the windshield, from the sill line up to the lowest window corner (the dashboard's top at the windshield's
    base on most bodies), inside the window line less
    `side_margin` of its half width (so the far side's window corners stay in view). It comes from the keypoints
    alone, so it holds for a hollow model (a shell with nothing inside) as for a furnished one."""
    kps = np.asarray(keypoints, dtype=np.float64)
    corners = kps[_WINDOW_BOTTOMS]
    half = (1.0 - side_margin) * float(np.abs(corners[:, 1]).min())
    lo = np.array([float(kps[:, 0].min()), -half, float(kps[_SILL_POINTS, 2].min())])
    hi = np.array([float(kps[_WINDSHIELD_BOTTOMS, 0].min()), half, float(corners[:, 2].min())])
    return lo, hi
