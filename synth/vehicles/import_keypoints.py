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
BELT_POINTS = 30  # surface samples the beltline edge is taken from (KeypointFinder._belt_y)
BELT_AGREE = 0.01  # m: a wider slab's edge within this confirms a narrower one's


def _outer(points: np.ndarray, share: float = 0.7) -> np.ndarray:
    """The points of a pane beyond `share` of its half width: near its pillars. A real windshield or rear window
    wraps round the cabin, so its edges are arcs whose middle stands 5-15 cm ahead of (behind) the corners that
    the keypoints mark."""
    if not len(points):
        return points
    half = np.abs(points[:, 1])
    return points[half >= share * half.max()]


def _mean_range(type_name: str, key: str, default: float) -> float:
    lo_hi = TYPE_SPACES.get(type_name, {}).get(key)
    return float(np.mean(lo_hi)) if lo_hi else default


class KeypointFinder:
    def __init__(self, body: np.ndarray, glass: np.ndarray, glass_normals: np.ndarray, front: dict, rear: dict,
                 type_name: str, lamps: dict | None = None, ends: tuple | None = None, shell: np.ndarray | None = None,
                 glass_end_ok: np.ndarray | None = None, parts: np.ndarray | None = None):
        body = body[np.argsort(body[:, 0])]
        self.body, self.glass, self.gn = body, glass, glass_normals
        self._bx = body[:, 0]
        # the painted shell where its material is named (a school bus's rub stripes, a truck's ribs are not on it)
        self.shell = body if shell is None or len(shell) < 50 else shell[np.argsort(shell[:, 0])]
        self._sx = self.shell[:, 0]
        self.parts = parts  # body surfaces that are not paint (lamp housings, trim), or None
        self.glass_end_ok = np.ones(len(glass), bool) if glass_end_ok is None else glass_end_ok
        self.front, self.rear, self.type_name = front, rear, type_name
        # the painted shell's ends where given (a bus's mirrors stand out ahead of its front)
        self.x_end, self.x_tip = ends if ends is not None else (float(body[:, 0].min()), float(body[:, 0].max()))
        self.height = float(body[:, 2].max())
        self.lamps = {k: v for k, v in (lamps or {}).items() if len(v)}
        self.tail_lamp_top = self._lamp_top("tail")
        self.head_lamp_top = self._lamp_top("head")
        self.methods: dict[int, tuple[str, str]] = {}
        self.kp = np.full((18, 3), np.nan)

    def _lamp_top(self, kind: str) -> float | None:
        """Top of the head (tail) lamps at the front (rear) end, not the clearance lamps on a roof."""
        tp = self.lamps.get(kind)
        if tp is None:
            return None
        tp = tp[tp[:, 2] < 0.6 * self.height]
        if not len(tp):
            return None
        tp = tp[tp[:, 0] < tp[:, 0].min() + 0.3] if kind == "tail" else tp[tp[:, 0] > tp[:, 0].max() - 0.3]
        return float(tp[:, 2].max())

    # -- helpers --
    def _slab(self, x, half=BIN):
        lo, hi = np.searchsorted(self._bx, [x - half, x + half])
        return self.body[lo:hi]

    def _shell_slab(self, x, half=BIN):
        lo, hi = np.searchsorted(self._sx, [x - half, x + half])
        return self.shell[lo:hi]

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
        """Arch ends where the body's lower edge comes down to the sill; the arch radius from the ends (a circle
        round the wheel centre through them: strips running across the wheel opening, as a school bus's rub
        strips, do not disturb it), else from the lower edge over the wheel; the upper points on the arch lip at
        the type's mean arch angle."""
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
            ra = float(np.median(radii)) if radii else 1.25 * r
            # ends of the arch: scanning outwards until the lower edge is down at the sill
            ends = []
            z_down = max(z_sill, min(zc, z_sill + 0.5 * (zc - z_sill))) + 0.02

            def down(x):  # the lower edge at the sill line
                e = self.lower_edge(x)
                return e is not None and e[1] <= z_down

            for j, sgn in ((0, 1.0), (3, -1.0)):
                x_end, found = xa + sgn * ra, False
                for d in np.arange(0.3 * r, 1.6 * r, BIN / 2):
                    # and 1 cm further on: a slab where no sample lay on the skin read the wheel house's inner
                    # wall as the lower edge (a bus's front arch end 82 cm off)
                    if down(xa + sgn * d) and down(xa + sgn * (d + BIN)):
                        x_end, found = xa + sgn * d, True
                        break
                e = self.lower_edge(x_end + sgn * 0.005)
                self.set(base + j, (x_end, e[0], e[1]), "arch end on the sill line", "measured")
                if found:
                    ends.append((abs(x_end - xa), e[1]))
            if len(ends) == 2:
                half = float(np.mean([h for h, _ in ends]))
                ra = float(np.hypot(half, max(np.mean([z for _, z in ends]) - zc, 0.0)))
            elif not radii:
                for j in range(4):
                    self.set(base + j, (np.nan,) * 3, "arch not found", "guessed")
                continue
            for j, sgn in ((1, 1.0), (2, -1.0)):
                x, z = xa + sgn * ra * np.sin(t), zc + ra * np.cos(t)
                s = self._slab(x, 0.02)
                s = s[np.hypot(s[:, 0] - x, s[:, 2] - z) < 0.02]
                e = self.lower_edge(x)
                y = max(float(s[:, 1].max()) if len(s) else -np.inf, e[0] if e is not None else -np.inf)
                self.set(base + j, (x, y, z), "arch lip at the type's mean arch angle", "inferred")

    def lower_corners(self):
        for i, sgn, x0 in ((17, 1.0, self.x_tip), (10, -1.0, self.x_end)):
            # the painted shell's corner (bumper strips, reflectors and tow hooks stand out of it); a truck's rear
            # ends in its dark chassis and bumper under the painted cargo body: the corner of the whole rear
            cloud = self.body if self.type_name == "truck" and sgn < 0 else self.shell
            near = cloud[(cloud[:, 0] - x0) * sgn > -0.6]
            arch_end = self.kp[2 if sgn > 0 else 9, 0]  # beyond the arch's flare, which stands out as far
            if np.isfinite(arch_end) and ((near[:, 0] - arch_end) * sgn > 0.03).sum() > 20:
                near = near[(near[:, 0] - arch_end) * sgn > 0.03]
            zlow = near[:, 2].min()
            z_cut = zlow + 0.35 * (self.height * 0.5 - zlow)
            low = near[near[:, 2] < max(z_cut, zlow + 0.1)]
            d = np.array([LOWER_CORNER_DIR[0] * sgn, LOWER_CORNER_DIR[1]])
            p = low[np.argmax(low[:, :2] @ d)]
            x_apex = self._rear_apex_x() if sgn < 0 else None
            if x_apex is not None:
                col = low[np.abs(low[:, 0] - x_apex) < 0.01]
                if len(col):  # the sill there: the outline's 45-degree support carried to the apex's station
                    k = np.argmax(col[:, 1] - col[:, 0])
                    p = np.array([x_apex, col[k, 1] - col[k, 0] + x_apex, col[k, 2]])
            around = cloud[np.linalg.norm(cloud[:, :2] - p[:2], axis=1) < 0.02]
            z = around[:, 2].min()
            self.set(i, (p[0], p[1], z), "plan corner apex on the bottom edge", "measured")

    def _upper_side_y(self, x, half=0.004):
        """y of the side at station x at the height of the row above the flare band (geometry.Profile.half_loop's
        R_LIGHT: min(14 cm, 30 % of the side) below the beltline edge, the support of the section towards (1, 2)
        more than 10 cm above the bottom edge), where the fender flares do not reach; None where not found."""
        s = self._shell_slab(x, half)
        e = self.lower_edge(x, half=half)
        if len(s) < 10 or e is None:
            return None
        up = s[s[:, 2] > e[1] + 0.1]
        if len(up) < 5:
            return None
        zb = float(up[np.argmax(up[:, 1] + 2.0 * up[:, 2]), 2])
        q = s[np.abs(s[:, 2] - (zb - min(0.14, 0.3 * (zb - e[1])))) < 0.015]
        return float(q[:, 1].max()) if len(q) else None

    def _rear_apex_x(self) -> float | None:
        """Station of the rear plan corner's apex (normal half-way between the side and the tail) on the body
        without its fender flares: the generator places the rear lower corner there, but on a short overhang the
        rear arch's flare, fading out towards the tail, stands outside the 45-degree tangent through that apex at
        the sill, so the support there lands on the flare. Read off the side above the flare band instead: the
        45-degree support of its plan outline, the vertex of a parabola through the stations within 1 cm of the
        best (the outline is flat-topped in that direction: the best single station wanders by centimetres)."""
        arch_end = self.kp[9, 0]
        if not np.isfinite(arch_end) or arch_end - self.x_end < 0.05:
            return None
        xs = np.arange(self.x_end + 0.01, arch_end, 0.005)
        ys = [self._upper_side_y(x) for x in xs]
        ok = np.array([y is not None for y in ys])
        if ok.sum() < 5:
            return None
        xs, ys = xs[ok], np.array([y for y in ys if y is not None])
        g = ys - xs
        top = g >= g.max() - APEX_FIT_BAND
        if top.sum() < 3:
            return float(xs[np.argmax(g)])
        xm = xs[top].mean()
        a, b, _ = np.polyfit(xs[top] - xm, g[top], 2)
        xv = xm - b / (2 * a) if a < 0 else xs[np.argmax(g)]
        return float(np.clip(xv, xs[top].min(), xs[top].max()))

    def box_floor(self) -> float:
        """A truck's cargo box floor: where the box's side steps in (geometry.Profile.half_loop: the box wall
        above the floor line stands 1 cm inside the chassis side below it), on the painted side behind the rear
        axle; the lowest height from which the side stays at the wall's plane."""
        x0, x1 = self.x_end + 0.25, self.rear["x"] - 1.6 * self.rear["radius"]
        side = self.shell[(self.shell[:, 0] > x0) & (self.shell[:, 0] < x1)]
        side = side[side[:, 2] > self.rear["z"] + self.rear["radius"]]
        if len(side) < 200:
            return float("nan")
        zs = np.arange(side[:, 2].min(), side[:, 2].max(), 0.01)
        y = np.array([side[(side[:, 2] >= z) & (side[:, 2] < z + 0.01), 1].max(initial=-np.inf) for z in zs])
        ok = np.isfinite(y)
        zs, y = zs[ok], y[ok]
        # the box's side, from the bottom up to where something narrower stands on it (a tanker's barrel)
        inset = y < y.max() - 0.03
        if inset.any():
            zs, y = zs[: int(np.argmax(inset))], y[: int(np.argmax(inset))]
        if len(y) < 10:
            return float("nan")
        wall = float(np.median(y[len(y) // 2:]))
        above = y <= wall + 0.0015
        # the lowest bin from which every bin up to the wall's middle is on the wall
        stays = np.flip(np.cumprod(np.flip(above[: len(y) // 2 + 1]))).astype(bool)
        if not stays.any():
            return float("nan")
        return float(zs[np.argmax(stays)])

    def _belt_y(self, x, z_max):
        """y of the beltline edge at station x below z_max: the support of the cross-section towards (1, 2). From
        the narrowest slab (4 mm up to 2 cm) that holds BELT_POINTS surface samples and whose edge the next wider
        slab confirms (within BELT_AGREE): a slab whose few samples missed the edge put a bus's rear corner 9 cm
        inboard and a truck's hood corner 6 cm, while always widening moved corners on a curving plan outwards."""
        found = []
        for half in (0.004, 0.008, 0.012, 0.02):
            s = self._slab(x, half)
            s = s[(s[:, 2] <= z_max) & (s[:, 2] > z_max - 0.3)]
            found.append((len(s), float(s[np.argmax(s[:, 1:] @ np.array([1.0, 2.0])), 1]) if len(s) else None))
        for (n, y), (_, wider) in zip(found, found[1:]):
            if n >= BELT_POINTS and y is not None and wider is not None and y >= wider - BELT_AGREE:
                return y
        return found[-1][1]

    def rear_upper_corner(self):
        if self.type_name == "truck":
            z = self.box_floor()
            x = self.kp[10, 0] + 0.002
            s = self._shell_slab(x, 0.02)
            s = s[(s[:, 2] > z + 0.005) & (s[:, 2] < z + 0.05)]  # the box side just above the floor line
            if np.isfinite(z) and len(s):
                self.set(11, (x, float(s[:, 1].max()), z), "cargo box floor height at the rear (the notch "
                                                           "behind the cab)", "inferred")
                return
        elif self.type_name == "bus":
            # the tail's shoulder 5 cm above the tail lamps (heavy.ends), 4.5 cm inboard of the beltline edge
            x = self.kp[10, 0] + 0.004
            if self.tail_lamp_top is not None:
                z, how = self.tail_lamp_top + 0.05, "5 cm above the tail lamps, inboard of the beltline edge"
            else:
                z, how = self.kp[10, 2] + 0.25 * (self.height - self.kp[10, 2]), "guessed height"
            y = self._belt_y(x, z + 0.01)
            if y is not None:
                self.set(11, (x, y - DECK_INSET, z), how, "inferred")
                return
        # on the deck (boot lid / tailgate top) 4.5 cm inboard of the beltline edge, as geometry.keypoints does
        x = self.kp[10, 0] + 0.01
        s = self._slab(x, 0.012)
        s = s[s[:, 2] > self.kp[10, 2] + 0.1]
        if len(s) == 0:
            self.set(11, (np.nan,) * 3, "tail top not found", "guessed")
            return
        # the beltline edge is the paint's: a tail lamp wrapping round the corner up to it stands out further
        paint = self._shell_slab(x, 0.012)
        paint = paint[paint[:, 2] > self.kp[10, 2] + 0.1]
        edge = paint if len(paint) else s
        belt = edge[np.argmax(edge[:, 1:] @ np.array([1.0, 2.0]))]
        y = belt[1] - DECK_INSET
        z = self._tail_top(x, y)
        if z is not None:
            self.set(11, (x, y, z), "where the tail, inboard of the beltline edge, comes forward to the rear "
                                    "lower corner's station", "measured")
            return
        col = s[(np.abs(s[:, 1] - y) < 0.015) & (s[:, 2] < belt[2] + 0.06)]  # the deck, not a tailgate above
        z = float(col[:, 2].max()) if len(col) else float(belt[2])
        self.set(11, (x, y, z), "tail top, inboard of the beltline edge", "measured")

    def _tail_top(self, x, y) -> float | None:
        """Height at which the rear face, in the vertical plane at `y`, has come forward to station `x` (the rear
        lower corner's + 1 cm): a boot lid's or tailgate's edge over the rounded tail. Below it the tail stands
        behind that station, bulging out at the plan's corner; a deck (sedan) or an upright tailgate (SUV, van:
        no deck to search, the old rule found the window's base) runs forward of it above."""
        col = self.body[(np.abs(self.body[:, 1] - y) < 0.01) & (self.body[:, 0] < x + 0.3)
                        & (self.body[:, 2] > self.kp[10, 2] + 0.1)]
        if len(col) < 20:
            return None
        step = 0.02
        bins = np.floor((col[:, 2] - col[:, 2].min()) / step).astype(int)
        front = np.full(bins.max() + 1, np.inf)
        np.minimum.at(front, bins, col[:, 0])  # the rearmost surface point at each height
        zs = col[:, 2].min() + step * (np.arange(len(front)) + 0.5)
        ok = np.isfinite(front)  # a height with no sample of the rear face would read as "forward": skipped
        zs, front = zs[ok], front[ok]
        behind = front < x
        # the first height from which the next few are all forward of x (a gap in the samples is not the edge)
        run = 4
        k = next((i for i in range(1, len(behind) - run + 1) if behind[i - 1] and not behind[i: i + run].any()), None)
        if k is None:
            return None
        x0, x1 = front[k - 1], front[k]
        t = (x - x0) / (x1 - x0) if x1 > x0 else 1.0
        return float(zs[k - 1] + t * (zs[k] - zs[k - 1]))

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
            # the hood front line 2-3 cm above the head lamp housings (heavy.ends), on the beltline edge
            top, how = self._lamp_housing_top(), "2.5 cm above the head lamp housing, on the beltline edge"
            if top is None:
                top, how = self.head_lamp_top, "2.5 cm above the head lamps, on the beltline edge"
            x, z = self.kp[17, 0] - 0.002, top + 0.025
            y = self._belt_y(x, z + 0.01)
            if y is not None:
                self.set(16, (x, y, z), how, "inferred")
                return
        near = self.body[(self.body[:, 0] > self.x_tip - 1.0) & (self.body[:, 1] > 0.3)]
        if np.isfinite(self.kp[17, 0]):  # behind the lower corner's apex (a bowed nose stands out ahead of it)
            near = near[near[:, 0] <= self.kp[17, 0]]
        ws_base = self._windshield_base_x()
        if ws_base is not None:
            near = near[near[:, 0] > self.x_tip - 0.4 * (self.x_tip - ws_base) - 0.02]
        if not len(near):  # (a model turned back to front: nothing between the windshield and the nose)
            self.set(16, (np.nan,) * 3, "no hood front between the windshield and the nose", "guessed")
            return
        # the nose falls faster than 1 in 2 towards the tip, the hood rises slower than that towards the cowl
        p = near[np.argmax(near[:, 0] + 2.0 * near[:, 2])]
        x, how, conf = p[0], "hood front corner on the beltline edge", "measured"
        setback = _mean_range(self.type_name, "nose_setback", 0.09)
        if np.isfinite(self.kp[17, 0]) and self.kp[17, 0] - x < 0.75 * setback:
            # a nose rounded in plan hides the turn into the hood (more so where the wings round off more than the
            # bumper, as on real cars: the turn read there was 4-6 cm ahead): the type's mean setback behind the
            # lower corner
            x = self.kp[17, 0] - setback
            how, conf = "hood front on the beltline edge, the type's mean setback behind the lower corner", "inferred"
        s = self._slab(x, 0.008)
        s = s[s[:, 2] > p[2] - 0.2]
        q = s[np.argmax(s[:, 1:] @ np.array([1.0, 2.0]))]
        self.set(16, (x, q[1], q[2]), how, conf)

    def _lamp_housing_top(self):
        """Top of what surrounds the head lamp lenses on the front face (a housing, not the paint), else None."""
        lamps, parts = self.lamps.get("head"), self.parts
        if lamps is None or parts is None or not len(parts):
            return None
        lens = lamps[(lamps[:, 0] > lamps[:, 0].max() - 0.3) & (lamps[:, 2] < 0.6 * self.height)]
        if not len(lens):
            return None
        top = lens[:, 2].max()
        y0, y1 = lens[:, 1].min() - 0.02, lens[:, 1].max() + 0.02

        def band(pts):
            return pts[(pts[:, 1] > y0) & (pts[:, 1] < y1) & (pts[:, 2] > top - 0.02) & (pts[:, 2] < top + 0.1)]

        # on the face: what stands on it, not what lies behind it (a truck cab's lower block, 8 cm in, tops out
        # at the height a housing would: its hood corner read 7 cm high)
        face = band(self.shell) if self.shell is not None else np.zeros((0, 3))
        face_x = float(np.percentile(face[:, 0], 99)) if len(face) else self.x_tip
        q = band(parts)
        q = q[q[:, 0] > min(face_x, self.x_tip) - 0.02]
        return float(q[:, 2].max()) if len(q) else None

    # -- glass --
    def _windows(self):
        """(windshield, rear window) glass: panes facing along x (either winding), ahead of / behind the middle
        of the glass facing along x."""
        n = np.abs(self.gn)
        ends = (n[:, 0] > 0.15) & (n[:, 0] > 0.7 * n[:, 1]) & self.glass_end_ok
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
        if len(rw) < 10:  # no rear window: a cargo box's rear face (a truck's cab has its windshield only)
            x = self.kp[10, 0]
            s = self._shell_slab(x, 0.02)  # the painted box: not the stakes, the load or a tarpaulin above it
            floor = self.box_floor()
            top = s[:, 2].max() if len(s) else np.nan
            z12 = floor + 0.55 * (top - floor)
            q = s[np.abs(s[:, 2] - z12) < 0.05] if np.isfinite(z12) else s[:0]
            if len(q):
                self.set(12, (x, q[:, 1].max(), z12), "cargo box rear face", "inferred")
                self._cross_support(13, s[s[:, 2] > top - 0.2], np.array([1.0, 1.0]), "cargo box top edge",
                                    "inferred")
                return
            if len(rw) < 10:
                self.set(12, (np.nan,) * 3, "no rear window and no box face", "guessed")
                self.set(13, (np.nan,) * 3, "no rear window and no box face", "guessed")
                return
        pillar = _mean_range(self.type_name, "rear_pillar", REAR_PILLAR_DEFAULT)
        frame = 0.0 if self.type_name in ("bus", "truck") else BACKLIGHT_FRAME
        self._corner(12, rw, float(rw[:, 0].min()), +1, pillar - frame, "rear window bottom corner, C-pillar inset",
                     conf="inferred")
        self._corner(13, rw, float(rw[:, 0].max()), -1, GLASS_INSET_TOP - frame, "rear window top corner, inset",
                     top=True)

    def _corner(self, i, pane, x_edge, inward, inset, method, conf="measured", top=False):
        """Corner of a window pane at its bottom (or top) edge, `inset` inside the outer glass edge. The edge is
        the pane's lowest (highest) band, so raked and upright panes alike; at the roof the glass edge is the one
        up there, not the side windows' below it."""
        del x_edge
        heavy = self.type_name in ("bus", "truck")
        z = pane[:, 2]
        band = pane[z > z.max() - 0.03] if top else _outer(pane[z < z.min() + 0.03])
        xe, ze = float(band[:, 0].mean()), float(band[:, 2].mean())
        if not top and not heavy:  # on a raked pane the band's middle is centimetres up it: its lowest points
            base = band[band[:, 2] < band[:, 2].min() + 0.008]
            xe = float(base[:, 0].mean())
        h = float(np.ptp(z))
        mid = pane[(z > z.min() + 0.3 * h) & (z < z.min() + 0.7 * h)]
        wrapped = None
        if top and not heavy:
            # a car's pane wraps round the cabin: its top edge is an arc whose middle stands 5-15 cm ahead of
            # (behind) the corners, so the corner is the edge's end near the pillar, where the pane meets the roof
            # (all the glass there: the pane's facing test drops its edge, which turns to the roof and the pillar)
            upper = pane[z > z.min() + 0.5 * h]
            y_top = float(np.abs(upper[:, 1]).max()) if len(upper) else 0.0
            g = self.glass
            strip = g[(np.abs(g[:, 1]) > 0.7 * y_top) & (np.abs(g[:, 1]) < 0.85 * y_top) & (g[:, 2] > z.min() + 0.5 * h)
                      & (g[:, 0] > pane[:, 0].min() - 0.15) & (g[:, 0] < pane[:, 0].max() + 0.15)]
            if len(strip) > 10:
                wrapped = float(strip[:, 0].min() if inward > 0 else strip[:, 0].max())
                ze = float(strip[np.abs(strip[:, 0] - wrapped) < 0.02, 2].max())
        if wrapped is not None:
            xe = wrapped
        elif top and not heavy and len(mid) > 20 and np.ptp(mid[:, 2]) > 0.05:
            # a car's pane curves into the roof through a fillet, so its top band lies along the roof: the
            # corner is where the pane's straight middle, carried on, reaches the top (geometry.keypoints puts
            # it at the profile's corner before filleting)
            k, c = np.polyfit(mid[:, 2], mid[:, 0], 1)
            if abs(k * z.max() + c - xe) < 0.25:
                xe = float(k * z.max() + c)
        glass_near = self.glass[np.abs(self.glass[:, 0] - xe) < 0.015]
        if top and len(glass_near):
            glass_near = glass_near[glass_near[:, 2] > glass_near[:, 2].max() - 0.06]
        elif len(glass_near):
            # (a car's pane narrows upwards between its painted pillars: its width where it starts)
            glass_near = glass_near[np.abs(glass_near[:, 2] - ze) < (0.06 if heavy else 0.02)]
        y_edge = float(glass_near[:, 1].max()) if len(glass_near) else float(band[:, 1].max())
        if top and self.type_name == "bus":
            # a bus's glass runs on over the roof's crown: the roof edge is where the crown turns down to the
            # side (the support of the cross-section towards (1, 4)), the corner 4 cm inside it
            g = self.glass[np.abs(self.glass[:, 0] - xe) < 0.015]
            g = g[g[:, 2] > g[:, 2].max() - 0.3]
            if len(g):
                y_edge, inset = float(g[np.argmax(g[:, 1] + 4.0 * g[:, 2]), 1]), GLASS_INSET_WS
        if not top and not heavy:
            inset -= PILLAR_AT_BASE
        y = max(y_edge - inset, 0.0)
        if not top:
            # on the pane's bottom edge: a column over the corner would climb an upright or raked pane
            zz = float(band[:, 2].min())
        else:
            # at the roof, the surface next to the pane's top (not a spoiler standing above it)
            both = np.concatenate([self.body, self.glass])
            col = both[(np.linalg.norm(both[:, :2] - (xe, y), axis=1) < 0.02) & (np.abs(both[:, 2] - ze) < 0.04)]
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
GLASS_INSET_TOP = 0.04  # roof corners: 4 cm inside the glass's edge at the roof, which the pillars frame
# a car's painted A / C pillar narrows its windshield and rear window from their base up: where the base corners'
# glass is measured (its lowest centimetre), its edge stands this far inside the corner's column (loft.loft_body)
PILLAR_AT_BASE = 0.011
# a car's rear window is framed by its C / D pillars a further 2.6-3.6 cm in from the roof's edge (loft.loft_body):
# its glass corners are that much nearer the corner keypoints than a windshield's
BACKLIGHT_FRAME = 0.031
REAR_PILLAR_DEFAULT = 0.11
LOWER_CORNER_DIR = (0.7071, 0.7071)
APEX_FIT_BAND = 0.01  # m: stations this close to the best 45-degree support go into the rear apex fit
