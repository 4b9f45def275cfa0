"""From parameters to a vehicle: the side profile, the 36 keypoints and the mesh, all from the same numbers.

The body is a loft along x. Its side profile is a set of piecewise-linear curves z(x) built from the
parameters: the underside `floor`, the sill (the floor raised into the wheel arches), the top of the lower
body `belt` (hood, beltline, deck) and the top of the greenhouse `top` (windshield, roof, rear window). At every
station x the cross-section is one loop of points through those heights with rounded shoulders, tumblehome and
a roof crown; consecutive loops are joined by quads and the two ends are capped. Keypoints are points of the
same loops, so they are mesh vertices, on the surface by construction (tests check it with Blender's BVH).

Pure numpy: the profile, the sections and the keypoints as plain arrays; synth/vehicles/loft.py joins the loops
into the body's mesh and synth/vehicles/assemble.py dresses it into a whole vehicle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from synth.vehicles.params import (PLAN_EXPONENT, VehicleParams, cargo_top, corner_setback, pick, style_of,
                                  style_rng)


# rows of a half cross-section loop, from the bottom centre round the left side to the top centre
(R_FLOOR_C, R_FLOOR, R_WELL, R_SILL, R_LOW, R_MID, R_LIGHT, R_SHOULDER, R_BELT, R_LEDGE, R_GTOP, R_REDGE, R_CROWN,
 R_TOP_C) = range(14)
N_ROWS = 14
# The loft's loops are denser than the rows: a spline through the row points (which stay exact vertices) adds
# points at these parameters of segment row -> row + 1. The first two of R_REDGE's bound a 1.5 cm strip that
# becomes the hood's side seam (see loft.loft_body).
SEGMENT_PARAMS = {R_LOW: (0.5,), R_MID: (0.5,), R_LIGHT: (0.5,), R_SHOULDER: (0.5,), R_GTOP: (0.5,),
                  R_REDGE: (0.07, 0.11, 0.45, 0.75), R_CROWN: (0.35, 0.7)}
# Rows the spline meets with one-sided tangents, so they stay creases (the auto-smooth angle keeps them sharp):
# underbody and wheel well, the arch lip, the shoulder line / hood edge, the glass ledge, the window top.
CREASE_ROWS = frozenset((R_FLOOR_C, R_FLOOR, R_WELL, R_SILL, R_LIGHT, R_BELT, R_LEDGE, R_GTOP))
DENSE_LAYOUT = [(r, t) for r in range(N_ROWS) for t in (0.0,) + SEGMENT_PARAMS.get(r, ())]
ROW_DENSE = {r: DENSE_LAYOUT.index((r, 0.0)) for r in range(N_ROWS)}  # row -> its index in a dense loop
FLARE_LIP, FLARE_FADE = 0.04, 0.15  # flare at full width this far round the arch, then fading over this
BACK_DEFINED = ("bus", "truck")
UPPER_NOSE_RADIUS, UPPER_NOSE_SAG = 1.7, 1.35  # the wings' plan corner and bow over the bumper's (upper_plan)
TIP_HALF_WIDTH = 0.01  # a car's bowed end narrows to this at its tip (a 2 cm end cap, not a degenerate one)
ROCKER_TUCK = 0.035  # the sill's tuck-under between the wheels
GAP = 0.012  # panel gap width: drawn wider than a real 4 mm gap, which is sub-pixel at traffic-camera sizes
# A truck's open bed (a stake or dump body): its sides' thickness at the floor (they taper to their top edge), the
# floor's height over the body's underside, and the tailgate's depth behind the rear corner keypoints
BED_WALL, BED_FLOOR, BED_TAILGATE = 0.05, 0.09, 0.05
OPEN_BED_STYLES = ("stake", "dump")
STAKE_DECKS = (("deck_wood", 0.55), ("deck_steel", 0.45))  # a stake bed's floor: worn planks or bare steel sheet


PICKUP_LINER_PROB = 0.55  # pickups whose bed is lined (black ribbed plastic, floor and inner walls)


def deck_material(p: VehicleParams) -> str:
    """The material of an open bed's floor: a pickup's liner or its paint, a dump body's steel, a stake body's
    planks or steel (own streams of the style seed)."""
    if p.type_name == "pickup":
        return "bed_liner" if style_rng(p, 50).random() < PICKUP_LINER_PROB else "paint"
    if style_of(p) == "dump":
        return "deck_steel"
    return pick(style_rng(p, 42), STAKE_DECKS)


def _put_rows(out: np.ndarray, where: np.ndarray, rows: dict) -> None:
    """Set loop rows {row: (y, z)} (per-station arrays or numbers) of `out` (stations, rows, 2) at the stations
    `where` only (an open bed's rows over its stations)."""
    for r, (yy, zz) in rows.items():
        out[where, r, 0] = np.broadcast_to(yy, where.shape)[where]
        out[where, r, 1] = np.broadcast_to(zz, where.shape)[where]


def _interp(x, points):
    """Piecewise-linear z(x) through control points given in any x order."""
    pts = sorted(points, key=lambda p: p[0])
    return np.interp(x, [p[0] for p in pts], [p[1] for p in pts])


def _fillet(points, radii, samples: int = 7) -> list[tuple[float, float]]:
    """The polyline through `points` (any x order) with each interior corner rounded: a quadratic Bezier from
    radii[i] before the corner to radii[i] after it (at most 45 % of either segment), sampled densely enough
    that linear interpolation between the samples stays within a millimetre of the curve."""
    pts = np.array(sorted(points, key=lambda p: p[0]), dtype=float)
    out = [tuple(pts[0])]
    for i in range(1, len(pts) - 1):
        before, corner, after = pts[i - 1], pts[i], pts[i + 1]
        l1, l2 = np.linalg.norm(corner - before), np.linalg.norm(after - corner)
        r = min(radii[i - 1], 0.45 * l1, 0.45 * l2)
        if r < 1e-3:
            out.append(tuple(corner))
            continue
        a, b = corner + (before - corner) * r / l1, corner + (after - corner) * r / l2
        for t in np.linspace(0, 1, samples):
            out.append(tuple((1 - t) ** 2 * a + 2 * t * (1 - t) * corner + t**2 * b))
    out.append(tuple(pts[-1]))
    return out


def _smoothstep(t) -> np.ndarray:
    """0 below 0, 1 above 1, and an S-curve 3t^2 - 2t^3 between, flat at both ends: blends that leave no kink."""
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def _bump(x, x0: float, x1: float, bow: float) -> np.ndarray:
    """A panel's bow at x: 16 bow t^2 (1 - t)^2 over the span x0..x1 (t its fraction), `bow` at the middle, zero
    and flat at both ends, so the span's ends (and the keypoints on them) keep their heights and the corner
    fillets their rounding without a kink. Smooth enough that the loft's 6 cm stations follow it to 0.4 mm."""
    x = np.asarray(x, dtype=float)
    if bow == 0.0 or x1 == x0:
        return np.zeros(x.shape)
    t = np.clip((x - x0) / (x1 - x0), 0, 1)
    return 16 * bow * (t * (1 - t)) ** 2


@dataclass
class Profile:
    """The side profile and plan of one vehicle, derived from its parameters."""

    p: VehicleParams

    @cached_property
    def arch(self) -> tuple[float, float, float]:
        """(centre height, radius, half span at the sill) of both wheel arches (circles centred on the wheels)."""
        p = self.p
        zc = p.wheel_radius
        radius = p.arch_ratio * p.wheel_radius
        if p.sill < zc:
            return zc, radius, radius
        return zc, radius, float(np.sqrt(max(radius**2 - (p.sill - zc) ** 2, 1e-6)))

    @cached_property
    def keyx(self) -> dict[str, float]:
        """x of the named profile points, vehicle frame: tip, end, axles fa / ra, and 10..17 (keypoint parts)."""
        p = self.p
        _, radius, _ = self.arch
        x = {"fa": 0.0, "ra": -p.wheelbase, "tip": p.front_overhang}
        x["17"] = x["tip"] - self.corner_setback
        if self.plan is not None:  # the bowed nose stands out of its corners (17 keeps its place on the car)
            x["tip"] = x["17"] + self.plan["front"]["d_apex"]
        x["16"] = x["17"] - p.nose_setback
        x["15"] = min(x["fa"] - p.ws_back, x["16"] - 0.02)
        x["14"] = x["15"] - (p.roof_z - p.cowl) / np.tan(np.radians(p.ws_rake))
        if p.type_name in BACK_DEFINED:
            x["end"] = x["ra"] - p.rear_overhang
            x["10"] = x["end"] + self.corner_setback
            x["11"] = x["10"] + p.tail_setback
            if p.type_name == "truck":
                x["12"] = x["13"] = x["10"]
                x["cab_back"] = x["15"] - p.cab_length
                x["box_front"] = x["cab_back"] - 0.10
                if style_of(p) in OPEN_BED_STYLES:  # the open bed, inside the headboard and the tailgate
                    x["bed_front"] = x["box_front"] - 0.06
                    x["bed_rear"] = x["10"] + BED_TAILGATE
            else:
                x["12"] = x["11"] + max(p.deck - p.tail_upper, 0.0) / np.tan(np.radians(87.0)) + 0.01
                x["13"] = x["12"] + (p.roof_z - p.deck) / np.tan(np.radians(p.rw_rake))
        else:
            x["13"] = x["14"] - p.roof_length
            x["12"] = x["13"] - (p.roof_z - p.deck) / np.tan(np.radians(p.rw_rake))
            x["11"] = x["12"] - p.deck_length
            x["10"] = x["11"] - p.tail_setback
            x["end"] = x["10"] - (self.corner_setback if self.plan is None else self.plan["rear"]["d_apex"])
            short = (radius + 0.25) - (x["ra"] - x["end"])
            if short > 0:  # keep the rear arch inside the body: lengthen the deck
                for k in ("11", "10", "end"):
                    x[k] -= short
        if p.type_name == "pickup":
            x["bed_front"] = x["12"] - 0.06
            x["bed_rear"] = x["11"] + 0.05
        centre = (x["tip"] + x["end"]) / 2  # origin under the middle of the vehicle
        return {k: v - centre for k, v in x.items()}

    @cached_property
    def plan(self) -> dict | None:
        """The curved plan of a car's ends (None: buses, trucks and old parameters keep the superellipse): per end,
        in end coordinates (d inward from the tip, y out from the centreline), a bow (a circle of radius `rb`
        through the tip whose depth over the half width `w` is the end's sag) joined by a corner circle of radius
        `rc` (centre at depth `dc`, tangent to the side y = w) at depth `d_t`; `d_apex`, `y_apex`: the corner's
        point whose normal is half-way between the side's and the end's (the lower corner keypoints 10, 17)."""
        p = self.p
        if p.type_name in BACK_DEFINED or p.nose_radius <= 0 or p.tail_radius <= 0:
            return None
        w = self.body_half_width - p.side_camber  # the sides' half width at the ends (see side_half_width)
        return {"front": self._end_plan(w, p.nose_sag, p.nose_radius),
                "rear": self._end_plan(w, p.tail_sag, p.tail_radius)}

    @staticmethod
    def _end_plan(w: float, sag: float, rc: float) -> dict:
        """One end's outline (see plan) from its half width, sag and corner radius."""
        sag = max(sag, 1e-3)
        rc = min(rc, 0.8 * w)
        rb = (w**2 + sag**2) / (2 * sag)
        dc = rb - np.sqrt((rb - rc) ** 2 - (w - rc) ** 2)
        d_t = rb + rb * (dc - rb) / (rb - rc)
        return dict(w=w, sag=sag, rb=rb, rc=rc, dc=dc, d_t=d_t, d_apex=dc - rc * np.sqrt(0.5),
                    y_apex=w - rc * (1 - np.sqrt(0.5)))

    @cached_property
    def upper_plan(self) -> dict | None:
        """The nose's plan at the hood and the wings (rows from the shoulder up): the same tip and half width, a
        rounder corner (UPPER_NOSE_RADIUS times the bumper's) and a deeper bow, so the wings narrow towards
        the lamps and the bumper's corners stand proud of them, as on real cars (one plan at every height made
        the nose a soap bar from above). The tail keeps one plan."""
        if self.plan is None:
            return None
        e = self.plan["front"]
        return self._end_plan(e["w"], e["sag"] * UPPER_NOSE_SAG, e["rc"] * UPPER_NOSE_RADIUS)

    def row_plan_scale(self, x) -> np.ndarray:
        """(len(x), N_ROWS) factors on the cross-section's y: plan_scale on the rows up to R_MID, the nose's
        upper plan from R_SHOULDER up, half-way at R_LIGHT."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        lower = self.plan_scale(x)
        if self.upper_plan is None:
            return np.repeat(lower[:, None], N_ROWS, axis=1)
        e = self.upper_plan
        upper = np.minimum(lower, np.maximum(self._end_outline(e, self.x_front - x) / e["w"],
                                             TIP_HALF_WIDTH / e["w"]))
        weight = np.zeros(N_ROWS)
        weight[R_LIGHT] = 0.8
        weight[R_SHOULDER:] = 1.0
        return lower[:, None] + (upper - lower)[:, None] * weight[None, :]

    @staticmethod
    def _end_outline(e: dict, d):
        """y of an end's plan outline at depth d from its tip (bow, then corner circle, then the side)."""
        d = np.clip(np.asarray(d, dtype=float), 0, None)
        rb, rc, dc, w = e["rb"], e["rc"], e["dc"], e["w"]
        bow = np.sqrt(np.clip(rb**2 - (rb - np.minimum(d, rb)) ** 2, 0, None))
        corner = (w - rc) + np.sqrt(np.clip(rc**2 - (dc - np.minimum(d, dc)) ** 2, 0, None))
        return np.where(d <= e["d_t"], bow, np.where(d < dc, corner, w))

    def plan_scale(self, x):
        """Factor (0, 1] on the cross-section's y at station x: the ends' bow and corners (1 along the sides)."""
        x = np.asarray(x, dtype=float)
        if self.plan is None:
            return np.ones(x.shape)
        f = np.ones(x.shape)
        for end, d in (("front", self.x_front - x), ("rear", x - self.x_end)):
            e = self.plan[end]
            f = np.minimum(f, self._end_outline(e, d) / e["w"])
        return np.maximum(f, TIP_HALF_WIDTH / self.plan["front"]["w"])

    def plan_stations(self) -> list[float]:
        """Stations that follow the ends' outline: every 4 mm along the bow, every 5 degrees round the corner."""
        if self.plan is None:
            return []
        xs = []
        for end, sgn, x0 in (("front", -1.0, self.x_front), ("rear", 1.0, self.x_end)):
            e = self.plan[end]
            n = max(int(np.ceil(e["d_t"] / 0.004)), 2)
            ds = list(np.linspace(0, e["d_t"], n + 1))
            phi_t = np.arcsin(np.clip((e["dc"] - e["d_t"]) / e["rc"], 0, 1))
            ds += list(e["dc"] - e["rc"] * np.sin(np.linspace(0, phi_t, max(int(np.degrees(phi_t) / 5), 2) + 1)))
            xs += [x0 + sgn * d for d in ds]
        if self.upper_plan is not None:  # the wings' rounder corner
            e = self.upper_plan
            phi_t = np.arcsin(np.clip((e["dc"] - e["d_t"]) / e["rc"], 0, 1))
            ds = e["dc"] - e["rc"] * np.sin(np.linspace(0, phi_t, max(int(np.degrees(phi_t) / 5), 2) + 1))
            xs += [self.x_front - d for d in ds]
        return xs

    def side_camber(self, x):
        """How far the side stands in from its middle at x (plan camber: a parabola, `side_camber` at the ends)."""
        x = np.asarray(x, dtype=float)
        if self.plan is None:
            return np.zeros(x.shape)
        xm = 0.5 * (self.x_front_axle + self.x_rear_axle)
        reach = max(self.x_front - xm, xm - self.x_end)
        return self.p.side_camber * np.clip(((x - xm) / reach) ** 2, 0, 1)

    def face_half_width(self, front: bool) -> float:
        """Half width of the end face that lamps, grilles and bumper strips are laid out on (rays along x reach
        the surface over all of it): the tip's on a superellipse end, else where the corner has turned 60 degrees
        from the side."""
        if self.plan is None:
            return float(self.half_width(self.x_front if front else self.x_end))
        e = self.plan["front" if front else "rear"]
        return float(e["w"] - e["rc"] * (1 - np.cos(np.radians(60))))

    @property
    def corner_setback(self) -> float:
        """How far the lower corner keypoints (10, 17) sit from the tail / nose tip: at the apex of the plan's
        rounded corner, where its normal is half-way between the side and the end."""
        return corner_setback(self.p.end_round)

    @property
    def x_front(self) -> float:
        return self.keyx["tip"]

    @property
    def x_end(self) -> float:
        return self.keyx["end"]

    @property
    def x_front_axle(self) -> float:
        return self.keyx["fa"]

    @property
    def x_rear_axle(self) -> float:
        return self.keyx["ra"]

    @property
    def length(self) -> float:
        return self.x_front - self.x_end

    @property
    def roof_z(self) -> float:
        return self.p.roof_z

    @property
    def box_top(self) -> float:
        """Top of a truck's cargo body: the van box, or a dump / stake body's lower sides (params.cargo_top)."""
        return cargo_top(self.p)

    @property
    def height(self) -> float:
        if self.p.type_name == "truck":
            return max(self.box_top + 0.02, self.p.roof_z + self.p.roof_crown)
        return float(np.max(self.top(np.linspace(self.x_end, self.x_front, 2000)))) + self.p.roof_crown

    @cached_property
    def cap_front_z(self) -> float:
        return self.p.hood_front - (0.03 if self.p.type_name in BACK_DEFINED else 0.10)

    @cached_property
    def cap_rear_z(self) -> float:
        return self.p.tail_upper - (0.02 if self.p.type_name in BACK_DEFINED else 0.06)

    # --- the profile curves ------------------------------------------------------------------------------
    @cached_property
    def belt_points(self) -> list[tuple[float, float]]:
        p, k = self.p, self.keyx
        pts = [(k["tip"], self.cap_front_z), (k["16"], p.hood_front), (k["15"], p.cowl)]
        if p.type_name == "truck":
            return pts + [(k["cab_back"], p.cowl), (k["box_front"], p.box_floor), (k["end"], p.box_floor)]
        if p.type_name == "bus":  # level window line, rising to the rear window on the rear face
            pts += [(k["12"] + 0.08, p.cowl + p.belt_rise)]
        else:
            pts += [((k["15"] + k["12"]) / 2, (p.cowl + p.deck) / 2 + p.belt_rise / 2)]
        return pts + [(k["12"], p.deck), (k["11"], p.tail_upper), (k["end"], self.cap_rear_z)]

    @cached_property
    def bows(self) -> dict[str, float]:
        """How far a car's hood and roof bow up out of the straight lines between their edges (metres, at the
        middle; 0 for buses and trucks). Real panels are stamped convex: a roof arches from the windshield header
        to the rear window, a hood rises between the cowl and its front edge; straight ones read as a box on a box
        and mirror one uniform patch of sky. The keypoints stay where they are (they sit at the panels' edges); a
        van's roof stays nearly flat. The glass stays straight in profile: a bulge of a centimetre or two is lost
        at traffic-camera sizes, and on a raked pane it moves the line through its middle by bow / tan(rake) (9 cm
        on a fastback's), which is where an imported model's roof corners are measured (import_keypoints)."""
        p = self.p
        if p.type_name in BACK_DEFINED:
            return dict(hood=0.0, roof=0.0)
        rng = style_rng(p, 28)  # its own stream: every other draw keeps its value
        roof = {"van": (0.01, 0.02), "mpv": (0.025, 0.04), "suv": (0.025, 0.04), "pickup": (0.02, 0.035)}
        return dict(hood=rng.uniform(0.012, 0.025), roof=rng.uniform(*roof.get(p.type_name, (0.04, 0.06))))

    @cached_property
    def top_points(self) -> list[tuple[float, float]]:
        """Greenhouse top where it is above the belt (the rest of the loft has top == belt)."""
        p, k = self.p, self.keyx
        if p.type_name == "truck":
            return [(k["15"], p.cowl), (k["14"], p.roof_z), (k["cab_back"] + 0.004, p.roof_z),
                    (k["cab_back"], p.cowl), (k["box_front"], p.box_floor), (k["box_front"] - 0.004, self.box_top),
                    (k["end"], self.box_top)]
        return [(k["15"], p.cowl), (k["14"], p.roof_z), (k["13"], p.roof_z), (k["12"], p.deck)]

    @cached_property
    def belt_curve(self) -> list[tuple[float, float]]:
        """The belt of a car with its breaks rounded (nose, cowl, deck, tail); buses and trucks keep theirs."""
        if self.p.type_name in BACK_DEFINED:
            return sorted(self.belt_points)
        # corners rear to front: rear upper corner, deck, mid-belt, cowl, hood front
        return _fillet(self.belt_points, (0.05, 0.06, 0.0, 0.10, 0.07))

    @cached_property
    def top_curve(self) -> list[tuple[float, float]] | None:
        """A car's greenhouse top as one rounded chain from the hood to the deck: the windshield grows out of
        the hood and the rear window flows into the deck through fillets instead of meeting them at a step."""
        p, k = self.p, self.keyx
        if p.type_name in BACK_DEFINED:
            return None
        d_front = min(0.35, 0.6 * (k["16"] - k["15"]))
        d_rear = min(0.35, 0.6 * (k["12"] - k["11"]))
        chain = [(k["15"] + d_front, float(self.belt(k["15"] + d_front))), (k["15"], p.cowl), (k["14"], p.roof_z),
                 (k["13"], p.roof_z), (k["12"], p.deck), (k["12"] - d_rear, float(self.belt(k["12"] - d_rear)))]
        # rear to front: deck, roof rear, roof front, windshield base
        return _fillet(chain, (0.08, 0.22, 0.16, 0.10))

    @cached_property
    def greenhouse_taper(self) -> float:
        """How much further the greenhouse's top stands in at the rear window's top than over the middle of the
        roof (metres; 0 for buses and trucks). Seen from above, a real car's cabin narrows towards its C-pillars
        while the body under it keeps its width (a roof as wide at its rear as at its middle reads as a box).
        Its front keeps its width: VeRi's windshield-top keypoints fit the full width (bench/keypoint_fit.py)."""
        p = self.p
        if p.type_name in BACK_DEFINED:
            return 0.0
        rear = {"van": (0.01, 0.02), "mpv": (0.02, 0.035), "suv": (0.02, 0.035), "pickup": (0.015, 0.03)}
        return style_rng(p, 29).uniform(*rear.get(p.type_name, (0.03, 0.05)))  # own stream: the rest keep theirs

    def taper(self, x):
        """The greenhouse's extra inset at x (see greenhouse_taper): 0 from the front of the roof to its middle,
        easing in towards its rear and constant over the rear window."""
        x = np.asarray(x, dtype=float)
        if self.greenhouse_taper == 0.0:
            return np.zeros(x.shape)
        k = self.keyx
        xm = k["14"] - 0.45 * (k["14"] - k["13"])
        return self.greenhouse_taper * _smoothstep((xm - x) / (xm - k["13"]))

    @cached_property
    def glass_wrap(self) -> tuple[float, float]:
        """(front, rear): how far the middle of the windshield stands ahead of its pillars, and the middle of the
        rear window behind its pillars (metres; 0 for buses and trucks). Real glass wraps round the cabin, so from
        above its edges are arcs; a loft's sections would make them straight lines across the car."""
        p = self.p
        if p.type_name in BACK_DEFINED:
            return 0.0, 0.0
        rng = style_rng(p, 30)  # its own stream: every other draw keeps its value
        rear = {"van": (0.02, 0.04), "mpv": (0.04, 0.07), "suv": (0.04, 0.07), "pickup": (0.02, 0.04)}
        return rng.uniform(0.08, 0.13), rng.uniform(*rear.get(p.type_name, (0.06, 0.10)))

    def wrap_shift(self, x) -> np.ndarray:
        """The x shift of the upper surface's middle at station x (see glass_wrap): forward from the middle of the
        roof through the windshield, fading out over the hood's rear; backward through the rear window, fading
        out over the deck."""
        x = np.asarray(x, dtype=float)
        front, rear = self.glass_wrap
        if front == rear == 0.0:
            return np.zeros(x.shape)
        k = self.keyx
        xm = 0.5 * (k["14"] + k["13"])
        hood = min(0.35, 0.5 * (k["16"] - k["15"]))
        deck_length = k["12"] - k["11"]
        deck = max(min(0.3, 0.8 * deck_length), 0.05)
        up = _smoothstep((x - xm) / (k["14"] - xm)) * (1 - _smoothstep((x - k["15"]) / hood))
        # over a short deck (a tailgate under the rear window) the window's base wraps less: its middle would
        # stand out over the tail
        base = np.clip(deck_length / 0.25, 0, 1)
        along = np.clip((k["13"] - x) / max(k["13"] - k["12"], 1e-6), 0, 1)  # down the rear window
        down = (_smoothstep((xm - x) / (xm - k["13"])) * (1 - (1 - base) * along)
                * (1 - _smoothstep((k["12"] - x) / deck)))
        return front * up - rear * down

    def wrap(self, points: np.ndarray) -> np.ndarray:
        """`points` (N, 3) of the upper surface (the beltline edge and inboard of it) with the glass wrap applied:
        shifted along x by wrap_shift, in full on the centreline and fading smoothly (no crease) to nothing at the
        pillars (the glass top's y), where the side windows keep their shape."""
        pts = np.array(points, dtype=float)
        if not np.any(self.glass_wrap):
            return pts
        y_pillar = np.maximum(self.half_loop(pts[:, 0])[:, R_GTOP, 0], 1e-3)
        weight = np.clip(1 - (pts[:, 1] / y_pillar) ** 2, 0, 1) ** 2
        pts[:, 0] += self.wrap_shift(pts[:, 0]) * weight
        return pts

    def belt(self, x):
        """Height of the belt (hood, beltline, deck) at x, the hood's bow included (Profile.bows)."""
        k = self.keyx
        return _interp(x, self.belt_curve) + _bump(x, k["15"], k["16"], self.bows["hood"])

    def top(self, x):
        x = np.asarray(x, dtype=float)
        tp = self.top_curve or self.top_points
        lo, hi = min(q[0] for q in tp), max(q[0] for q in tp)
        inside = (x >= lo) & (x <= hi)
        roof = _bump(x, self.keyx["14"], self.keyx["13"], self.bows["roof"])  # the roof's bow (Profile.bows)
        return np.where(inside, np.maximum(_interp(x, tp) + roof, self.belt(x)), self.belt(x))

    def floor(self, x):
        p, k = self.p, self.keyx
        _, radius, _ = self.arch
        pts = [(k["tip"], p.nose_bottom + 0.05), (k["17"], p.nose_bottom), (k["fa"] + radius + 0.01, p.sill),
               (k["ra"] - radius - 0.01, p.sill), (k["10"], p.tail_bottom), (k["end"], p.tail_bottom + 0.05)]
        return _interp(x, pts)

    def arch_z(self, x):
        """Height of the arch edge above x (-inf away from the arches)."""
        x = np.asarray(x, dtype=float)
        zc, radius, _ = self.arch
        out = np.full(x.shape, -np.inf)
        for xa in (self.x_front_axle, self.x_rear_axle):
            d = x - xa
            inside = np.abs(d) <= radius + 1e-9
            out = np.where(inside, np.maximum(out, zc + np.sqrt(np.clip(radius**2 - d**2, 0, None))), out)
        return out

    def sill(self, x):
        return np.maximum(self.floor(x), self.arch_z(x))

    def flare(self, x):
        """Outward bulge of the lower side round each wheel arch (the fender flare): `arch_flare` over the arch
        and a lip round it, fading out along the body. The bulge faces forward and backward, so the arch
        keypoints on its lip are seen from near-end views, as annotators see them."""
        x = np.asarray(x, dtype=float)
        # the flare also makes up for the side's camber, so the arch lip stays at `width` over the wheels
        return (self.p.arch_flare + self.side_camber(x)) * self.arch_weight(x)

    def arch_weight(self, x):
        """1 over the wheel arches and a lip round them (FLARE_LIP), fading smoothly to 0 over FLARE_FADE along
        the body: where the flare stands out, and where the rocker's tuck gives way to it."""
        x = np.asarray(x, dtype=float)
        _, radius, _ = self.arch
        out = np.zeros(x.shape)
        for xa in (self.x_front_axle, self.x_rear_axle):
            out = np.maximum(out, _smoothstep(1 - (np.abs(x - xa) - radius - FLARE_LIP) / FLARE_FADE))
        return out

    def rocker_tuck(self, x):
        """How far the sill tucks in under the doors between the wheel arches (metres): real sides curve in to
        the rocker panel, which faces the road and reads as a darker band. Zero round the arches, where the
        flare's lip carries the arch keypoints, and beyond the axles, where the bumpers' corners carry 10 and 17."""
        x = np.asarray(x, dtype=float)
        if self.p.type_name in BACK_DEFINED:
            return np.zeros(x.shape)
        _, radius, _ = self.arch
        between = (x < self.x_front_axle - radius) & (x > self.x_rear_axle + radius)
        return np.where(between, ROCKER_TUCK * (1 - self.arch_weight(x)), 0.0)

    @property
    def body_half_width(self) -> float:
        """Half width of the body between the flares (`width` is over them)."""
        return self.p.width / 2 - self.p.arch_flare

    def side_half_width(self, x):
        """Half width of the cross-section at x before the ends' plan scaling (cars: the cambered side)."""
        if self.plan is None:
            return self.half_width(x)
        return self.body_half_width - self.side_camber(x)

    def half_width(self, x):
        """Plan-view half width of the body without its flares. Cars: the cambered side, the corner circles and
        the bowed ends (Profile.plan). Buses and trucks: full in the middle, rounded over `end_round` at both ends
        (a superellipse). `width` is the width over the flares."""
        p = self.p
        x = np.asarray(x, dtype=float)
        if self.plan is not None:
            return self.side_half_width(x) * self.plan_scale(x)
        d = np.clip(np.minimum(self.x_front - x, x - self.x_end), 0, None)
        u = np.clip(d / p.end_round, 0, 1)
        n = PLAN_EXPONENT
        f = 1 - p.end_inset * (1 - (1 - (1 - u) ** n) ** (1 / n))
        return self.body_half_width * f

    def in_bed(self, x) -> np.ndarray:
        """Whether stations x are over an open bed: a pickup's, a stake or dump truck's (keyx has its ends)."""
        x = np.asarray(x, dtype=float)
        k = self.keyx
        if "bed_front" not in k:
            return np.zeros(x.shape, bool)
        return (x < k["bed_front"] - 0.004) & (x > k["bed_rear"] + 0.004)

    def bed_depth(self, x):
        """A pickup's bed depth below its rail (0 off the bed and on other types)."""
        x = np.asarray(x, dtype=float)
        if self.p.type_name != "pickup":
            return np.zeros(x.shape)
        return np.where(self.in_bed(x), self.p.bed_depth, 0.0)

    def is_box(self, x):
        x = np.asarray(x, dtype=float)
        if self.p.type_name != "truck":
            return np.zeros(x.shape, bool)
        return x <= self.keyx["box_front"]

    # --- cross sections ----------------------------------------------------------------------------------
    def half_loop(self, x) -> np.ndarray:
        """(len(x), N_ROWS, 2) points (y, z) of the left half cross-section at stations x, rows R_*."""
        p = self.p
        x = np.atleast_1d(np.asarray(x, dtype=float))
        zf, zs, zb, zt = self.floor(x), self.sill(x), self.belt(x), self.top(x)
        hw = self.side_half_width(x)
        bulge = self.flare(x)
        tuck = self.rocker_tuck(x)
        box = self.is_box(x)
        depth = self.bed_depth(x)
        side = np.maximum(zb - zs, 1e-4)
        well = p.tyre_width + 0.10
        g = np.maximum(zt - zb, 0.0)
        s = np.clip(g / 0.08, 0, 1)
        shoulder = np.where(box, 0.01, p.shoulder)
        inset = np.where(box, 0.0, p.glass_inset) * s
        tumble = np.where(box, 0.0, p.tumble)
        crown = np.where(box, 0.02, p.roof_crown * s + p.hood_crown * (1 - s))

        out = np.zeros((len(x), N_ROWS, 2))
        y_belt = hw - shoulder
        y_ledge = y_belt - inset
        y_gtop = y_ledge - tumble * g - np.where(box, 0.0, self.taper(x)) * s
        y_redge = y_gtop - np.where(box, 0.015, 0.05) * s
        zero = np.zeros_like(x)
        rows = {
            R_FLOOR_C: (zero, zf), R_FLOOR: (hw - well, zf), R_WELL: (hw - well, zs),
            # over a flare the arch lip (R_SILL, where the arch keypoints sit) stands out furthest
            R_SILL: (hw + bulge - 0.008 - tuck, zs),
            R_LOW: (hw + 0.7 * bulge - 0.006 - 0.45 * tuck, zs + np.minimum(0.07, 0.3 * side)),
            R_MID: (hw + 0.3 * bulge - 0.3 * tuck, zs + 0.5 * side),
            # the character line: the side's widest, sharp line, from which the door falls in to the rocker
            R_LIGHT: (hw - np.where(box, 0.12 * shoulder, 0.0), zb - np.minimum(0.14, 0.3 * side)),
            R_SHOULDER: (hw - 0.4 * shoulder, zb - np.minimum(0.04, 0.1 * side)), R_BELT: (y_belt, zb),
            R_LEDGE: (y_ledge, zb + 0.015 * s), R_GTOP: (y_gtop, zt - 0.05 * s), R_REDGE: (y_redge, zt),
            R_CROWN: (y_redge * 0.55, zt + crown * 0.75), R_TOP_C: (zero, zt + crown),
        }
        for r, (yy, zz) in rows.items():
            out[:, r, 0], out[:, r, 1] = yy, zz
        bed = depth > 0
        if np.any(bed):  # an open bed: rail, inner wall, floor
            zbed = zb - depth
            _put_rows(out, bed, {R_LEDGE: (y_belt - 0.05, zb), R_GTOP: (y_belt - 0.05, zbed),
                                 R_REDGE: (y_belt - 0.06, zbed), R_CROWN: ((y_belt - 0.06) * 0.5, zbed),
                                 R_TOP_C: (zero, zbed)})
        open_box = box & self.in_bed(x)
        if np.any(open_box):
            # a truck's open bed: the side up to its top edge, its inner face tapering down to the floor (the
            # loop's creases are the outer top edge and the floor's corner), the floor
            zfl = self.p.box_floor + BED_FLOOR
            y_in = y_belt - BED_WALL
            _put_rows(out, open_box, {R_LEDGE: (y_belt, zt), R_GTOP: (y_in, zfl), R_REDGE: (y_in - 0.01, zfl),
                                      R_CROWN: (0.5 * y_in, zfl), R_TOP_C: (zero, zfl)})
        if self.plan is not None:  # the ends' bow and corners: the section narrows with the plan outline
            out[:, :, 0] *= self.row_plan_scale(x)
        return out

    def dense_half_loop(self, x) -> np.ndarray:
        """(len(x), len(DENSE_LAYOUT), 2) points of the densified left half loop: a Hermite spline through the
        rows (tangents from the neighbours, one-sided at CREASE_ROWS, scaled by the segment length so rows that
        coincide stay one point)."""
        rows = self.half_loop(x)
        mirror = np.array([-1.0, 1.0])
        ext = np.concatenate([rows[:, 1:2] * mirror, rows, rows[:, -2:-1] * mirror], axis=1)  # mirrored neighbours

        def unit(v):
            n = np.linalg.norm(v, axis=-1, keepdims=True)
            return np.where(n > 1e-9, v / np.maximum(n, 1e-9), 0.0)

        smooth = unit(ext[:, 2:] - ext[:, :-2])
        t_in, t_out = smooth.copy(), smooth.copy()
        for r in CREASE_ROWS:
            t_in[:, r] = unit(ext[:, r + 1] - ext[:, r])
            t_out[:, r] = unit(ext[:, r + 2] - ext[:, r + 1])
        out = np.zeros((rows.shape[0], len(DENSE_LAYOUT), 2))
        for d, (r, t) in enumerate(DENSE_LAYOUT):
            if t == 0.0:
                out[:, d] = rows[:, r]
                continue
            p0, p1 = rows[:, r], rows[:, r + 1]
            length = np.linalg.norm(p1 - p0, axis=-1, keepdims=True)
            h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
            out[:, d] = h00 * p0 + h10 * length * t_out[:, r] + h01 * p1 + h11 * length * t_in[:, r + 1]
        return out

    def seams(self) -> dict[str, tuple[float, float]]:
        """x strips (rear, front) of the panel gaps cut across the loft: the doors' edges on the sides, the
        hood's front edge and a sedan's trunk lid across the top. Buses and trucks have none."""
        p, k = self.p, self.keyx
        if p.type_name in BACK_DEFINED:
            return {}
        _, radius, _ = self.arch
        windows = side_windows(self)
        cuts = {"door_front": min(k["15"] - 0.03, self.x_front_axle - radius - 0.07)}
        if len(windows) >= 2:
            cuts["door_b"] = (windows[0][0] + windows[1][1]) / 2
            rear = (windows[1][0] + windows[2][1]) / 2 if len(windows) >= 3 else windows[1][0] + 0.02
            cuts["door_rear"] = max(rear, self.x_rear_axle + radius + 0.07)
        cuts["hood_front"] = k["16"] - 0.06
        if p.deck_length > 0.2 and p.type_name != "pickup":
            cuts["trunk"] = k["12"] - 0.07
        return {name: (x - GAP / 2, x + GAP / 2) for name, x in cuts.items()}

    def row_point(self, x: float, row: int) -> np.ndarray:
        """The left-side loop vertex of `row` at station x."""
        y, z = self.half_loop([x])[0][row]
        return np.array([x, y, z], dtype=float)

    def top_point(self, x: float, y: float) -> np.ndarray:
        """The point of the upper surface (beltline edge to centre) at half width y on the loop of station x: on
        the mesh edge between the loop's two vertices round it, where loft.loft_body puts it once the glass wrap has
        shifted both (hood, roof, deck)."""
        loop = self.dense_half_loop([x])[0][ROW_DENSE[R_BELT]:][::-1]  # increasing y
        i = int(np.clip(np.searchsorted(loop[:, 0], y), 1, len(loop) - 1))
        (y0, z0), (y1, z1) = loop[i - 1], loop[i]
        t = (y - y0) / (y1 - y0) if y1 > y0 else 0.0
        ends = self.wrap(np.array([[x, y0, z0], [x, y1, z1]]))
        return (1 - t) * ends[0] + t * ends[1]

    # --- wheels ------------------------------------------------------------------------------------------
    @cached_property
    def wheel_y(self) -> float:
        """y of the wheel's mid-plane (left side)."""
        return self.p.width / 2 - 0.02 - self.p.tyre_width / 2

    @cached_property
    def hub_y(self) -> float:
        """y of the hub face (the wheel-centre keypoint) on the left."""
        return self.wheel_y + self.p.tyre_width / 2 - 0.015

    # --- stations ----------------------------------------------------------------------------------------
    def stations(self, spacing: float = 0.06) -> np.ndarray:
        """Loft stations, front to rear: a regular grid plus every profile break and keypoint x."""
        p, k = self.p, self.keyx
        n = max(int(np.ceil(self.length / spacing)), 8)
        xs = list(np.linspace(self.x_front, self.x_end, n + 1))
        xs += [q[0] for q in self.belt_curve] + [q[0] for q in self.top_curve or self.top_points] + list(k.values())
        zc, radius, half = self.arch
        t = np.radians(p.arch_angle)
        for xa in (self.x_front_axle, self.x_rear_axle):
            xs += list(xa + radius * np.sin(np.linspace(-np.pi / 2, np.pi / 2, 19)))
            xs += [xa + half, xa - half, xa + half + 0.002, xa - half - 0.002, xa + radius * np.sin(t),
                   xa - radius * np.sin(t)]
        if self.plan is None:
            for u in (0.04, 0.12, 0.25, 0.45, 0.7):
                xs += [self.x_front - u * p.end_round, self.x_end + u * p.end_round]
        xs += self.plan_stations()
        if "bed_front" in k:
            xs += [k["bed_front"] - 0.005, k["bed_rear"] + 0.005]
        if p.type_name == "truck":
            xs += [k["cab_back"] + 0.004, k["box_front"] - 0.004]
        for x0, x1 in self.seams().values():
            xs += [x0, x1]
        # the keypoints' stations are kept exact: candidates closer than the merge distance to one are dropped
        arch_kp = [xa + sg * v for xa in (self.x_front_axle, self.x_rear_axle) for sg in (1, -1)
                   for v in (half + (0.002 if p.sill < zc else 0.0), radius * np.sin(t))]
        fixed = np.array([v for n, v in k.items() if n.isdigit()] + arch_kp)
        fixed = fixed[(fixed >= self.x_end) & (fixed <= self.x_front)]
        xs = [x for x in xs if self.x_end <= x <= self.x_front and np.min(np.abs(fixed - x)) > 0.0015]
        xs = np.unique(np.round(np.concatenate([xs, fixed]), 5))[::-1]
        keep = [0]
        for i in range(1, len(xs)):  # drop near-duplicates, never the ends
            if xs[keep[-1]] - xs[i] > 0.0015 or i == len(xs) - 1:
                keep.append(i)
        return xs[keep]


# --- keypoints ---------------------------------------------------------------------------------------------


def keypoints(params: VehicleParams) -> np.ndarray:
    """The 36 keypoints (synth/vocabulary.py order) of the vehicle built from `params`, (36, 3) metres, vehicle frame."""
    prof = Profile(params)
    p, k = params, prof.keyx
    zc, radius, half = prof.arch
    drop = 0.002 if p.sill < zc else 0.0  # bottom of the arch's vertical edge
    t = np.radians(p.arch_angle)
    loop = lambda x: prof.half_loop([x])[0]  # noqa: E731
    left = np.zeros((18, 3))
    left[0] = (prof.x_rear_axle, prof.hub_y, p.wheel_radius)
    left[1] = (prof.x_front_axle, prof.hub_y, p.wheel_radius)
    for base, xa in ((2, prof.x_front_axle), (6, prof.x_rear_axle)):
        left[base + 0] = prof.row_point(xa + half + drop, R_SILL)
        left[base + 1] = prof.row_point(xa + radius * np.sin(t), R_SILL)
        left[base + 2] = prof.row_point(xa - radius * np.sin(t), R_SILL)
        left[base + 3] = prof.row_point(xa - half - drop, R_SILL)
    left[10] = prof.row_point(k["10"], R_SILL)
    if p.type_name == "truck":
        left[11] = prof.row_point(k["11"], R_BELT)
        y = loop(k["12"])[R_LEDGE, 0]
        left[12] = (k["12"], y, p.box_floor + 0.55 * (prof.box_top - p.box_floor))
        left[13] = prof.row_point(k["13"], R_REDGE)
    else:
        # on the deck at the tail's corner, inboard of the shoulder: where VeRi's annotators put the rear upper
        # corner (the trunk lid / tail-lamp top; measured with bench/keypoint_fit.py: 0.030 -> 0.019 on the
        # shoulder edge 8 cm further out)
        left[11] = prof.top_point(k["11"], loop(k["11"])[R_BELT, 0] - 0.045)
        left[12] = prof.top_point(k["12"], loop(k["12"])[R_LEDGE, 0] - p.rear_pillar)
        left[13] = prof.top_point(k["13"], loop(k["13"])[R_REDGE, 0] - 0.04)
    left[14] = prof.top_point(k["14"], loop(k["14"])[R_REDGE, 0] - 0.04)
    left[15] = prof.top_point(k["15"], loop(k["15"])[R_LEDGE, 0] - 0.04)
    # on the beltline edge itself, where the hood meets the side: seen from the side as from the front, as
    # VeRi's annotators mark it (an inset point hides behind the side from rear three-quarter views)
    left[16] = prof.top_point(k["16"], loop(k["16"])[R_BELT, 0])
    left[17] = prof.row_point(k["17"], R_SILL)
    right = left * np.array([1.0, -1.0, 1.0])
    return np.concatenate([left, right])


# --- mesh --------------------------------------------------------------------------------------------------


@dataclass
class Part:
    """One object's geometry: vertices, polygons (vertex index tuples), a material name per polygon."""

    verts: np.ndarray
    faces: list[tuple[int, ...]]
    materials: list[str]
    smooth: bool = True
    flags: dict = field(default_factory=dict)


WIDE_D_PILLAR = ("estate", "suv", "mpv", "van")  # types whose rearmost pillar is wide (side_windows)
B_PILLAR_BLACK_PROB = 0.7  # cars whose B pillar is blacked out (the rest: body colour)
REAR_PILLAR_PAINT_PROB = 0.85  # cars whose C / D pillars are body colour (the rest: a black "floating roof")


def side_windows(prof: Profile) -> list[tuple[float, float]]:
    """x intervals (rear x, front x) of side glass between the pillars, from the rearmost window forwards."""
    p, k = prof.p, prof.keyx
    rng = np.random.default_rng(p.style_seed)
    if p.type_name == "truck":
        return [(k["cab_back"] + 0.12, k["15"] - 0.15)]
    a, b = k["12"] + 0.10, k["15"] - 0.15
    if p.type_name == "pickup":
        a = k["13"] - 0.05
    pillar = 0.08
    if p.type_name == "bus":  # a coach has few long windows, a school bus many short ones
        pitch, pillar = {"coach": (1.7, 0.06), "school": (0.85, 0.10)}.get(style_of(p), (1.15, 0.08))
        n = int(np.clip(round((b - a - 1.0) / pitch), 3, 16))
        door = (k["15"] - 1.2, k["15"] - 0.15)
        cuts = np.linspace(a, door[0] - 0.1, n + 1)
        return [(cuts[i] + pillar / 2, cuts[i + 1] - pillar / 2) for i in range(n)]
    # one B pillar; estates, SUVs, MPVs and vans also have a C/D pillar
    n = 3 if p.type_name in ("estate", "suv", "mpv", "van") and rng.random() < 0.8 else 2
    if p.type_name == "sedan" and rng.random() < 0.3:
        n = 3
    cuts = np.linspace(a, b, n + 1)
    if n == 3:
        cuts[1] = a + 0.22 * (b - a)
        cuts[2] = a + 0.55 * (b - a)
    windows = [(cuts[i] + pillar / 2, cuts[i + 1] - pillar / 2) for i in range(n)]
    if p.type_name in WIDE_D_PILLAR:
        # the rearmost pillar of an estate, SUV, MPV or van: 18-26 cm of sheet metal round the rear corner (at 14 cm
        # the glass ran round it, a glass box on a light tint); own stream, the cuts stay
        windows[0] = (windows[0][0] + float(style_rng(p, 51).uniform(0.04, 0.12)), windows[0][1])
    return windows


def pillar_material(prof: Profile, windows: list[tuple[float, float]], x: float) -> str:
    """The material of a car's side between its windows at x: the A pillar's sail panel in front of the first
    window black, the B pillar behind it blacked out on most cars, the C / D pillars further back body colour on
    most (own streams). A black strip between dark panes vanishes at 100-250 px: every pillar black had made the
    cabin one band of glass."""
    p = prof.p
    if x > windows[-1][1]:
        return "trim"
    if len(windows) > 1 and x > windows[-2][1]:
        return "trim" if style_rng(p, 52).random() < B_PILLAR_BLACK_PROB else "paint"
    return "paint" if style_rng(p, 53).random() < REAR_PILLAR_PAINT_PROB else "trim"
