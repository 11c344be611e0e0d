"""Racing-line optimisers: the line a car should drive inside the band of :mod:`racingline.lines.geometry`.

Every method works on the same representation: the band resampled to stations about ``spacing_m`` apart
(centre ``c_i``, unit left normal ``n_i``, limits ``lo_i <= alpha_i <= hi_i``), and a line is one lateral
offset per station, ``p_i = c_i + alpha_i n_i``. Methods (:data:`METHODS`):

- ``centerline``: the simulated road's centre (``alpha`` ~ 0: a periodic spline through the road's centre
  points, so the tile corners do not show as curvature spikes in its speed profile).
- ``mincurv``: TUM's minimum-curvature QP (Heilmeier et al. 2019, "Minimum curvature trajectory planning
  and control for an autonomous race car"): the curvature linearised around the current line, squared,
  summed and minimised subject to the band limits, re-linearised until the line stops moving. Two
  changes, both because DeepRacer corners are tight for the band (radius 0.4-2 m against +-0.16 m): the
  objective is the curvature energy ``sum kappa_i^2 h_i`` (``integral kappa^2 ds``), and the linearisation
  is exact (TUM freezes the line's first derivatives, which on a ring makes the inner circle the fixed
  point); see :func:`_energy_lines`.
- ``k1999``: Rémi Coulom's K1999 relaxation as the DeepRacer community notebooks run it
  (``improve_race_line``): each point moves, within the band, to where its curvature (Menger, through it
  and its two neighbours) equals the mean of its neighbours' curvatures; many sweeps. Differences: the
  notebooks sweep point by point (Gauss-Seidel), here a sweep updates every third point at once (an update
  reads two neighbours each side, so it is the same sweep, vectorised); a point moves along its station
  (the notebooks move it toward its neighbours' midpoint) by Newton steps (the notebooks bisect); the
  curvature is signed (the notebooks' unsigned curvature asks an S-bend's inflection to curve); and sweeps
  on coarser bands first (:data:`K1999_LEVELS`) carry the shape along the track, which at 0.1 m spacing
  would take tens of thousands of sweeps.
- ``shortest``: the shortest closed line in the band: ``sum |p_{i+1} - p_i|^2`` minimised as a QP,
  re-weighted by ``1 / |p_{i+1} - p_i|`` (a few iterations) so that the sum of lengths is what is minimised.
- ``mintime``: the fastest line, by the speed profile's flying-lap estimate, of the family that minimises
  ``curvature energy + lambda * length`` (``lambda = 0``: ``mincurv``; large: near ``shortest``): a search
  over ``lambda``, keeping the best line seen, ``lambda = 0`` included, so ``mintime`` is never slower than
  ``mincurv`` by the estimate. (Blends ``(1 - w) alpha_mincurv + w alpha_shortest`` were tried first: with
  the measured car limits the best blend was ``w = 0`` on every 2022 track tried; this family gains
  1-2 %.)

The QPs are solved with Clarabel (an interior-point solver for sparse conic problems; see pyproject.toml
for why). The offsets are clipped to the band after every solve, so a line never leaves it by a
solver tolerance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse

from racingline.choices import LINE_METHODS
from racingline.lines.geometry import band_from_edges, check_margin, road_edges_m, station_count
from racingline.lines.line import LineError, RacingLine
from racingline.tracks.files import Track

__all__ = ["METHODS", "optimize_line", "optimize_offsets"]

#: Line methods, in the order the CLI lists them.
METHODS = LINE_METHODS  # the choice list lives in racingline.choices

#: mincurv: stop re-linearising when no offset moved more than this (metres) ...
MINCURV_TOL_M = 1e-4
#: ... or the objective fell by less than this fraction (the energy is flat along straights) ...
MINCURV_RTOL = 1e-6
#: ... or after this many QPs.
MINCURV_MAX_ITER = 30
#: shortest: re-weighted QPs.
SHORTEST_ITER = 4
#: k1999: (station spacing factor, sweeps) from coarse to fine; the last level is the requested spacing.
K1999_LEVELS = ((4.0, 600), (2.0, 300), (1.0, 300))
#: k1999: Newton steps per point and sweep toward the target curvature.
K1999_NEWTON = 2
#: mintime: length weights (1/m) tried, a geometric grid from MINTIME_LAMBDA0 ...
MINTIME_LAMBDA0 = 0.01
MINTIME_LAMBDA_RATIO = 2.0
MINTIME_LAMBDA_STEPS = 10
#: ... abandoned after this many estimates in a row no better than the best; then golden-section steps.
MINTIME_PATIENCE = 2
MINTIME_GOLDEN_STEPS = 3
#: mintime: convergence of each line of the family (metres).
MINTIME_TOL_M = 5e-4


def optimize_line(track: Track, method: str, *, margin_m: float = 0.05, limits: Any = None,
                  spacing_m: float = 0.1, reverse: bool = False) -> RacingLine:
    """Optimise a racing line around ``track`` and attach its speed profile.

    Args:
        track: the track as loaded (its own direction).
        method: one of :data:`METHODS`.
        margin_m: metres the car's side keeps inside the simulated road edge (see
            :func:`racingline.lines.geometry.band`).
        limits: the car's limits (:class:`racingline.lines.limits.CarLimits`); default
            :func:`racingline.lines.limits.load_limits`.
        spacing_m: distance between line points, metres (about).
        reverse: make the line for ``track`` driven the other way (``track.reversed()``); the line's
            ``track_name`` stays ``track.name`` and its ``reverse`` is set, which is how the drivers
            and exports find the direction again.

    Returns:
        A :class:`RacingLine` (metres, point 0 at the track's waypoint 0) with ``speed_mps`` and ``meta``:
        ``lap_time_flying_s``, ``lap_time_standing_s``, ``length_m``, ``spacing_m``, ``n_points``,
        ``band_clearance_m`` (smallest distance to the band's edge), ``optimize_time_s`` (the optimiser
        alone), ``solver`` and the method's statistics (``qp_solves``, ``iterations``, ``converged``,
        ``last_change_m``, ``curvature_energy``; ``mintime``: ``length_weight``, ``lines_tried``,
        ``mincurv_lap_time_flying_s``; ``k1999``: ``sweeps``, ``levels``).

    Raises:
        LineError: unknown method, a bad spacing, or a margin that leaves no band (the message names
            the track and the widest allowed margin).
    """
    if method not in METHODS:
        raise LineError(f"method {method!r}: unknown, expected one of {', '.join(METHODS)}")
    if not (isinstance(spacing_m, (int, float)) and math.isfinite(spacing_m) and 0.01 <= spacing_m <= 1.0):
        raise LineError(f"spacing_m={spacing_m!r}: must be between 0.01 and 1.0 m")
    drive = track.reversed() if reverse else track
    left, right = road_edges_m(drive)
    check_margin(track, margin_m, left, right)
    if limits is None:
        from racingline.lines.limits import load_limits

        limits = load_limits()
    from racingline.lines.speed import speed_profile

    def lap_time(xy: np.ndarray) -> float:
        return float(speed_profile(xy, limits).lap_time_flying_s)

    n = station_count(left, right, spacing_m)
    center, normal, lo, hi = band_from_edges(left, right, float(margin_m), n)
    coarse = _coarse_bands(left, right, float(margin_m), n) if method == "k1999" else None
    t0 = time.perf_counter()
    alpha, stats = optimize_offsets(center, normal, lo, hi, method, lap_time=lap_time, coarse=coarse,
                                    road_center=0.5 * (left + right))
    elapsed = time.perf_counter() - t0
    xy = center + alpha[:, None] * normal
    profile = speed_profile(xy, limits)
    seg = np.hypot(*(np.roll(xy, -1, axis=0) - xy).T)
    meta = {
        "lap_time_flying_s": float(profile.lap_time_flying_s),
        "lap_time_standing_s": float(profile.lap_time_standing_s),
        "length_m": float(seg.sum()),
        "spacing_m": float(seg.mean()),
        "n_points": int(n),
        "band_clearance_m": float(np.min(np.minimum(alpha - lo, hi - alpha))),
        "optimize_time_s": round(elapsed, 4),
        **stats,
    }
    return RacingLine(xy, track.name, method, float(margin_m), bool(reverse), profile.speed_mps, meta)


def _coarse_bands(left, right, margin_m, n):
    out = []
    for factor, _ in K1999_LEVELS[:-1]:
        m = max(int(round(n / factor)), 12)
        out.append(band_from_edges(left, right, margin_m, m))
    return out


def optimize_offsets(center: np.ndarray, normal: np.ndarray, lo: np.ndarray, hi: np.ndarray, method: str, *,
                     lap_time: Callable[[np.ndarray], float] | None = None,
                     coarse: list | None = None, road_center: np.ndarray | None = None
                     ) -> tuple[np.ndarray, dict[str, Any]]:
    """Offsets ``alpha (N,)`` along ``normal`` from ``center`` for ``method``, and the solver's statistics.

    ``lap_time(xy) -> seconds`` is needed by ``mintime``; ``coarse``: coarser bands (same road, fewer
    stations, coarse to fine) that ``k1999`` relaxes first (default: none, all sweeps on this band);
    ``road_center``: the road's centre at the simulator's tile points, which ``centerline`` smooths.
    """
    center = np.asarray(center, dtype=np.float64)
    normal = np.asarray(normal, dtype=np.float64)
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if method == "centerline":
        return _centerline(center, normal, lo, hi, road_center), {"solver": "none"}
    if method == "mincurv":
        return _mincurv(center, normal, lo, hi)
    if method == "shortest":
        return _shortest(center, normal, lo, hi)
    if method == "k1999":
        return _k1999_levels(center, normal, lo, hi, coarse or [])
    if method == "mintime":
        if lap_time is None:
            raise LineError("method 'mintime' needs a lap-time estimate (lap_time=...)")
        return _mintime(center, normal, lo, hi, lap_time)
    raise LineError(f"method {method!r}: unknown, expected one of {', '.join(METHODS)}")


# --- centerline -------------------------------------------------------------------------------------------


def _centerline(center, normal, lo, hi, road_center=None):
    """The road's centre, smoothed. The stations' centres lie on the polyline through the simulator's tile
    points (0.14 m apart); stations between its corners would show the corners as curvature spikes in a
    speed profile. A periodic cubic spline through the tile points (``road_center``; default: through
    ``center``) is the same centre, millimetres away, without them; each station takes the offset where
    its normal meets the spline."""
    from scipy.interpolate import CubicSpline

    knots = center if road_center is None else np.asarray(road_center, dtype=np.float64)
    s_knots, length = _station_arc(knots)
    spline = CubicSpline(np.append(s_knots, length), np.vstack([knots, knots[:1]]), bc_type="periodic")
    # start each station at the arc length of its nearest knot segment, then Newton on cross(q - c, n) = 0
    s_center, length_center = _station_arc(center)
    t = s_center * (length / length_center)
    for _ in range(4):
        q = spline(t % length) - center
        df = _cross(spline(t % length, 1), normal)
        t = t - _cross(q, normal) / np.where(np.abs(df) > 1e-12, df, 1e-12)
    alpha = np.einsum("ij,ij->i", spline(t % length) - center, normal)
    return np.clip(alpha, lo, hi)


# --- QP: min ||M x + r||^2 subject to lo <= x <= hi -------------------------------------------------------


def _box_lsq(m: sparse.spmatrix, r: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, dict]:
    """``argmin |m x + r|^2`` subject to ``lo <= x <= hi``, with Clarabel; offsets with ``lo == hi`` are fixed."""
    import clarabel

    n = m.shape[1]
    h = (m.T @ m).tocsc()
    scale = max(float(abs(h).max()), 1e-12)
    # A tiny ridge keeps P positive definite when the objective is flat along some offset.
    p = sparse.triu(2.0 * h / scale + 1e-9 * sparse.eye(n), format="csc")
    q = 2.0 * (m.T @ r) / scale
    fixed = hi - lo <= 1e-12
    free = ~fixed
    eye = sparse.eye(n, format="csr")
    rows = [eye[fixed], eye[free], -eye[free]]
    b = np.concatenate([lo[fixed], hi[free], -lo[free]])
    cones = []
    if fixed.any():
        cones.append(clarabel.ZeroConeT(int(fixed.sum())))
    if free.any():
        cones.append(clarabel.NonnegativeConeT(int(2 * free.sum())))
    a = sparse.vstack(rows, format="csc")
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    sol = clarabel.DefaultSolver(p, q, a, b, cones, settings).solve()
    status = str(sol.status)
    if "Solved" not in status:  # Solved or AlmostSolved
        raise LineError(f"the QP solver failed ({status})")
    x = np.clip(np.asarray(sol.x, dtype=np.float64), lo, hi)
    return x, {"iterations": int(sol.iterations), "status": status}


def _cyclic(n: int, offsets: tuple[int, ...], values: list[np.ndarray]) -> sparse.csr_matrix:
    """``(n, n)`` matrix with ``values[k][i]`` at ``(i, (i + offsets[k]) % n)``."""
    rows = np.tile(np.arange(n), len(offsets))
    cols = np.concatenate([(np.arange(n) + o) % n for o in offsets])
    return sparse.csr_matrix((np.concatenate(values), (rows, cols)), shape=(n, n))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


# --- mincurv -----------------------------------------------------------------------------------------------


def _curvature_jacobian(center, normal, alpha):
    """Residuals ``r_i = kappa_i sqrt(h_i)`` of the line at ``alpha`` and their Jacobian ``d r / d alpha``
    (cyclic, tridiagonal; exact): ``kappa_i`` the Menger curvature at point i, ``h_i`` half the length of
    its two segments, so ``sum r_i^2`` is the curvature energy ``integral kappa^2 ds`` (see :func:`_mincurv`)."""
    n = len(center)
    p = center + alpha[:, None] * normal
    a, b, c = np.roll(p, 1, axis=0), p, np.roll(p, -1, axis=0)
    u, v, w = b - a, c - b, c - a
    lu2, lv2, lw2 = (np.maximum(np.einsum("ij,ij->i", x, x), 1e-24) for x in (u, v, w))
    lu, lv = np.sqrt(lu2), np.sqrt(lv2)
    den = np.sqrt(lu2 * lv2 * lw2)
    kappa = 2.0 * _cross(u, v) / den
    perp_v = np.stack([v[:, 1], -v[:, 0]], axis=1)  # d cross(u, v) / du
    perp_u = np.stack([-u[:, 1], u[:, 0]], axis=1)  # d cross(u, v) / dv
    k = kappa[:, None]
    # d kappa / d (a, b, c)
    ka = (-2.0 * perp_v) / den[:, None] + k * (u / lu2[:, None] + w / lw2[:, None])
    kb = (2.0 * (perp_v - perp_u)) / den[:, None] - k * (u / lu2[:, None] - v / lv2[:, None])
    kc = (2.0 * perp_u) / den[:, None] - k * (v / lv2[:, None] + w / lw2[:, None])
    # d h / d (a, b, c), h = (|u| + |v|) / 2
    uu, vv = u / lu[:, None], v / lv[:, None]
    ha, hb, hc = -0.5 * uu, 0.5 * (uu - vv), 0.5 * vv
    h = 0.5 * (lu + lv)
    sh = np.sqrt(h)[:, None]
    f = (kappa / (2.0 * np.sqrt(h)))[:, None]
    ga, gb, gc = sh * ka + f * ha, sh * kb + f * hb, sh * kc + f * hc
    jac = _cyclic(n, (-1, 0, 1), [np.einsum("ij,ij->i", ga, np.roll(normal, 1, axis=0)),
                                   np.einsum("ij,ij->i", gb, normal),
                                   np.einsum("ij,ij->i", gc, np.roll(normal, -1, axis=0))])
    return kappa * np.sqrt(h), jac


def _segments(center, normal):
    """``seg = D alpha + e``: the line's segment vectors ``p_{i+1} - p_i`` (x rows, then y rows), linear in alpha."""
    n = len(center)
    e = np.roll(center, -1, axis=0) - center
    nxt = np.roll(normal, -1, axis=0)
    d = sparse.vstack([_cyclic(n, (0, 1), [-normal[:, 0], nxt[:, 0]]),
                       _cyclic(n, (0, 1), [-normal[:, 1], nxt[:, 1]])], format="csr")
    return d, np.concatenate([e[:, 0], e[:, 1]])


