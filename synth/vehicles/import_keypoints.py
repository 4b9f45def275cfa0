"""The 36 keypoints of an imported vehicle from its geometry, placed as synth/vehicles/geometry.py places them
on the procedural models (see `keypoints` there). Pure numpy, vehicle frame, metres.

Inputs are point clouds folded onto the left side (y -> |y|): the body (every surface but wheels, interior
and plates), the glass (with normals), and the wheels found by synth/vehicles/importer.py. Each keypoint comes
with a method and a confidence: "measured" (read off the geometry), "inferred" (from a measured feature and a
rule of the procedural generator, e.g. the C-pillar inset), "guessed" (a fallback from proportions).
"""
from __future__ import annotations

import numpy as np

from synth.vehicles.params import TYPE_SPACES

BIN = 0.01


def _mean_range(type_name: str, key: str, default: float) -> float:
    lo_hi = TYPE_SPACES.get(type_name, {}).get(key)
    return float(np.mean(lo_hi)) if lo_hi else default


class KeypointFinder:
    def __init__(self, body: np.ndarray, glass: np.ndarray, glass_normals: np.ndarray, front: dict, rear: dict,
                 type_name: str, lamp_tops: dict | None = None):
        self.tail_lamp_top = (lamp_tops or {}).get("tail")
        self.head_lamp_top = (lamp_tops or {}).get("head")
        body = body[np.argsort(body[:, 0])]
        self.body, self.glass, self.gn = body, glass, glass_normals
        self._bx = body[:, 0]
        self.front, self.rear, self.type_name = front, rear, type_name
        self.x_tip, self.x_end = float(body[:, 0].max()), float(body[:, 0].min())
        self.height = float(body[:, 2].max())
        self.methods: dict[int, tuple[str, str]] = {}
        self.kp = np.full((18, 3), np.nan)

    # -- helpers --
    def _slab(self, x, half=BIN):
        lo, hi = np.searchsorted(self._bx, [x - half, x + half])
        return self.body[lo:hi]

    def lower_edge(self, x, band=0.06, half=BIN):
        """(y, z) of the outermost skin's lowest point at station x: the sill / arch lip."""
        s = self._slab(x, half)
        if len(s) == 0:
            return None
        s = s[s[:, 1] >= s[:, 1].max() - band]
        z = s[:, 2].min()
        lip = s[s[:, 2] <= z + 0.02]
        return float(lip[:, 1].max()), float(z)

    def set(self, i, point, method, confidence):
        self.kp[i] = point
        self.methods[i] = (method, confidence)

    # -- parts --
    def wheels(self):
        for i, w in ((0, self.rear), (1, self.front)):
            self.set(i, (w["x"], w["y_hub"], w["z"]), "wheel hub face centre", "measured")

    def arches(self):
        t = np.radians(_mean_range(self.type_name, "arch_angle", 45.0))
        mid = (self.front["x"] + self.rear["x"]) / 2
        span = self.front["x"] - self.rear["x"]
        sills = [self.lower_edge(x) for x in np.linspace(mid - 0.2 * span, mid + 0.2 * span, 9)]
        z_sill = float(np.median([s[1] for s in sills if s is not None]))
        for base, w in ((2, self.front), (6, self.rear)):
            xa, zc, r = w["x"], w["z"], w["radius"]
            radii = []
            for x in np.arange(xa - 0.5 * r, xa + 0.5 * r, BIN):
                e = self.lower_edge(x, half=0.003)
                if e is not None and e[1] > zc:
                    radii.append(np.hypot(x - xa, e[1] - zc))
            if not radii:
                for j in range(4):
                    self.set(base + j, (np.nan,) * 3, "arch not found", "guessed")
                continue
            ra = float(np.median(radii))
            for j, sgn in ((1, 1.0), (2, -1.0)):
                x, z = xa + sgn * ra * np.sin(t), zc + ra * np.cos(t)
                s = self._slab(x, 0.02)
                s = s[np.hypot(s[:, 0] - x, s[:, 2] - z) < 0.02]
                y = float(s[:, 1].max()) if len(s) else self.lower_edge(x)[0]
                self.set(base + j, (x, y, z), "arch lip at the type's mean arch angle", "inferred")
            # ends of the arch: scanning outwards until the lower edge is down at the sill
            for j, sgn in ((0, 1.0), (3, -1.0)):
                x_end = xa + sgn * ra
                for d in np.arange(0.3 * r, 1.6 * r, BIN / 2):
                    e = self.lower_edge(xa + sgn * d)
                    if e is not None and e[1] <= max(z_sill, min(zc, z_sill + 0.5 * (zc - z_sill))) + 0.02:
                        x_end = xa + sgn * d
                        break
                e = self.lower_edge(x_end + sgn * 0.005)
                self.set(base + j, (x_end, e[0], e[1]), "arch end on the sill line", "measured")

    def lower_corners(self):
        for i, sgn, x0 in ((17, 1.0, self.x_tip), (10, -1.0, self.x_end)):
            near = self.body[(self.body[:, 0] - x0) * sgn > -0.6]
            zlow = near[:, 2].min()
            z_cut = zlow + 0.35 * (self.height * 0.5 - zlow)
            low = near[near[:, 2] < max(z_cut, zlow + 0.1)]
            d = np.array([0.55 * sgn, 0.83])
            p = low[np.argmax(low[:, :2] @ d)]
            around = self.body[np.linalg.norm(self.body[:, :2] - p[:2], axis=1) < 0.02]
            z = around[:, 2].min()
            self.set(i, (p[0], p[1], z), "plan corner apex on the bottom edge", "measured")

    def box_floor(self) -> float:
        """A truck's cargo box floor: the bottom of the dip in the top profile between cab and box."""
        xs = np.arange(self.x_end + 0.25 * (self.x_tip - self.x_end), self.x_tip - 0.2 * (self.x_tip - self.x_end),
                       0.02)
        tops = [self._slab(x, 0.01)[:, 2].max() for x in xs if len(self._slab(x, 0.01))]
        return float(min(tops)) if tops else float("nan")

    def rear_upper_corner(self):
        x = self.kp[10, 0] + 0.005
        if self.type_name in ("bus", "truck"):
            if self.type_name == "truck":
                z, how = self.box_floor(), "cargo box floor height at the rear"
            elif self.tail_lamp_top is not None:
                z, how = self.tail_lamp_top - 0.03, "top of the tail lamps, on the side"
            else:
                z, how = self.kp[10, 2] + 0.35 * (self.height - self.kp[10, 2]), "guessed height"
            s = self._slab(x, 0.02)
            s = s[np.abs(s[:, 2] - z) < 0.05]
            if len(s):
                self.set(11, (x, float(s[:, 1].max()), z), how, "inferred")
                return
        x = self.kp[10, 0] + 0.01
        # on the deck (boot lid / tailgate top) 4.5 cm inboard of the beltline edge, as geometry.keypoints does
        x = self.kp[10, 0] + 0.01
        s = self._slab(x, 0.012)
        s = s[s[:, 2] > self.kp[10, 2] + 0.1]
        if len(s) == 0:
            self.set(11, (np.nan,) * 3, "tail top not found", "guessed")
            return
        belt = s[np.argmax(s[:, 1:] @ np.array([1.0, 2.0]))]
        y = belt[1] - DECK_INSET
        col = s[(np.abs(s[:, 1] - y) < 0.015) & (s[:, 2] < belt[2] + 0.06)]  # the deck, not a tailgate above
        z = float(col[:, 2].max()) if len(col) else float(belt[2])
        self.set(11, (x, y, z), "tail top, inboard of the beltline edge", "measured")

    def _cross_support(self, i, s, d, method, conf):
        if len(s) == 0:
            self.set(i, (np.nan,) * 3, method, "guessed")
            return
        p = s[np.argmax(s[:, 1:] @ d)]
        self.set(i, p, method, conf)

    def front_upper_corner(self):
        """Where the nose turns into the hood, on the beltline edge: support of the side profile. Buses and
        trucks have flat fronts without that turn: the top of their head lamps."""
        if self.type_name in ("bus", "truck") and self.head_lamp_top is not None:
            x = self.x_tip - 0.01
            s = self._slab(x, 0.02)
            z = self.head_lamp_top + 0.01
            s = s[np.abs(s[:, 2] - z) < 0.05]
            if len(s):
                self.set(16, (x, float(s[:, 1].max()), z), "top of the head lamps, on the side", "inferred")
                return
        near = self.body[(self.body[:, 0] > self.x_tip - 1.0) & (self.body[:, 1] > 0.3)]
        ws_base = self._windshield_base_x()
        if ws_base is not None:
            near = near[near[:, 0] > self.x_tip - 0.4 * (self.x_tip - ws_base) - 0.02]
        # the nose falls faster than 1 in 2 towards the tip, the hood rises slower than that towards the cowl
        p = near[np.argmax(near[:, 0] + 2.0 * near[:, 2])]
        s = self._slab(p[0], 0.008)
        s = s[s[:, 2] > p[2] - 0.2]
        q = s[np.argmax(s[:, 1:] @ np.array([1.0, 2.0]))]
        self.set(16, (p[0], q[1], q[2]), "hood front corner on the beltline edge", "measured")

    # -- glass --
    def _windows(self):
        """(windshield, rear window) glass: panes facing along x (either winding), ahead of / behind the middle
        of the glass facing along x."""
        n = np.abs(self.gn)
        ends = (n[:, 0] > 0.15) & (n[:, 0] > 0.7 * n[:, 1])
        if not ends.any():
            return self.glass[:0], self.glass[:0]
        g = self.glass[ends]
        xs = np.sort(g[:, 0])
        gaps = np.diff(xs)
        if len(gaps) and gaps.max() > 0.3:  # two panes: windshield ahead, rear window behind
            cut = xs[int(np.argmax(gaps))] + gaps.max() / 2
            return g[g[:, 0] > cut], g[g[:, 0] < cut]
        if np.median(g[:, 0]) > (self.x_tip + self.x_end) / 2:  # one pane (a truck's cab): the windshield
            return g, g[:0]
        return g[:0], g

    def _windshield_base_x(self):
        ws, _ = self._windows()
        return float(ws[:, 0].max()) if len(ws) else None

    def windows(self):
        ws, rw = self._windows()
        if len(ws) < 10:
            for i in (14, 15):
                self.set(i, (np.nan,) * 3, "no windshield glass", "guessed")
        else:
            self._corner(15, ws, float(ws[:, 0].max()), -1, GLASS_INSET_WS, "windshield bottom corner, inset")
            self._corner(14, ws, float(ws[:, 0].min()), +1, GLASS_INSET_TOP, "windshield top corner, inset",
                         top=True)
        if self.type_name == "truck" or len(rw) < 10:  # no rear window: a cargo box's rear face
            x = self.kp[10, 0]
            s = self._slab(x, 0.02)
            top = s[:, 2].max()
            floor = self.box_floor()
            z12 = floor + 0.55 * (top - floor)
            q = s[np.abs(s[:, 2] - z12) < 0.05]
            if len(q) == 0 or not np.isfinite(z12):
                self.set(12, (np.nan,) * 3, "no rear window and no box face", "guessed")
                self.set(13, (np.nan,) * 3, "no rear window and no box face", "guessed")
                return
            self.set(12, (x, q[:, 1].max(), z12), "cargo box rear face", "inferred")
            self._cross_support(13, s[s[:, 2] > top - 0.2], np.array([1.0, 1.0]), "cargo box top edge", "inferred")
            return
        pillar = _mean_range(self.type_name, "rear_pillar", REAR_PILLAR_DEFAULT)
        self._corner(12, rw, float(rw[:, 0].min()), +1, pillar, "rear window bottom corner, C-pillar inset",
                     conf="inferred")
        self._corner(13, rw, float(rw[:, 0].max()), -1, GLASS_INSET_TOP, "rear window top corner, inset", top=True)

    def _corner(self, i, pane, x_edge, inward, inset, method, conf="measured", top=False):
        """Corner of a window pane at its bottom (or top) edge, `inset` inside the outer glass edge. The edge is
        the pane's lowest (highest) band, so raked and upright panes alike; at the roof the glass edge is the one
        up there, not the side windows' below it."""
        del x_edge, inward
        z = pane[:, 2]
        band = pane[z > z.max() - 0.03] if top else pane[z < z.min() + 0.03]
        xe, ze = float(band[:, 0].mean()), float(band[:, 2].mean())
        glass_near = self.glass[np.abs(self.glass[:, 0] - xe) < 0.015]
        if top and len(glass_near):
            glass_near = glass_near[glass_near[:, 2] > glass_near[:, 2].max() - 0.06]
        elif len(glass_near):
            glass_near = glass_near[np.abs(glass_near[:, 2] - ze) < 0.06]
        y_edge = float(glass_near[:, 1].max()) if len(glass_near) else float(band[:, 1].max())
        y = max(y_edge - inset, 0.0)
        both = np.concatenate([self.body, self.glass])
        col = both[(np.linalg.norm(both[:, :2] - (xe, y), axis=1) < 0.02) & (np.abs(both[:, 2] - ze) < 0.08)]
        zz = float(col[:, 2].max()) if len(col) else ze
        self.set(i, (xe, y, zz), method, conf)

    def run(self):
        self.wheels()
        self.arches()
        self.lower_corners()
        self.rear_upper_corner()
        self.front_upper_corner()
        self.windows()
        return self.kp, self.methods


GLASS_INSET_WS = 0.04
DECK_INSET = 0.045  # the rear upper corner sits this far inboard of the beltline edge
GLASS_INSET_TOP = 0.055  # roof corners: measured from the glass edge up at the roof (the roof edge is 1.5 cm in)
REAR_PILLAR_DEFAULT = 0.11
