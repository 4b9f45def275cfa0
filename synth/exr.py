"""Reading the OpenEXR files Cycles writes for the worker's denoiser (synth/blender/render_backend.py):
uncompressed scanline images, single- or multi-part, as Blender writes its multilayer renders. Pure numpy.

Why a parser of our own: no maintained reader is installable from the project's package mirror (the OpenEXR
bindings are not on it, OpenImageIO is not packaged for pip here) and OpenCV reads only one layer of a
multi-part file; the files are our own temporary ones, written with codec NONE, so the subset is small.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

_EXR_TYPES = {0: np.uint32, 1: np.float16, 2: np.float32}


def read_exr_layers(path) -> dict[str, np.ndarray]:
    """Read an uncompressed scanline OpenEXR file (single- or multi-part, as Blender writes its multilayer
    renders) into {layer name: (H, W, C) float32}, channels in R, G, B, A / X, Y, Z order where present.
    Only what Blender writes with codec NONE is supported (enough for our own temporary files)."""
    data = Path(path).read_bytes()
    if len(data) < 8 or int.from_bytes(data[:4], "little") != 20000630:
        raise RuntimeError(f"{path}: not an OpenEXR file")
    flags = int.from_bytes(data[4:8], "little")
    multipart = bool(flags & 0x1000)
    pos, headers = 8, []
    while True:
        header = {}
        while data[pos] != 0:
            end = data.index(b"\0", pos)
            name = data[pos:end].decode()
            tend = data.index(b"\0", end + 1)
            size = int.from_bytes(data[tend + 1:tend + 5], "little")
            header[name] = (data[end + 1:tend].decode(), data[tend + 5:tend + 5 + size])
            pos = tend + 5 + size
        pos += 1
        headers.append(header)
        if not multipart or data[pos] == 0:
            pos += 1 if multipart else 0
            break
    parts = []
    for header in headers:
        if header.get("compression", ("", b"\0"))[1] != b"\0":
            raise RuntimeError(f"{path}: compressed EXR is not supported here")
        x0, y0, x1, y1 = np.frombuffer(header["dataWindow"][1], np.int32)
        w, h = int(x1 - x0 + 1), int(y1 - y0 + 1)
        channels, raw, i = [], header["channels"][1], 0
        while raw[i] != 0:
            end = raw.index(b"\0", i)
            channels.append((raw[i:end].decode(), int.from_bytes(raw[end + 1:end + 5], "little")))
            i = end + 17
        count = int.from_bytes(header["chunkCount"][1], "little") if "chunkCount" in header else h
        offsets = np.frombuffer(data, np.uint64, count, pos)
        pos += 8 * count
        parts.append((w, h, int(y0), channels, offsets))
    layers: dict[str, dict[str, np.ndarray]] = {}
    for w, h, y0, channels, offsets in parts:
        planes = {name: np.empty((h, w), np.float32) for name, _ in channels}
        for offset in offsets:
            at = int(offset) + (4 if multipart else 0)
            y = int.from_bytes(data[at:at + 4], "little", signed=True) - y0
            at += 8
            for name, kind in channels:
                dtype = _EXR_TYPES[kind]
                row = np.frombuffer(data, dtype, w, at)
                planes[name][y] = row
                at += w * np.dtype(dtype).itemsize
        for name, plane in planes.items():
            layer, _, channel = name.rpartition(".")
            layers.setdefault(layer, {})[channel] = plane
    order = "RGBAXYZ"
    return {layer: np.stack([chans[c] for c in sorted(chans, key=lambda c: order.find(c) if c in order else 99)],
                            axis=-1) for layer, chans in layers.items()}