def _energy_lines(center, normal, lo, hi, alpha, length_weight: float = 0.0, tol: float = MINCURV_TOL_M):
    """Minimise ``sum kappa_i^2 h_i + length_weight * sum |p_{i+1} - p_i|^2 / h`` over the band, from ``alpha``.

    The first term is the curvature energy ``integral kappa^2 ds`` (``kappa_i`` the Menger curvature at
    point i, ``h_i`` half the length of its two segments), the second about ``length_weight`` times the
    line's length (``h`` the mean station spacing). Sequential QPs, each TUM's minimum-curvature QP: the
    residuals linearised around the current line, squared, summed, minimised within the band.

    Why not TUM's linearisation as is: TUM sums ``kappa_i^2`` over points and freezes the line's first
    derivatives; both favour the outside here. The frozen derivatives drop how the curvature falls as
    the line moves out and its points spread (``kappa = 1 / r`` on a circle; on a ring TUM's fixed point
    is the inner circle), and a per-point sum weighs a corner's inside, where the stations crowd, more
    than its outside. On DeepRacer's corners (radius 0.4-2 m against a band +-0.16 m wide) neither is
    small. So the residuals are ``kappa_i sqrt(h_i)``, linearised with their exact Jacobian, and each step
    is damped (Levenberg-Marquardt: ``mu |alpha - alpha_k|^2`` added, raised until the true objective
    falls); re-linearised until no offset moves more than ``tol`` or the objective falls by less than
    :data:`MINCURV_RTOL` of itself (at most :data:`MINCURV_MAX_ITER` QPs).
    """
    n = len(center)
    seg_m, seg_e = _segments(center, normal)
    spacing = float(np.mean(np.hypot(*(np.roll(center, -1, axis=0) - center).T)))
    sl = math.sqrt(length_weight / spacing)

    def residuals(a):
        r, j = _curvature_jacobian(center, normal, a)
        if sl == 0.0:
            return r, j
        return np.concatenate([r, sl * (seg_m @ a + seg_e)]), sparse.vstack([j, sl * seg_m], format="csr")

    res, jac = residuals(alpha)
    cost = float(res @ res)
    stats: dict[str, Any] = {"qp_solves": 0, "iterations": 0, "converged": False}
    mu = 1e-6 * float(abs(jac.T @ jac).max())
    eye = sparse.eye(n, format="csr")
    change = math.inf
    for _ in range(MINCURV_MAX_ITER):
        # min |res + J (new - alpha)|^2 + mu |new - alpha|^2 over the band, as one least-squares system
        m = sparse.vstack([jac, math.sqrt(mu) * eye], format="csr")
        r = np.concatenate([res - jac @ alpha, -math.sqrt(mu) * alpha])
        new, info = _box_lsq(m, r, lo, hi)
        stats["qp_solves"] += 1
        stats["iterations"] += info["iterations"]
        r_new, j_new = residuals(new)
        c_new = float(r_new @ r_new)
        change = float(np.max(np.abs(new - alpha)))
        if c_new <= cost * (1.0 + 1e-12):
            done = change < tol or cost - c_new <= MINCURV_RTOL * cost
            alpha, res, jac, cost = new, r_new, j_new, c_new
            mu *= 0.2
        else:  # the damped step still raised the objective: damp more, unless it is flat here
            done = c_new - cost <= MINCURV_RTOL * cost
            mu *= 5.0
        if done:
            stats["converged"] = True
            break
    stats["last_change_m"] = change
    stats["objective"] = cost
    return alpha, stats


