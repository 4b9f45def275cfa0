"""The importer's type guess (synth/vehicles/import_type.py): from the keypoints' proportions, the type whose
procedural vehicles make them likeliest. Checked on procedural vehicles it was not fitted to, with keypoint
noise of the size the importer's placement has (about 1 cm)."""
from __future__ import annotations

import numpy as np

from synth.vehicles import geometry, params
from synth.vehicles.import_type import guess_type


def test_type_guess_on_held_out_procedural_vehicles():
    rng = np.random.default_rng(20)
    right, total = 0, 0
    for t in params.VEHICLE_TYPES:
        for _ in range(8):
            kps = geometry.keypoints(params.sample_params(t, rng))
            kps = kps + rng.normal(0, 0.01, kps.shape)
            guess, scores = guess_type(kps)
            assert guess == next(iter(scores)) and abs(sum(scores.values()) - 1) < 0.05
            right += guess == t
            total += 1
    assert right / total >= 0.95, f"{right}/{total}"


def test_the_unit_is_chosen_among_types_of_the_model_s_proportions():
    """A car whose file is 10 units long (its unit 0.49 m) is never taken in metres as a 10 m bus: with no unit
    giving a car's length it is scaled to one, and warned. A short bus, which its proportions leave close to a
    van, still gets its metres."""
    from synth.vehicles.import_type import choose_unit, coarse_candidates, coarse_type

    car = (10.0, 4.3, 2.83, 0.68, 6.2)  # length, width, height, wheel radius, wheelbase (file units)
    candidates = coarse_candidates(*car)
    assert "bus" not in candidates and "sedan" in candidates
    unit, scale, guessed = choose_unit(10.0, coarse_type(*car), None, candidates)
    assert guessed and 4.0 < 10.0 * scale < 5.5, (unit, scale)
    assert choose_unit(10.0, coarse_type(*car), None)[:2] == ("m", 1.0)  # any type: the bus's metres
    bus = (7.5, 2.3, 2.9, 0.45, 3.9)
    assert "bus" in coarse_candidates(*bus)
    assert choose_unit(7.5, coarse_type(*bus), None, coarse_candidates(*bus))[:2] == ("m", 1.0)


def test_the_shipped_models_are_within_the_types_reach():
    """The warning that a model's proportions are unlike every type's stays quiet on the library itself."""
    from pathlib import Path

    from synth.vehicles.import_type import TYPE_OUTLIER, type_distance
    from synth.vehicles.library import load_library

    distances = [type_distance(a.keypoints) for a in load_library(Path(__file__).resolve().parents[1] / "assets")]
    assert max(distances) < 0.6 * TYPE_OUTLIER, max(distances)
