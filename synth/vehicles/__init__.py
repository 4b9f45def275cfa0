"""Vehicle models: parameter spaces, keypoints and meshes from the same numbers (pure), and the model library.

No bpy here; the Blender side is synth/blender/vehicles.py.
"""
from synth.vehicles.library import (
    AssetError,
    VehicleAsset,
    load_asset,
    load_library,
    mirror_error,
    write_sidecar,
)
from synth.vehicles.params import (
    DEFAULT_SEED,
    TYPE_SPACES,
    VEHICLE_TYPES,
    ModelSpec,
    VehicleParams,
    library_plan,
    sample_params,
)

__all__ = [
    "AssetError", "VehicleAsset", "load_asset", "load_library", "mirror_error", "write_sidecar", "DEFAULT_SEED",
    "TYPE_SPACES", "VEHICLE_TYPES", "ModelSpec", "VehicleParams", "library_plan", "sample_params",
]