def _mincurv(center, normal, lo, hi):
    """The minimum-curvature line: least curvature energy ``integral kappa^2 ds`` (see :func:`_energy_lines`)."""
    alpha, stats = _energy_lines(center, normal, lo, hi, np.zeros(len(center)))
    stats["curvature_energy"] = stats.pop("objective")
    return alpha, {"solver": "clarabel", **stats}


# --- shortest ----------------------------------------------------------------------------------------------


def _shortest(center, normal, lo, hi):
    """The shortest closed line: ``sum w_i |p_{i+1} - p_i|^2`` minimised with ``w_i = 1 / |p_{i+1} - p_i|`` of
    the previous solution (iteratively re-weighted least squares: at the fixed point, the sum of lengths)."""
    n = len(center)
    seg_m, seg_e = _segments(center, normal)
    alpha = np.zeros(n)
    stats: dict[str, Any] = {"solver": "clarabel", "qp_solves": 0, "iterations": 0}
    weight = np.ones(n)
    for _ in range(SHORTEST_ITER):
        sw = sparse.diags(np.tile(np.sqrt(weight), 2))
        alpha, info = _box_lsq(sw @ seg_m, sw @ seg_e, lo, hi)
        stats["qp_solves"] += 1
        stats["iterations"] += info["iterations"]
        p = center + alpha[:, None] * normal
        seg = np.hypot(*(np.roll(p, -1, axis=0) - p).T)
        weight = np.mean(seg) / np.maximum(seg, 1e-6)
    return alpha, stats


