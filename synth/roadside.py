"""Faces of the road signs that stand between traffic cameras and vehicles, drawn as images (pure numpy/cv2).

A flat-coloured panel reads as a box; real signs have a border, a field and a symbol or lines of text. The
Blender backend maps one of these images over each sign panel (synth/blender/scene_backend.py).
"""
from __future__ import annotations

import cv2
import numpy as np

# (field, border, symbol) sRGB 0-255: direction sign, information sign, warning sign, prohibition sign,
# motorway sign
SIGN_STYLES = (
    ((20, 110, 50), (245, 245, 245), (245, 245, 245)),
    ((20, 60, 160), (245, 245, 245), (245, 245, 245)),
    ((245, 200, 20), (20, 20, 20), (20, 20, 20)),
    ((245, 245, 245), (200, 20, 20), (20, 20, 20)),
    ((30, 80, 170), (245, 245, 245), (245, 245, 245)),
)


def sign_face(style: int, seed: int, size: int = 128) -> np.ndarray:
    """(size, size, 3) uint8 sRGB picture of a sign face: row 0 is the panel's top, column 0 its left edge."""
    field, border, ink = SIGN_STYLES[style % len(SIGN_STYLES)]
    rng = np.random.default_rng(seed)
    img = np.empty((size, size, 3), np.uint8)
    img[:] = border
    b = max(size // 14, 2)
    cv2.rectangle(img, (b, b), (size - 1 - b, size - 1 - b), field, -1)
    if style % len(SIGN_STYLES) in (0, 4):  # lines of destination text and an arrow
        lines = int(rng.integers(1, 4))
        for i in range(lines):
            y = int(size * (0.22 + 0.22 * i))
            x1 = int(size * rng.uniform(0.55, 0.85))
            for x in range(int(size * 0.14), x1, max(size // 16, 3)):  # letters: short bars with gaps
                h = int(size * rng.uniform(0.07, 0.11))
                cv2.rectangle(img, (x, y), (x + max(size // 24, 2), y + h), ink, -1)
        tip = (int(size * 0.86), int(size * 0.75))
        cv2.arrowedLine(img, (int(size * 0.5), tip[1]), tip, ink, max(size // 20, 2), tipLength=0.4)
    elif style % len(SIGN_STYLES) == 1:  # a pictogram: a white square with a symbol
        c = size // 2
        cv2.rectangle(img, (c - size // 5, c - size // 5), (c + size // 5, c + size // 5), ink, -1)
        cv2.circle(img, (c, c), size // 9, field, -1)
    elif style % len(SIGN_STYLES) == 2:  # an exclamation mark
        c = size // 2
        cv2.rectangle(img, (c - size // 20, int(size * 0.22)), (c + size // 20, int(size * 0.62)), ink, -1)
        cv2.circle(img, (c, int(size * 0.76)), size // 15, ink, -1)
    else:  # a red ring with a number
        c = size // 2
        cv2.circle(img, (c, c), int(size * 0.42), border, max(size // 10, 3))
        text = str(int(rng.choice([30, 40, 50, 60, 80])))
        scale = size / 60
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(size // 30, 1))
        cv2.putText(img, text, (c - w // 2, c + h // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, max(size // 30, 1),
                    cv2.LINE_AA)
    return img
