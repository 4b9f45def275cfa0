"""The street of buildings behind a procedural road (synth/facades.py): buildings that differ, a skyline, windows
that differ pane to pane up close and average out far away."""
from __future__ import annotations

import numpy as np

from synth.backgrounds import procedural_background
from synth.camera import NOMINAL_FOCAL, crop_intrinsics, intrinsics, look_at, spherical_position
from synth.facades import facade_colour, street_side


def test_a_street_is_a_row_of_different_buildings():
    side = street_side(7)
    edges = side["edges"]
    assert edges[0] <= -500 and edges[-1] >= 500 and np.all(np.diff(edges) >= 8.0)
    assert len(np.unique(side["height"].round(1))) > len(edges) // 2  # heights differ building to building
    assert len({tuple(c) for c in side["colour"].round(2)}) > 5
    assert street_side(7) is side and street_side(8)["height"][0] != side["height"][0]


def test_the_sky_shows_over_a_roof_and_windows_differ_up_close():
    side = street_side(3)
    b = 20
    u = np.linspace(side["edges"][b] + 0.5, side["edges"][b + 1] - 0.5, 400)
    top = side["height"][b]
    for z, want_above in ((top - 0.5, False), (top + 0.5, True)):
        n = len(u)
        colour, above = facade_colour(side, u, np.full(n, z), np.full(n, 0.01), np.full(n, 0.01), np.ones(n),
                                      np.array([0.5, 0.6, 0.8]))
        assert np.all(above == want_above) and colour.shape == (n, 3)
    # an upper storey seen close up: wall and panes alternate, and the panes are not all one colour
    z = np.full(len(u), 2.5 * side["storey"][b])  # mid-height of the third storey: a row of windows
    colour, _ = facade_colour(side, u, z, np.full(len(u), 0.005), np.full(len(u), 0.005), np.ones(len(u)),
                              np.array([0.5, 0.6, 0.8]))
    luma = colour.mean(axis=1)
    assert luma.max() - luma.min() > 0.2
    # far away (a footprint of many windows) a storey averages to one colour: no aliasing
    far, _ = facade_colour(side, u, z, np.full(len(u), 40.0), np.full(len(u), 10.0), np.ones(len(u)),
                           np.array([0.5, 0.6, 0.8]))
    assert far.mean(axis=1).std() < 0.25 * luma.std()


def test_a_low_camera_sees_a_skyline():
    """Looking along the street from near the ground, some columns of the upper image are sky over a roof and
    others facade: the buildings stop at different heights."""
    Rt = look_at(spherical_position(90.0, 3.0, 25.0), np.array([0.0, 0.0, 1.5]), 0.0)
    K = crop_intrinsics(intrinsics(NOMINAL_FOCAL, 0, 0), -900, -500, 1800, 192)
    sky = np.array([0.5, 0.6, 0.8])
    found = False
    for key in range(6):
        img = procedural_background(K, Rt, 192, 90.0, key, 1, sky)
        upper = img[:60]
        skyish = np.abs(upper - sky * 1.0).sum(-1) < 0.25
        cols = skyish.mean(axis=0)
        if (cols > 0.5).any() and (cols < 0.2).any():
            found = True
            break
    assert found