# --- k1999 -------------------------------------------------------------------------------------------------


def _menger(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Signed curvature of the circle through a, b, c (positive turning left)."""
    ab, bc, ac = b - a, c - b, c - a
    den = np.hypot(ab[:, 0], ab[:, 1]) * np.hypot(bc[:, 0], bc[:, 1]) * np.hypot(ac[:, 0], ac[:, 1])
    return 2.0 * _cross(ab, bc) / np.maximum(den, 1e-12)


def _colour_classes(n: int) -> list[np.ndarray]:
    """Index sets whose members are at least 3 apart around the loop (a K1999 update reads +-2 points)."""
    body = n - n % 3
    classes = [np.arange(r, body, 3) for r in range(3)]
    classes += [np.array([i]) for i in range(body, n)]
    return [c for c in classes if len(c)]


def _k1999(center, normal, lo, hi, alpha, sweeps):
    n = len(center)
    classes = _colour_classes(n)
    nbr = [((c - 2) % n, (c - 1) % n, (c + 1) % n, (c + 2) % n) for c in classes]
    p = center + alpha[:, None] * normal
    for _ in range(sweeps):
        for idx, (im2, im1, ip1, ip2) in zip(classes, nbr):
            pi = p[idx]
            a, b = p[im1], p[ip1]
            target = 0.5 * (_menger(p[im2], a, pi) + _menger(pi, b, p[ip2]))
            chord = b - a
            c2 = np.maximum(np.einsum("ij,ij->i", chord, chord), 1e-12)
            # kappa ~ -8 h / |chord|^2, h the height of the point left of the chord: d kappa / d alpha
            slope = -8.0 * _cross(chord, normal[idx]) / (np.sqrt(c2) * c2)
            slope = np.where(np.abs(slope) > 1e-9, slope, -1e-9)
            al = alpha[idx]
            for _ in range(K1999_NEWTON):
                k = _menger(a, center[idx] + al[:, None] * normal[idx], b)
                al = np.clip(al + (target - k) / slope, lo[idx], hi[idx])
            alpha[idx] = al
            p[idx] = center[idx] + al[:, None] * normal[idx]
    return alpha


def _station_arc(center: np.ndarray) -> tuple[np.ndarray, float]:
    seg = np.hypot(*(np.roll(center, -1, axis=0) - center).T)
    return np.concatenate([[0.0], np.cumsum(seg)[:-1]]), float(seg.sum())


def _k1999_levels(center, normal, lo, hi, coarse):
    levels = [*coarse, (center, normal, lo, hi)]
    sweeps = [s for _, s in K1999_LEVELS]
    sweeps = sweeps[len(sweeps) - len(levels):] if len(levels) <= len(sweeps) else [sweeps[-1]] * len(levels)
    alpha = None
    prev = None
    for (c, nrm, lo_k, hi_k), count in zip(levels, sweeps):
        if alpha is None:
            a = np.zeros(len(c))
        else:
            # carry the offsets over by the stations' fraction of the loop (both bands start at station 0)
            s_prev, len_prev = _station_arc(prev)
            s_new, len_new = _station_arc(c)
            a = np.interp(s_new / len_new, np.append(s_prev / len_prev, 1.0), np.append(alpha, alpha[0]))
        alpha = _k1999(c, nrm, lo_k, hi_k, np.clip(a, lo_k, hi_k), count)
        prev = c
    return alpha, {"solver": "k1999", "sweeps": int(sum(sweeps)), "levels": len(levels)}


# --- mintime -----------------------------------------------------------------------------------------------


def _mintime(center, normal, lo, hi, lap_time):
    """The fastest line, by the speed profile's flying lap, of the family ``curvature energy + lambda * length``.

    ``lambda = 0`` is the minimum-curvature line; as ``lambda`` grows the line shortens toward the
    shortest one. ``lambda`` runs up a geometric grid (each line warm-starts from the last) until the
    estimate has worsened :data:`MINTIME_PATIENCE` times in a row, then a golden-section search in
    ``log lambda`` around the best refines it. The result is the best line seen, ``lambda = 0`` included,
    so it is never slower than ``mincurv`` by the estimate.
    """
    alpha0, st0 = _mincurv(center, normal, lo, hi)
    qp_solves, iterations = st0["qp_solves"], st0["iterations"]
    lines: dict[float, tuple[np.ndarray, float]] = {0.0: (alpha0, lap_time(center + alpha0[:, None] * normal))}

    def solve(lam: float, start: np.ndarray) -> float:
        nonlocal qp_solves, iterations
        alpha, st = _energy_lines(center, normal, lo, hi, start.copy(), lam, tol=MINTIME_TOL_M)
        qp_solves += st["qp_solves"]
        iterations += st["iterations"]
        lines[lam] = (alpha, lap_time(center + alpha[:, None] * normal))
        return lines[lam][1]

    def nearest(lam: float) -> np.ndarray:
        return lines[min(lines, key=lambda k: abs(math.log(max(k, 1e-12)) - math.log(lam)))][0]

    grid = [MINTIME_LAMBDA0 * MINTIME_LAMBDA_RATIO ** k for k in range(MINTIME_LAMBDA_STEPS)]
    best_t, worse = lines[0.0][1], 0
    start = alpha0
    for lam in grid:
        t = solve(lam, start)
        start = lines[lam][0]
        if t < best_t:
            best_t, worse = t, 0
        else:
            worse += 1
            if worse >= MINTIME_PATIENCE:
                break
    best = min(lines, key=lambda k: (lines[k][1], k))
    if best > 0.0:
        a, b = math.log(best / MINTIME_LAMBDA_RATIO), math.log(best * MINTIME_LAMBDA_RATIO)
        g = (math.sqrt(5.0) - 1.0) / 2.0
        x1, x2 = b - g * (b - a), a + g * (b - a)
        f1, f2 = solve(math.exp(x1), nearest(math.exp(x1))), solve(math.exp(x2), nearest(math.exp(x2)))
        for _ in range(MINTIME_GOLDEN_STEPS):
            if f1 <= f2:
                b, x2, f2 = x2, x1, f1
                x1 = b - g * (b - a)
                f1 = solve(math.exp(x1), nearest(math.exp(x1)))
            else:
                a, x1, f1 = x1, x2, f2
                x2 = a + g * (b - a)
                f2 = solve(math.exp(x2), nearest(math.exp(x2)))
        best = min(lines, key=lambda k: (lines[k][1], k))
    return lines[best][0], {"solver": "clarabel", "qp_solves": qp_solves, "iterations": iterations,
                            "converged": st0["converged"], "length_weight": float(best),
                            "lines_tried": len(lines), "mincurv_lap_time_flying_s": lines[0.0][1]}
