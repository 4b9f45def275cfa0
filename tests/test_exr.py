"""synth/exr.py against OpenEXR files written by another writer (OpenCV's, in a subprocess: its EXR codec is
enabled by an environment variable read once per process)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from synth.exr import read_exr_layers

WRITE = """
import sys, cv2, numpy as np
image = np.load(sys.argv[1])
kind = cv2.IMWRITE_EXR_TYPE_HALF if image.dtype == np.float16 else cv2.IMWRITE_EXR_TYPE_FLOAT
ok = cv2.imwrite(sys.argv[2], image.astype(np.float32), [cv2.IMWRITE_EXR_COMPRESSION, cv2.IMWRITE_EXR_COMPRESSION_NO,
                                                      cv2.IMWRITE_EXR_TYPE, kind])
sys.exit(0 if ok else 3)
"""


def _write_with_opencv(tmp_path, image: np.ndarray):
    src, out = tmp_path / "image.npy", tmp_path / "image.exr"
    np.save(src, image)
    env = {"OPENCV_IO_ENABLE_OPENEXR": "1", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", WRITE, str(src), str(out)], env=env, capture_output=True)
    if done.returncode == 3 or b"OpenEXR" in done.stderr and done.returncode:
        pytest.skip("this OpenCV build writes no OpenEXR")
    assert done.returncode == 0, done.stderr.decode()
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_reads_what_another_writer_wrote(tmp_path, dtype):
    rng = np.random.default_rng(3)
    bgra = (rng.random((9, 13, 4)) * 4 - 1).astype(dtype)  # odd sizes, values beyond [0, 1]
    layers = read_exr_layers(_write_with_opencv(tmp_path, bgra))
    assert list(layers) == [""]  # a plain single-part file: one layer without a name
    image = layers[""]
    assert image.shape == (9, 13, 4) and image.dtype == np.float32
    # channels come back in R, G, B, A order, whatever order the file stores them in
    np.testing.assert_array_equal(image, bgra[..., [2, 1, 0, 3]].astype(np.float32))


def test_a_file_that_is_not_openexr_is_named(tmp_path):
    bad = tmp_path / "render.exr"
    bad.write_bytes(b"\\x89PNG not an exr")
    with pytest.raises(RuntimeError, match="render.exr: not an OpenEXR file"):
        read_exr_layers(bad)
