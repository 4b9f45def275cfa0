"""Parameter spaces of the nine VeRi vehicle types and the seeded sampler.

Every range is a real-world dimension of its class (metres, degrees): track width, wheelbase, overhang, wheel
size, the heights of the sill, bumpers, hood, beltline, roof and deck, windshield and rear-window rake, roof and
deck length, the plan-view rounding of the nose and tail, the fender flares. Positions along the car are chained
from the front axle backwards (windshield base, windshield top, roof rear, rear-window base, deck end), so the
rear overhang and the overall length follow from the cabin. The ranges were tuned against the real VeRi keypoint
labels with bench/keypoint_fit.py (see docs/ASSETS.md). `sample_params(type, rng)` draws one vehicle;
`library_plan(seed)` names the models of a build. Pure Python/numpy.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, fields

import numpy as np

# Exponent of the superellipse that rounds the plan view at nose and tail (2 would be an ellipse). Bodies have
# flat sides and fronts with tight corners; VeRi's annotators see the bumper corners from the side and from the
# end alike, which an elliptical nose (corner faces half-way round) cannot reproduce (bench/realism.py).
PLAN_EXPONENT = 6.0


def corner_setback(end_round: float) -> float:
    """Distance of the lower corner keypoints (10, 17) from the tail / nose tip: the apex of the plan's rounded
    corner, where its outline is half-way between the side and the end."""
    return end_round * (1 - 2 ** (-1 / PLAN_EXPONENT))


# The curved plan of the car types (synth/vehicles/geometry.py, Profile.plan): the nose and the tail bow outward
# (`*_sag`: depth of the bumper's arc over the body's half width), their corners wrap round with a large plan radius
# (`*_radius`), and the sides curve out by `side_camber` at the middle (metres). Drawn after every other parameter
# and the style seed, so adding them left the rest of each model's draw unchanged. Buses and trucks keep the
# superellipse ends (0 = none).
PLAN_KEYS = ("nose_sag", "tail_sag", "nose_radius", "tail_radius", "side_camber")
_CAR_PLAN = dict(nose_sag=(0.07, 0.10), tail_sag=(0.05, 0.08), nose_radius=(0.22, 0.30), tail_radius=(0.20, 0.28),
                 side_camber=(0.015, 0.03))

# Parameters shared by the passenger-car types (each type overrides what differs).
_CAR = dict(
    tyre_width=(0.195, 0.235), arch_ratio=(1.20, 1.32), arch_angle=(42.0, 50.0),
    nose_setback=(0.05, 0.13), tail_setback=(0.0, 0.04), shoulder=(0.05, 0.07),
    glass_inset=(0.035, 0.05), tumble=(0.25, 0.36), roof_crown=(0.03, 0.06), hood_crown=(0.02, 0.045),
    end_round=(0.12, 0.18), end_inset=(0.08, 0.14), belt_rise=(0.0, 0.04), rear_pillar=(0.08, 0.14),
    arch_flare=(0.02, 0.045), **_CAR_PLAN,
)

TYPE_SPACES: dict[str, dict[str, tuple[float, float]]] = {
    "sedan": dict(_CAR, width=(1.74, 1.88), wheelbase=(2.65, 2.95), front_overhang=(0.84, 0.98),
                  wheel_radius=(0.31, 0.345), sill=(0.21, 0.25), nose_bottom=(0.22, 0.27), hood_front=(0.73, 0.80),
                  cowl=(0.97, 1.03), ws_back=(0.36, 0.50), ws_rake=(26.0, 30.0), roof_z=(1.36, 1.42),
                  roof_length=(1.38, 1.62), rw_rake=(21.0, 26.0), deck=(1.06, 1.13), deck_length=(0.36, 0.48),
                  tail_upper=(1.00, 1.07), tail_bottom=(0.28, 0.34)),
    "hatchback": dict(_CAR, width=(1.66, 1.80), wheelbase=(2.42, 2.65), front_overhang=(0.76, 0.88),
                      wheel_radius=(0.29, 0.315), sill=(0.20, 0.24), nose_bottom=(0.19, 0.24),
                      hood_front=(0.70, 0.77), cowl=(0.92, 0.98), ws_back=(0.38, 0.50), ws_rake=(25.0, 30.0),
                      roof_z=(1.26, 1.33), roof_length=(1.32, 1.52), rw_rake=(31.0, 40.0), deck=(0.96, 1.02),
                      deck_length=(0.24, 0.38), tail_upper=(0.89, 0.95), tail_bottom=(0.28, 0.33),
                      nose_setback=(0.10, 0.19), nose_sag=(0.07, 0.11), nose_radius=(0.24, 0.32),
                      tail_radius=(0.22, 0.30)),
    "estate": dict(_CAR, width=(1.76, 1.86), wheelbase=(2.70, 2.90), front_overhang=(0.84, 0.96),
                   wheel_radius=(0.31, 0.34), sill=(0.21, 0.25), nose_bottom=(0.22, 0.27), hood_front=(0.73, 0.80),
                   cowl=(0.97, 1.03), ws_back=(0.36, 0.50), ws_rake=(26.0, 30.0), roof_z=(1.38, 1.45),
                   roof_length=(1.75, 1.98), rw_rake=(44.0, 55.0), deck=(1.02, 1.08), deck_length=(0.10, 0.20),
                   tail_upper=(0.90, 0.97), tail_bottom=(0.29, 0.34)),
    "suv": dict(_CAR, width=(1.82, 1.96), wheelbase=(2.62, 2.90), front_overhang=(0.80, 0.92),
                wheel_radius=(0.355, 0.39), sill=(0.31, 0.38), nose_bottom=(0.35, 0.41), hood_front=(0.84, 0.91),
                cowl=(1.08, 1.15), ws_back=(0.35, 0.47), ws_rake=(30.0, 35.0), roof_z=(1.50, 1.60),
                roof_length=(1.80, 2.10), rw_rake=(46.0, 57.0), deck=(1.15, 1.23), deck_length=(0.05, 0.12),
                tail_upper=(0.86, 0.93), tail_bottom=(0.40, 0.46), arch_flare=(0.04, 0.07), nose_sag=(0.06, 0.09),
                tail_sag=(0.04, 0.07), nose_radius=(0.20, 0.28), tail_radius=(0.16, 0.24)),
    "mpv": dict(_CAR, width=(1.78, 1.92), wheelbase=(2.75, 3.05), front_overhang=(0.84, 0.96),
                wheel_radius=(0.31, 0.34), sill=(0.23, 0.28), nose_bottom=(0.24, 0.29), hood_front=(0.78, 0.85),
                cowl=(1.05, 1.11), ws_back=(0.28, 0.42), ws_rake=(28.0, 32.0), roof_z=(1.48, 1.58),
                roof_length=(1.80, 2.10), rw_rake=(42.0, 52.0), deck=(1.12, 1.18), deck_length=(0.08, 0.16),
                tail_upper=(0.84, 0.90), tail_bottom=(0.30, 0.35), nose_sag=(0.07, 0.11), nose_radius=(0.25, 0.34),
                tail_sag=(0.04, 0.07), tail_radius=(0.18, 0.26)),
    "van": dict(_CAR, width=(1.66, 1.98), wheelbase=(2.80, 3.40), front_overhang=(0.80, 0.95),
                wheel_radius=(0.31, 0.35), sill=(0.29, 0.36), nose_bottom=(0.33, 0.39), hood_front=(0.88, 0.97),
                cowl=(1.16, 1.26), ws_back=(0.0, 0.20), ws_rake=(36.0, 45.0), roof_z=(1.72, 2.05),
                roof_length=(2.70, 3.30), rw_rake=(68.0, 80.0), deck=(1.24, 1.34), deck_length=(0.0, 0.05),
                tail_upper=(0.86, 0.93), tail_bottom=(0.40, 0.46), tumble=(0.06, 0.14), nose_sag=(0.05, 0.09),
                nose_radius=(0.24, 0.34), tail_sag=(0.03, 0.05), tail_radius=(0.15, 0.20), side_camber=(0.008, 0.018)),
    "pickup": dict(_CAR, width=(1.78, 1.92), wheelbase=(3.00, 3.30), front_overhang=(0.88, 1.00),
                   wheel_radius=(0.37, 0.41), sill=(0.37, 0.43), nose_bottom=(0.42, 0.48), hood_front=(0.92, 1.00),
                   cowl=(1.16, 1.24), ws_back=(0.42, 0.58), ws_rake=(36.0, 42.0), roof_z=(1.65, 1.75),
                   roof_length=(1.45, 1.70), rw_rake=(62.0, 70.0), deck=(1.20, 1.26), deck_length=(1.30, 1.48),
                   tail_upper=(1.10, 1.16), tail_bottom=(0.48, 0.54), bed_depth=(0.42, 0.50),
                   arch_flare=(0.04, 0.07), nose_sag=(0.05, 0.08), nose_radius=(0.18, 0.26), tail_sag=(0.02, 0.04),
                   tail_radius=(0.14, 0.18), side_camber=(0.01, 0.02)),
    "bus": dict(_CAR, width=(2.35, 2.55), wheelbase=(4.0, 6.0), front_overhang=(1.8, 2.6), rear_overhang=(2.2, 3.4),
                wheel_radius=(0.46, 0.52), tyre_width=(0.26, 0.30), sill=(0.34, 0.44), nose_bottom=(0.30, 0.40),
                hood_front=(0.85, 1.00), cowl=(1.05, 1.25), ws_rake=(76.0, 86.0), roof_z=(2.85, 3.20),
                deck=(1.50, 1.85), rw_rake=(84.0, 89.0), tail_upper=(1.05, 1.25), tail_bottom=(0.32, 0.42),
                nose_setback=(0.0, 0.02),
                tail_setback=(0.0, 0.02), tumble=(0.02, 0.05), roof_crown=(0.04, 0.08), end_round=(0.18, 0.30),
                end_inset=(0.08, 0.15), arch_ratio=(1.15, 1.25), arch_flare=(0.0, 0.01)),
    "truck": dict(_CAR, width=(2.00, 2.45), wheelbase=(3.2, 4.8), front_overhang=(1.00, 1.30),
                  rear_overhang=(1.0, 2.2), wheel_radius=(0.40, 0.50), tyre_width=(0.22, 0.28), sill=(0.58, 0.72),
                  nose_bottom=(0.34, 0.44), hood_front=(0.95, 1.15), cowl=(1.25, 1.45), ws_rake=(74.0, 84.0),
                  roof_z=(2.10, 2.50), cab_length=(1.55, 1.90), box_floor=(1.00, 1.20), box_height=(2.40, 3.20),
                  deck=(1.0, 1.2), rw_rake=(88.0, 89.5), tail_upper=(1.00, 1.20), tail_bottom=(0.40, 0.52),
                  nose_setback=(0.0, 0.03),
                  tail_setback=(0.0, 0.01), tumble=(0.03, 0.06), end_round=(0.12, 0.2), end_inset=(0.06, 0.12),
                  arch_ratio=(1.12, 1.22), arch_flare=(0.01, 0.03)),
}
for _heavy in ("bus", "truck"):  # their ends stay superellipses
    for _k in PLAN_KEYS:
        TYPE_SPACES[_heavy].pop(_k)
VEHICLE_TYPES = tuple(TYPE_SPACES)

# Body styles: within a type, real vehicles come in families whose profiles differ by decimetres, not by a few
# centimetres (a fastback against a notchback, an off-roader against a coupe-SUV). Each style overrides some of
# its type's ranges; `sample_params` draws the style first, uniformly. The styles of buses and trucks are their
# bodies (synth/vehicles/trucks.py and buses.py build them: a truck's cargo body, a bus's doors, windows and bays).
BODY_STYLES: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "sedan": {
        "notchback": {},
        "fastback": dict(roof_length=(1.05, 1.20), rw_rake=(13.0, 16.0), deck=(1.07, 1.12), deck_length=(0.08, 0.16),
                         tail_upper=(0.98, 1.04)),
        "sporty": dict(width=(1.82, 1.90), roof_z=(1.25, 1.32), ws_rake=(22.0, 25.0), hood_front=(0.68, 0.74),
                       cowl=(0.92, 0.97), sill=(0.18, 0.21), nose_bottom=(0.18, 0.22), wheel_radius=(0.33, 0.35),
                       roof_length=(1.15, 1.35), rw_rake=(17.0, 21.0), deck=(1.00, 1.05), deck_length=(0.22, 0.34),
                       tail_upper=(0.96, 1.02), tumble=(0.36, 0.44), nose_sag=(0.09, 0.12), nose_radius=(0.28, 0.35),
                       tail_sag=(0.07, 0.10), tail_radius=(0.26, 0.33), side_camber=(0.025, 0.04)),
        "luxury": dict(width=(1.86, 1.95), wheelbase=(2.98, 3.20), front_overhang=(0.92, 1.02), roof_z=(1.42, 1.50),
                       roof_length=(1.62, 1.85), cowl=(1.00, 1.06), hood_front=(0.77, 0.83), deck=(1.10, 1.16),
                       deck_length=(0.46, 0.56), tail_upper=(1.04, 1.10), nose_sag=(0.05, 0.08),
                       nose_radius=(0.18, 0.24), tail_radius=(0.18, 0.24)),
    },
    "hatchback": {
        "five_door": {},
        "city": dict(width=(1.60, 1.70), wheelbase=(2.30, 2.45), front_overhang=(0.64, 0.74), wheel_radius=(0.27, 0.30),
                     roof_z=(1.38, 1.48), roof_length=(1.30, 1.45), rw_rake=(55.0, 66.0), deck_length=(0.06, 0.14),
                     ws_rake=(28.0, 33.0), tail_upper=(0.88, 0.95), nose_radius=(0.28, 0.35), tail_sag=(0.04, 0.06),
                     side_camber=(0.01, 0.02)),
        "hot_hatch": dict(width=(1.78, 1.84), roof_z=(1.19, 1.24), wheel_radius=(0.31, 0.33), sill=(0.17, 0.20),
                          nose_bottom=(0.16, 0.20), hood_front=(0.67, 0.72), ws_rake=(23.0, 26.0),
                          rw_rake=(22.0, 28.0), deck_length=(0.30, 0.40), arch_flare=(0.035, 0.055),
                          nose_sag=(0.09, 0.12), side_camber=(0.025, 0.035)),
        "tall": dict(roof_z=(1.45, 1.56), cowl=(0.98, 1.04), hood_front=(0.74, 0.80), roof_length=(1.45, 1.65),
                     rw_rake=(48.0, 58.0), deck=(1.00, 1.06), deck_length=(0.10, 0.20), ws_back=(0.20, 0.34)),
    },
    "estate": {
        "wagon": {},
        "shooting_brake": dict(roof_z=(1.33, 1.39), ws_rake=(23.0, 27.0), rw_rake=(32.0, 40.0),
                               roof_length=(1.55, 1.75), deck_length=(0.18, 0.28)),
        "long_roof": dict(wheelbase=(2.85, 3.00), roof_length=(2.00, 2.20), rw_rake=(62.0, 72.0),
                          deck_length=(0.04, 0.10), roof_z=(1.44, 1.50)),
        "raised": dict(sill=(0.28, 0.33), nose_bottom=(0.29, 0.34), wheel_radius=(0.33, 0.35), roof_z=(1.48, 1.55),
                       hood_front=(0.79, 0.85), cowl=(1.03, 1.08), deck=(1.08, 1.14), arch_flare=(0.04, 0.06),
                       tail_bottom=(0.35, 0.40)),
    },
    "suv": {
        "crossover": dict(roof_z=(1.46, 1.54), sill=(0.27, 0.32), nose_bottom=(0.30, 0.35), hood_front=(0.80, 0.86),
                          cowl=(1.04, 1.10), ws_rake=(27.0, 31.0), rw_rake=(38.0, 48.0), deck=(1.10, 1.16)),
        "off_roader": dict(roof_z=(1.72, 1.85), hood_front=(0.95, 1.03), cowl=(1.16, 1.24), ws_rake=(36.0, 42.0),
                           ws_back=(0.22, 0.34), sill=(0.38, 0.44), nose_bottom=(0.40, 0.46),
                           wheel_radius=(0.38, 0.41), roof_length=(2.10, 2.35), rw_rake=(72.0, 82.0),
                           deck=(1.22, 1.30), deck_length=(0.02, 0.06), end_round=(0.08, 0.12),
                           roof_crown=(0.015, 0.03), tumble=(0.10, 0.18), nose_sag=(0.03, 0.05), tail_sag=(0.02, 0.04),
                           nose_radius=(0.14, 0.20), tail_radius=(0.13, 0.18), side_camber=(0.008, 0.015)),
        "coupe": dict(roof_z=(1.50, 1.58), ws_rake=(26.0, 30.0), roof_length=(1.25, 1.45), rw_rake=(24.0, 30.0),
                      deck=(1.10, 1.16), deck_length=(0.18, 0.28), tail_upper=(0.95, 1.02), nose_sag=(0.08, 0.11),
                      tail_sag=(0.06, 0.09), tail_radius=(0.24, 0.32), side_camber=(0.02, 0.035)),
        "compact": dict(width=(1.76, 1.84), wheelbase=(2.50, 2.62), front_overhang=(0.74, 0.84),
                        wheel_radius=(0.33, 0.36), roof_z=(1.54, 1.64), roof_length=(1.65, 1.85), rw_rake=(52.0, 62.0)),
    },
    "mpv": {
        "people_carrier": {},
        "compact": dict(wheelbase=(2.60, 2.75), front_overhang=(0.78, 0.86), roof_z=(1.56, 1.66), ws_rake=(24.0, 27.0),
                        ws_back=(0.10, 0.22), roof_length=(1.60, 1.80), rw_rake=(55.0, 65.0)),
        "large": dict(width=(1.88, 1.98), wheelbase=(3.00, 3.20), roof_z=(1.72, 1.85), hood_front=(0.84, 0.92),
                      cowl=(1.10, 1.18), roof_length=(2.30, 2.60), rw_rake=(68.0, 78.0), deck=(1.16, 1.22),
                      deck_length=(0.02, 0.06), roof_crown=(0.02, 0.04), nose_sag=(0.05, 0.08), tail_sag=(0.03, 0.05),
                      tail_radius=(0.15, 0.22)),
        "sloped": dict(roof_z=(1.52, 1.60), ws_rake=(24.0, 27.0), ws_back=(0.12, 0.25), roof_length=(1.50, 1.70),
                       rw_rake=(30.0, 38.0), deck_length=(0.14, 0.22)),
    },
    "van": {
        "panel_van": {},
        "minibus": dict(roof_z=(1.90, 2.10), ws_rake=(30.0, 36.0), hood_front=(0.84, 0.92), cowl=(1.10, 1.18)),
        "high_roof": dict(roof_z=(2.30, 2.55), wheelbase=(3.30, 3.70), width=(1.90, 2.00), roof_crown=(0.02, 0.04),
                          wheel_radius=(0.33, 0.36), tail_radius=(0.12, 0.16), side_camber=(0.005, 0.012)),
        "compact": dict(width=(1.70, 1.80), wheelbase=(2.60, 2.85), roof_z=(1.75, 1.88), front_overhang=(0.75, 0.85),
                        ws_back=(0.15, 0.30), ws_rake=(30.0, 35.0), hood_front=(0.84, 0.90)),
    },
    "pickup": {
        "double_cab": {},
        "single_cab": dict(roof_length=(0.55, 0.70), deck_length=(1.95, 2.25), wheelbase=(3.00, 3.25)),
        "extended_cab": dict(roof_length=(0.95, 1.15), deck_length=(1.65, 1.85)),
        "full_size": dict(width=(1.95, 2.05), wheelbase=(3.40, 3.70), roof_z=(1.82, 1.95), hood_front=(1.05, 1.15),
                          cowl=(1.28, 1.36), deck=(1.30, 1.38), tail_upper=(1.22, 1.30), sill=(0.42, 0.48),
                          nose_bottom=(0.46, 0.52), wheel_radius=(0.40, 0.43), ws_rake=(34.0, 38.0),
                          bed_depth=(0.50, 0.58), roof_length=(1.55, 1.75), deck_length=(1.55, 1.75),
                          nose_sag=(0.03, 0.05), nose_radius=(0.14, 0.20)),
    },
    "bus": {
        "city": {},
        "coach": dict(roof_z=(3.20, 3.50), cowl=(1.20, 1.35), deck=(1.80, 2.00), sill=(0.40, 0.48)),
        "school": dict(width=(2.30, 2.45), roof_z=(2.75, 3.00), wheelbase=(4.0, 5.2)),
    },
    "truck": {
        "box_van": {},
        "dump": dict(box_floor=(1.15, 1.30), wheel_radius=(0.46, 0.52)),
        "stake": {},
        "tanker": dict(box_floor=(1.05, 1.20), box_height=(3.00, 3.40)),
    },
}

# Shipped library: models per type (the common VeRi types get more) and which keep a fixed colour.
LIBRARY_COUNTS = {"sedan": 10, "suv": 7, "hatchback": 5, "mpv": 5, "van": 5, "estate": 4, "pickup": 4, "bus": 4,
                  "truck": 6}
FIXED_COLOURS = {("bus", 0): "yellow", ("bus", 1): "green"}
DEFAULT_SEED = 2019


@dataclass(frozen=True)
class VehicleParams:
    """Everything that shapes one vehicle (metres, degrees). Derived quantities live in geometry.Profile."""

    type_name: str
    width: float
    wheelbase: float
    front_overhang: float  # nose tip to front axle
    wheel_radius: float
    tyre_width: float
    arch_ratio: float  # arch radius / wheel radius (the arch circle is centred on the wheel)
    arch_angle: float  # degrees from vertical of the upper arch keypoints
    sill: float  # height of the body's lower edge between the wheels
    nose_bottom: float  # front bumper bottom at the corner (keypoint 17)
    nose_setback: float  # keypoint 16 (hood front edge) behind keypoint 17
    hood_front: float
    cowl: float  # windshield base height (beltline at the A pillar)
    ws_back: float  # windshield base behind the front axle (negative: in front of it)
    ws_rake: float  # windshield angle from horizontal
    roof_z: float  # roof side edge height (the roof centre is a crown higher)
    roof_length: float
    rw_rake: float
    deck: float  # rear window base height
    deck_length: float  # rear window base to the rear upper corner (trunk lid, tailgate, pickup bed)
    tail_upper: float  # rear upper corner height (keypoint 11)
    tail_bottom: float  # rear bumper bottom at the corner (keypoint 10)
    tail_setback: float  # keypoint 11 ahead of keypoint 10
    shoulder: float  # beltline edge inset from the widest side
    glass_inset: float
    tumble: float  # greenhouse side inset per metre of height
    roof_crown: float
    hood_crown: float
    end_round: float  # length of the plan-view rounding at nose and tail
    end_inset: float  # fraction of the half width the rounding takes off at the very tip
    belt_rise: float
    rear_pillar: float  # rear window corner inset from the greenhouse side (C/D pillar)
    arch_flare: float = 0.0  # how far the fender flares stand out of the body side (`width` is over them)
    rear_overhang: float = 0.0  # buses and trucks only (cars derive it from the cabin)
    bed_depth: float = 0.0
    cab_length: float = 0.0
    box_floor: float = 0.0
    box_height: float = 0.0
    nose_sag: float = 0.0  # cars: the nose's bow in plan, depth over the body's half width (0: superellipse ends)
    tail_sag: float = 0.0
    nose_radius: float = 0.0  # cars: plan radius of the front corners
    tail_radius: float = 0.0
    side_camber: float = 0.0  # cars: the sides' outward curve in plan, middle against the ends
    style_seed: int = 0  # picks discrete details (pillar layout, spokes) without changing the shape
    body_style: str = ""  # the profile / body family within the type (BODY_STYLES)

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "VehicleParams":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def style_cycle(type_name: str) -> list[str]:
    """The body styles of a type in the order a library cycles through them: the type's first (most common)
    style every other model, the others in between (half the models keep the everyday shape)."""
    names = list(BODY_STYLES.get(type_name, {}))
    return [s for other in names[1:] for s in (names[0], other)] or names


def sample_params(type_name: str, rng: np.random.Generator, style_seed: int | None = None,
                  body_style: str | None = None) -> VehicleParams:
    """Draw one vehicle of `type_name` (a VeRi type name): its body style (`body_style`, else drawn with the
    library's frequencies), then every dimension uniformly from the style's ranges."""
    if type_name not in TYPE_SPACES:
        raise ValueError(f"unknown vehicle type {type_name!r}; known: {VEHICLE_TYPES}")
    styles = BODY_STYLES.get(type_name, {})
    if body_style is None:
        cycle = style_cycle(type_name)
        body_style = cycle[int(rng.integers(len(cycle)))] if cycle else ""
    if body_style and body_style not in styles:
        raise ValueError(f"unknown body style {body_style!r} for {type_name}; known: {tuple(styles)}")
    space = {**TYPE_SPACES[type_name], **styles.get(body_style, {})}
    values = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in sorted(space.items()) if k not in PLAN_KEYS}
    if type_name in ("bus", "truck"):
        nose = corner_setback(values["end_round"]) + values["nose_setback"]  # tip to keypoint 16
        values["ws_back"] = -(values["front_overhang"] - nose - 0.02)
        values["roof_length"] = 0.0  # placed by the geometry from the rear
        values["deck_length"] = 0.0
    if type_name == "truck":
        values["deck"] = values["box_floor"]
    if style_seed is None:
        style_seed = int(rng.integers(0, 2**31 - 1))
    values.update({k: float(rng.uniform(*space[k])) for k in PLAN_KEYS if k in space})  # drawn last (see PLAN_KEYS)
    return VehicleParams(type_name=type_name, style_seed=style_seed, body_style=body_style, **values)


def model_rng(seed: int, type_name: str, index: int) -> np.random.Generator:
    """The generator of model `index` of a type: independent of how many models of other types are made."""
    return np.random.default_rng([seed, zlib.crc32(type_name.encode()), index])


@dataclass(frozen=True)
class ModelSpec:
    name: str
    params: VehicleParams
    seed: int
    index: int
    fixed_color: str | None  # a VeRi colour name when the model keeps one colour


def type_counts(n: int | None = None) -> dict[str, int]:
    """Models per type: the shipped library's, or `n` spread in the same proportions (every type at least once
    when n >= 9)."""
    if n is None:
        return dict(LIBRARY_COUNTS)
    total = sum(LIBRARY_COUNTS.values())
    counts = {t: int(np.floor(n * c / total)) for t, c in LIBRARY_COUNTS.items()}
    order = sorted(LIBRARY_COUNTS, key=lambda t: -(n * LIBRARY_COUNTS[t] / total - counts[t]))
    for t in order[: n - sum(counts.values())]:
        counts[t] += 1
    if n >= len(LIBRARY_COUNTS):
        for t in LIBRARY_COUNTS:
            while counts[t] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[t] += 1
    return counts


def library_plan(seed: int = DEFAULT_SEED, n: int | None = None) -> list[ModelSpec]:
    """The models a build makes, named `<type>_<index>`; model i of a type depends only on (seed, type, i)."""
    counts = type_counts(n)
    specs = []
    for type_name in VEHICLE_TYPES:
        for i in range(counts.get(type_name, 0)):
            cycle = style_cycle(type_name)
            style = cycle[i % len(cycle)] if cycle else None
            params = sample_params(type_name, model_rng(seed, type_name, i), body_style=style)
            specs.append(ModelSpec(f"{type_name}_{i:03d}", params, seed, i, FIXED_COLOURS.get((type_name, i))))
    return specs


# --- heavy vehicles' styles (synth/vehicles/trucks.py, buses.py build them; the loft needs the style too) --------

TRUCK_STYLES = ("box_van", "dump", "stake", "tanker")
_LEGACY_TRUCK_STYLES = 3  # models built before the tanker drew "" styles from the first three
BUS_STYLES = ("city", "coach", "school")


def style_rng(p: VehicleParams, salt: int) -> np.random.Generator:
    """The random stream of one of a model's discrete choices (`salt` names it), from its style seed: a detail
    drawn from it changes with the style seed and leaves the shape and the other choices as they were."""
    return np.random.default_rng([p.style_seed, salt])


def pick(rng: np.random.Generator, table) -> str:
    """One name of a ((name, weight), ...) table, drawn by its weights."""
    names, weights = zip(*table)
    return names[int(rng.choice(len(names), p=weights))]


def style_of(p) -> str:
    styles = TRUCK_STYLES if p.type_name == "truck" else BUS_STYLES
    if p.body_style in styles:
        return p.body_style
    if p.type_name == "truck":
        styles = styles[:_LEGACY_TRUCK_STYLES]
    return styles[int(style_rng(p, 17).integers(len(styles)))]


def cargo_top(p) -> float:
    """Height of the top of a truck's cargo body (the loft's box): a van's box, a dump body's or stake body's
    sides (lower, in proportion to the sampled box height), a tanker's subframe and side lockers (the tank
    stands on it)."""
    frac = float(np.clip((p.box_height - 2.4) / 0.8, 0, 1))
    style = style_of(p)
    if style == "tanker":
        return p.box_floor + 0.32
    if style == "dump":
        return p.box_floor + 0.85 + 0.35 * frac
    if style == "stake":
        return p.box_floor + 0.50 + 0.20 * frac
    return p.box_height - 0.02
