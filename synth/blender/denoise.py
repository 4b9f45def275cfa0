"""OpenImageDenoise called directly (ctypes) on Cycles' noisy render and its albedo and normal passes.

Why not Cycles' own denoiser: for these small images it spends most of its time in per-image set-up (about
140 ms of CPU per image, against ~40 ms for the same filter kept alive here); a worker keeps one OIDN device
and one filter, so each image only runs the network. The library is the one the bpy wheel
ships (no extra dependency). Plain numpy + ctypes: no bpy import.
"""
from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

_DEVICE_CPU = 1
_FORMAT_FLOAT3 = 3
QUALITY = {"fast": 4, "balanced": 5, "high": 6}  # OIDN_QUALITY_*


def find_library() -> Path | None:
    """libOpenImageDenoise from the bpy wheel (bpy/lib), or None."""
    spec = importlib.util.find_spec("bpy")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for root in roots:
        hits = [h for pattern in ("libOpenImageDenoise.so*", "OpenImageDenoise*.dll", "libOpenImageDenoise*.dylib")
                for h in sorted((root / "lib").glob(pattern))]
        hits = [h for h in hits if "device" not in h.name and "core" not in h.name]
        if hits:
            return hits[0]
    return None


def _bind(path: Path):
    lib = ctypes.CDLL(str(path))
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    sigs = {
        "oidnNewDevice": ([ctypes.c_int], vp),
        "oidnSetDeviceInt": ([vp, cp, ctypes.c_int], None),
        "oidnCommitDevice": ([vp], None),
        "oidnGetDeviceError": ([vp, ctypes.POINTER(cp)], ctypes.c_int),
        "oidnNewFilter": ([vp, cp], vp),
        "oidnSetSharedFilterImage": ([vp, cp, vp, ctypes.c_int] + [ctypes.c_size_t] * 5, None),
        "oidnSetFilterBool": ([vp, cp, ctypes.c_bool], None),
        "oidnSetFilterInt": ([vp, cp, ctypes.c_int], None),
        "oidnCommitFilter": ([vp], None),
        "oidnExecuteFilter": ([vp], None),
        "oidnReleaseFilter": ([vp], None),
        "oidnReleaseDevice": ([vp], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


class Denoiser:
    """One OIDN CPU device and one "RT" filter (colour + albedo + normal, HDR), kept for the worker's life."""

    def __init__(self, quality: str = "fast", threads: int = 1, library: Path | None = None):
        path = library or find_library()
        if path is None:
            raise RuntimeError("OpenImageDenoise library not found in the bpy package")
        if quality not in QUALITY:
            raise ValueError(f"denoise quality must be one of {sorted(QUALITY)}, got {quality!r}")
        self.lib = _bind(path)
        self.quality = QUALITY[quality]
        self.device = self.lib.oidnNewDevice(_DEVICE_CPU)
        if threads:
            self.lib.oidnSetDeviceInt(self.device, b"numThreads", int(threads))
        self.lib.oidnCommitDevice(self.device)
        self._check()
        self._handle, self._shape, self._buffers = None, None, {}

    def _check(self) -> None:
        message = ctypes.c_char_p()
        if self.lib.oidnGetDeviceError(self.device, ctypes.byref(message)):
            raise RuntimeError(f"OpenImageDenoise: {(message.value or b'error').decode()}")

    def _filter(self, h: int, w: int):
        """The filter, with buffers of shape (h, w) shared with it (re-committing for a new shape is cheap)."""
        if self._shape != (h, w):
            if self._handle is None:
                self._handle = self.lib.oidnNewFilter(self.device, b"RT")
                self.lib.oidnSetFilterBool(self._handle, b"hdr", True)
                self.lib.oidnSetFilterInt(self._handle, b"quality", self.quality)
            self._buffers = {name: np.zeros((h, w, 3), np.float32) for name in ("color", "albedo", "normal", "output")}
            for name, buf in self._buffers.items():
                self.lib.oidnSetSharedFilterImage(self._handle, name.encode(), buf.ctypes.data, _FORMAT_FLOAT3,
                                                  w, h, 0, 0, 0)
            self.lib.oidnCommitFilter(self._handle)
            self._check()
            self._shape = (h, w)
        return self._handle, self._buffers

    def __call__(self, color: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """Denoised copy of `color` (H, W, 3 linear float) given the albedo and normal passes."""
        h, w = color.shape[:2]
        f, buffers = self._filter(h, w)
        buffers["color"][:] = color
        buffers["albedo"][:] = albedo
        buffers["normal"][:] = normal
        self.lib.oidnExecuteFilter(f)
        self._check()
        return buffers["output"].copy()

    def close(self) -> None:
        if self._handle is not None:
            self.lib.oidnReleaseFilter(self._handle)
            self._handle, self._shape = None, None
        if self.device:
            self.lib.oidnReleaseDevice(self.device)
            self.device = None


def denoise_alpha(alpha: np.ndarray, albedo: np.ndarray, normal: np.ndarray, denoiser) -> np.ndarray:
    """The render's alpha (coverage plus the shadow catcher's shadow), denoised with the colour's filter as
    the light the catcher lets through (1 - alpha). At 3 samples the shadow is as noisy as the colour (Cycles'
    own denoiser also denoises the catcher's passes). The filter's HDR transfer resolves small values finely:
    fed the alpha itself, a deep shade near alpha 1 kept its speckle (a few percent of light, far apart once
    composited in sRGB) and an opaque body's edges turned a few percent see-through; fed the transmission,
    both match a 128-sample render (bench/shadow_denoise.py)."""
    light = np.repeat(1.0 - alpha[..., None], 3, axis=-1).astype(np.float32)
    return np.clip(1.0 - denoiser(light, albedo, normal).mean(axis=-1), 0.0, 1.0)
