"""FastRenderer: CarRacing's car-centred state view drawn with NumPy from a pre-rasterised road texture.

CarRacing draws a 1000x800 window centred on the car (window x = W/2, y = 3H/4 from the top), rotated
so the car points up, at ``ZOOM * SCALE`` = 16.2 px per sim unit, paints the car and a black indicator
bar (bottom 5/40 of the height), then smoothscales the window to ``size x size``. This module gives the
same picture without pygame:

* per track and colour set, the scene is rasterised into a blurred uint8 texture, chunk by chunk as views
  first need them, and tiles the car touches are repainted during an episode (:mod:`racingline.sim.raster`);
* per call, one affine map takes every output pixel to a texel (car frame -> rotate by the hull angle ->
  translate to the hull position) and ``np.take`` samples it;
* the car is a precomputed coverage sprite at its fixed screen position, and the indicator bar
  (speed, four ABS wheel bars, steering, gyro) is a sum of box coverages from precomputed tables.

Colours are 2 levels darker per channel than drawn, as pygame's SSE2 smoothscale makes them.
Not drawn: the reward digits at the bar's left, the wheels' white phase stripes and front-wheel steering
(the sprite is the car at rest), skid particles (CarRacing omits them from state pixels too), bars taller
than the indicator bar, and the first second's zoom-in (the full zoom is used from the first frame).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from gymnasium.envs.box2d import car_dynamics as _cd

from racingline.sim.raster import (
    CAR_X,
    CAR_Y,
    GRAY_WEIGHTS,
    WINDOW_H,
    WINDOW_W,
    ZOOM_PX,
    RoadTexture,
    TextureCache,
    after_smoothscale,
    build_road_texture,
)

if TYPE_CHECKING:
    from racingline.sim.state import CarState

# RoadTexture and build_road_texture are re-exported from racingline.sim.raster, where they live.
__all__ = ["FastRenderer", "RoadTexture", "build_road_texture"]


#: Top of the black indicator bar, window pixels from the top.
BAR_TOP = WINDOW_H - 5.0 * WINDOW_H / 40.0


_HULL_RGB = after_smoothscale([int(c * 255) for c in (0.8, 0.0, 0.0)])
_WHEEL_RGB = after_smoothscale(_cd.WHEEL_COLOR)
#: Indicator colours in drawing order: speed, wheels 0-3 (ABS), steering, gyro.
_IND_RGB = after_smoothscale([(255, 255, 255), (0, 0, 255), (0, 0, 255), (51, 0, 255), (51, 0, 255),
                               (0, 255, 0), (255, 0, 0)])


def _coverage(lo: np.ndarray, hi: np.ndarray, edges_lo: np.ndarray, edges_hi: np.ndarray) -> np.ndarray:
    """Fraction of each bin ``[edges_lo, edges_hi)`` covered by each interval ``[lo, hi)``: ``(K, bins)``."""
    overlap = np.minimum(hi[:, None], edges_hi[None, :]) - np.maximum(lo[:, None], edges_lo[None, :])
    return np.clip(overlap, 0.0, None) / (edges_hi - edges_lo)[None, :]


def _car_sprite(size: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """Coverage of the car's wheels and hull (drawn over the wheels) on the output grid, around the car.

    The car is drawn at window resolution, as CarRacing does, then area-averaged to ``size x size``.
    """
    from PIL import Image, ImageDraw

    w, h = int(WINDOW_W), int(WINDOW_H)
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    k = _cd.SIZE * ZOOM_PX

    def to_window(points, ox=0.0, oy=0.0):
        return [(CAR_X + (x + ox) * k, CAR_Y - (y + oy) * k) for x, y in points]

    wheel = [(-_cd.WHEEL_W, _cd.WHEEL_R), (_cd.WHEEL_W, _cd.WHEEL_R), (_cd.WHEEL_W, -_cd.WHEEL_R),
             (-_cd.WHEEL_W, -_cd.WHEEL_R)]
    for wx, wy in _cd.WHEELPOS:
        draw.polygon(to_window(wheel, wx, wy), fill=1)
    for hull in (_cd.HULL_POLY1, _cd.HULL_POLY2, _cd.HULL_POLY3, _cd.HULL_POLY4):
        draw.polygon(to_window(hull), fill=2)
    labels = np.asarray(img)
    cols_e = np.arange(size + 1) * (WINDOW_W / size)
    rows_e = np.arange(size + 1) * (WINDOW_H / size)
    ax = _coverage(np.arange(w, dtype=np.float64), np.arange(1, w + 1, dtype=np.float64), cols_e[:-1], cols_e[1:])
    ay = _coverage(np.arange(h, dtype=np.float64), np.arange(1, h + 1, dtype=np.float64), rows_e[:-1], rows_e[1:])
    # ax[p, j]: share of window column p in output column j; area average = ay.T @ mask @ ax.
    wheels = ay.T @ (labels == 1).astype(np.float64) @ ax
    hull = ay.T @ (labels == 2).astype(np.float64) @ ax
    any_ = np.argwhere((wheels + hull) > 1e-9)
    (r0, c0), (r1, c1) = any_.min(axis=0), any_.max(axis=0) + 1
    rs, cs = slice(int(r0), int(r1)), slice(int(c0), int(c1))
    return rs, cs, wheels[rs, cs], hull[rs, cs]


class FastRenderer:
    """CarRacing's state pixels of a :class:`CarState` on its road, drawn with NumPy (no pygame, no display).

    Args:
        size: output side in pixels.
        grayscale: one gray channel (DeepRacerEnv's weights) instead of RGB.
        texels_per_unit: road texture resolution (texels per sim unit), lowered to fit ``max_texture_bytes``.
        max_texture_bytes: largest texture built for one track.
        cache_bytes: textures kept (most recently used first) for tracks of a pool; at least one is kept.
    """

    def __init__(self, size: int = 64, *, grayscale: bool = True, texels_per_unit: float = 3.0,
                 max_texture_bytes: int = 16 * 2**20,
                 cache_bytes: int = 48 * 2**20) -> None:
        if int(size) < 8:
            raise ValueError(f"size: must be >= 8, got {size}")
        self.size = s = int(size)
        self.grayscale = bool(grayscale)
        col_w = WINDOW_W / s
        row_h = WINDOW_H / s
        #: Width of one output pixel's footprint, sim units (geometric mean of its sides).
        self.blur_units = math.sqrt(col_w * row_h) / ZOOM_PX
        #: The road textures sampled, one per track of a pool, with touched tiles repainted.
        self.textures = TextureCache(texels_per_unit=texels_per_unit, blur_units=self.blur_units,
                                     max_texture_bytes=max_texture_bytes, cache_bytes=cache_bytes)
        self._cache = self.textures.textures  # the cached textures themselves
        self._sampled: RoadTexture | None = None  # the texture _combine is set for

        # View rows: those starting above the bar top; a row straddling it is blended in the bar.
        self._view_rows = vr = int(math.ceil(BAR_TOP / row_h - 1e-9))
        self._bar_row0 = r0 = int(math.floor(BAR_TOP / row_h + 1e-9))
        n_view = vr * s

        # Car-frame offsets of the view's pixel centres (sim units): right, and forward (up the screen),
        # as rows (dx, dy, 1) so that texel (u, v) = M @ this with M = [[c, -s, u0], [s, c, v0]] * ppu.
        dx = ((np.arange(s) + 0.5) * col_w - CAR_X) / ZOOM_PX
        dy = (CAR_Y - (np.arange(vr) + 0.5) * row_h) / ZOOM_PX
        grid = np.empty((3, vr, s), dtype=np.float64)
        grid[0] = dx[None, :]
        grid[1] = dy[:, None]
        grid[2] = 1.0
        self._grid = grid.reshape(3, n_view).astype(np.float32)
        self._affine = np.zeros((2, 3), dtype=np.float32)
        self._uv = np.empty((2, n_view), dtype=np.float32)
        self._corners = np.array([0, s - 1, n_view - s, n_view - 1])  # the view's corner pixels
        self._flat = np.empty((1, n_view), dtype=np.float32)
        self._idx = np.empty(n_view, dtype=np.intp)
        self._combine = np.array([[1.0, 0.0]], dtype=np.float32)  # [1, cols] of the current texture

        # Car sprite: out = out * keep + add on a small box of pixels.
        self._car_rows, self._car_cols, wheels, hull = _car_sprite(s)
        self._car_keep = (1.0 - wheels - hull).astype(np.float32)
        add_rgb = wheels[:, :, None] * _WHEEL_RGB + hull[:, :, None] * _HULL_RGB
        self._car_keep_rgb = np.repeat(self._car_keep[:, :, None], 3, axis=2)
        self._car_add_rgb = (add_rgb + 0.5).astype(np.float32)
        self._car_add_gray = (add_rgb @ GRAY_WEIGHTS + 0.5).astype(np.float32)

        self._init_bar(s, col_w, row_h, r0)

    def _init_bar(self, s: int, col_w: float, row_h: float, r0: int) -> None:
        """Tables for CarRacing's indicators (``_render_indicators``) on the output grid.

        A filled pygame polygon covers window pixels floor(min)..floor(max) inclusive, so every bar is a
        window-pixel interval with integer ends; its share of an output pixel comes from cumulative tables.
        """
        bs, bh = WINDOW_W / 40.0, WINDOW_H / 40.0
        self._bs, self._bh = bs, bh
        rows = np.arange(r0, s)
        nb = len(rows)
        row_lo = np.maximum(rows * row_h, BAR_TOP)
        row_hi = (rows + 1) * row_h
        ys = np.arange(int(WINDOW_H) + 2, dtype=np.float64)
        # cum_y[y, i]: share of bar row i covered by window rows [BAR_TOP, y).
        cum_y = np.clip(np.minimum(ys[:, None], row_hi[None, :]) - row_lo[None, :], 0.0, None) / row_h
        xs = np.arange(int(WINDOW_W) + 2, dtype=np.float64)
        col_lo = np.arange(s) * col_w
        # cum_x[x, j]: share of output column j covered by window columns [0, x).
        self._cum_x = (np.clip(np.minimum(xs[:, None], col_lo[None, :] + col_w) - col_lo[None, :], 0.0, None)
                       / col_w).astype(np.float32)
        self._x_max = int(WINDOW_W)
        # Share of each bar row under the black bar (1, except a row straddling the bar top).
        self._bar_black = ((row_hi - row_lo) / row_h).astype(np.float32)
        self._straddle = r0 < self._view_rows

        # Vertical bars (speed, wheels 0-3): x fixed, from the baseline H - h to the top H - h - h * value.
        # Indexed by t = floor(top) in [BAR_TOP, H]: pixels [t, base] if t <= base, else [base, t].
        base = int(WINDOW_H - bh)
        self._vert_base = WINDOW_H - bh
        self._t_lo, self._t_hi = int(BAR_TOP), int(WINDOW_H)
        ts = np.arange(self._t_lo, self._t_hi + 1)
        lo = np.minimum(ts, base)
        hi = np.maximum(ts, base) + 1
        y_cov = cum_y[hi] - cum_y[lo]  # (T, nb)
        spans = []
        for place in (5, 7, 8, 9, 10):
            # Adjacent bars share their boundary pixel column, which the later one paints: the earlier
            # bar stops short of it.
            x1 = math.floor((place + 1) * bs) + (0 if place in (7, 8, 9) else 1)
            spans.append(self._cum_x[x1] - self._cum_x[math.floor(place * bs)])
        spans = np.array(spans, dtype=np.float64)  # (5, s)
        nz = np.flatnonzero(spans.sum(axis=0) > 0)
        c0, c1 = int(nz[0]), int(nz[-1]) + 1
        self._vert_cols = slice(c0, c1)
        # _vert_*[k, t - BAR_TOP] is bar k's picture on the bar columns; row T (the last) is "not drawn".
        # The 0.5 that rounds the final cast rides on bar 0 (always looked up).
        n_t = len(ts)
        blocks = np.zeros((5, n_t + 1, nb, c1 - c0), dtype=np.float64)
        blocks[:, :n_t] = y_cov[None, :, :, None] * spans[:, None, None, c0:c1]
        self._vert_gray = (blocks * (_IND_RGB[:5] @ GRAY_WEIGHTS)[:, None, None, None]).astype(np.float32)
        self._vert_rgb = (blocks[..., None] * _IND_RGB[:5, None, None, None, :]).astype(np.float32)
        self._vert_gray[0] += 0.5
        self._vert_rgb[0] += 0.5
        self._vert_off = n_t
        self._vert_k = np.arange(5)
        self._vert_scale = (0.02, 0.01, 0.01, 0.01, 0.01)

        # Horizontal bars (steering, gyro): y fixed at [H - 4h, H - 2h], x from place * s by value * s.
        hy = cum_y[math.floor(WINDOW_H - 2 * bh) + 1] - cum_y[math.floor(WINDOW_H - 4 * bh)]
        nz = np.flatnonzero(hy > 0)
        self._h_rows = slice(int(nz[0]), int(nz[-1]) + 1)
        hy = hy[self._h_rows]
        self._h_rows_cov = hy.astype(np.float32)
        self._h_gray_coef = (_IND_RGB[5:] @ GRAY_WEIGHTS).astype(np.float32)  # (2,)
        self._h_rgb_coef = _IND_RGB[5:].T.astype(np.float32)  # (3, 2)
        self._signs = np.tile(np.array([1.0, -1.0], dtype=np.float32), 3)
        self._bar_gray = np.empty((nb, s), dtype=np.float32)
        self._bar_rgb = np.empty((nb, s, 3), dtype=np.float32)

    # ------------------------------------------------------------------ drawing
    def render(self, state: CarState) -> np.ndarray:
        """The car-centred view of ``state`` (the car on ``state.road``).

        Returns uint8 ``(size, size, 1)`` gray if ``grayscale``, else ``(size, size, 3)`` RGB.
        """
        tex = self.textures.texture_for(state, self.grayscale)
        if tex is not self._sampled:
            self._combine[0, 1] = tex.cols
            self._sampled = tex
        s = self.size
        px, py = state.x, state.y
        angle = state.angle
        ppu = tex.texels_per_unit
        c, sn = math.cos(angle) * ppu, math.sin(angle) * ppu

        # Texel (u, v) of every view pixel: world = hull position + R(angle) @ car-frame offset.
        m = self._affine
        m[0, 0] = c
        m[0, 1] = -sn
        m[0, 2] = (px - tex.x0) * ppu
        m[1, 0] = sn
        m[1, 1] = c
        m[1, 2] = (py - tex.y0) * ppu
        uv = self._uv
        np.matmul(m, self._grid, out=uv)
        np.floor(uv, out=uv)
        # Rasterise the texture chunks under the view (its corners bound it) that are not built yet.
        corners = uv[:, self._corners]
        lo, hi = corners.min(axis=1), corners.max(axis=1)
        self.textures.ensure(tex, float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        np.matmul(self._combine, uv, out=self._flat)  # v * cols + u, exact in float32 below 2**24
        idx = self._idx
        np.copyto(idx, self._flat[0], casting="unsafe")

        n_view = idx.shape[0]
        rs, cs = self._car_rows, self._car_cols
        if tex.pixels.ndim == 1:  # grayscale
            out = np.empty((s, s, 1), dtype=np.uint8)
            plane = out.reshape(s, s)
            np.take(tex.pixels, idx, out=plane.reshape(-1)[:n_view], mode="clip")
            box = plane[rs, cs] * self._car_keep
            box += self._car_add_gray
            plane[rs, cs] = box
            self._draw_bar(state, plane, rgb=False)
        else:
            out = np.empty((s, s, 3), dtype=np.uint8)
            np.take(tex.pixels, idx, axis=0, out=out.reshape(-1, 3)[:n_view], mode="clip")
            box = out[rs, cs] * self._car_keep_rgb
            box += self._car_add_rgb
            out[rs, cs] = box
            self._draw_bar(state, out, rgb=True)
        return out

    def _draw_bar(self, state: CarState, out: np.ndarray, *, rgb: bool) -> None:
        """CarRacing's indicators: speed, four wheel speeds (ABS), steering and gyro, on the black bar.

        ``out`` is the ``(size, size)`` gray plane or the ``(size, size, 3)`` RGB image.
        """
        bar = self._bar_rgb if rgb else self._bar_gray
        vx, vy = state.vx, state.vy
        omega = state.wheel_omega
        bh = self._bh
        bar.fill(0.5)  # black bar; 0.5 rounds on the final cast
        speed = math.sqrt(vx * vx + vy * vy)
        drivers = (speed, omega[0], omega[1], omega[2], omega[3])
        base, t_lo, t_hi, off = self._vert_base, self._t_lo, self._t_hi, self._vert_off
        rows = []
        for value, scale in zip(drivers, self._vert_scale):
            if abs(value) > 1e-4:
                t = math.floor(base - bh * scale * value)
                rows.append((t_lo if t < t_lo else (t_hi if t > t_hi else t)) - t_lo)
            else:
                rows.append(off)
        table = self._vert_rgb if rgb else self._vert_gray
        np.sum(table[self._vert_k, rows], axis=0, out=bar[:, self._vert_cols])

        # Horizontal bars: steering from 20*s, gyro from 30*s (drawn over the steering where they meet),
        # as window-column intervals [x0, x1) weighted by colour: cover = sum(colour * (cum_x[x1] - cum_x[x0])).
        bs = self._bs
        steer = state.steer_angle
        gyro = state.yaw_rate
        ends: list[int] = []
        weights: list[int] = []  # 0: steering colour, 1: gyro colour
        if abs(gyro) > 1e-4:
            g0, g1 = self._x_span(30.0 * bs, (30.0 - 0.8 * gyro) * bs)
            ends += [g1, g0]
            weights += [1, 1]
        else:
            g0 = g1 = -1
        if abs(steer) > 1e-4:
            s0, s1 = self._x_span(20.0 * bs, (20.0 - 10.0 * steer) * bs)
            if g1 > g0 and s1 > g0 and g1 > s0:  # overlap: the visible steering is up to two pieces
                ends += [max(s0, min(s1, g0)), s0, s1, min(s1, max(s0, g1))]
                weights += [0, 0, 0, 0]
            else:
                ends += [s1, s0]
                weights += [0, 0]
        if ends:
            cover = self._cum_x[ends]  # (pieces * 2, s): +end, -start alternate
            if rgb:
                coef = self._h_rgb_coef[:, weights] * self._signs[: len(ends)]  # (3, m)
                bar[self._h_rows] += self._h_rows_cov[:, None, None] * (coef @ cover).T[None]
            else:
                coef = self._h_gray_coef[weights] * self._signs[: len(ends)]
                bar[self._h_rows] += self._h_rows_cov[:, None] * (coef @ cover)[None]

        r0 = self._bar_row0
        if self._straddle:  # a row shared by the view and the bar top
            share = 1.0 - self._bar_black
            bar += out[r0:] * (share[:, None, None] if rgb else share[:, None])
        np.minimum(bar, 255.0, out=bar)
        out[r0:] = bar

    def _x_span(self, a: float, b: float) -> tuple[int, int]:
        """Window columns [x0, x1) a pygame polygon between x = a and x = b fills, clipped to the window."""
        lo, hi = (a, b) if a <= b else (b, a)
        x0 = min(max(math.floor(lo), 0), self._x_max)
        x1 = min(max(math.floor(hi) + 1, 0), self._x_max)
        return x0, x1


if __name__ == "__main__":
    import time
    import timeit

    from racingline.lines.controllers import PurePursuit
    from racingline.sim.env import DeepRacerEnv

    for grayscale in (True, False):
        env = DeepRacerEnv("kidney", continuous=True, obs="pixels", renderer="fast", frame_skip=2,
                           grayscale=grayscale)
        env.reset(seed=0)
        driver = PurePursuit()
        for _ in range(50):
            env.step(driver.continuous(env))
        renderer = FastRenderer(size=env.size, grayscale=grayscale)
        n = 5000
        per = min(timeit.repeat(lambda r=renderer, s=env.state: r.render(s), number=n, repeat=5)) / n
        print(f"render {'gray' if grayscale else 'rgb '} {env.size}x{env.size}: {per * 1e6:.1f} us")
        env.reset(seed=0)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 3.0:
            _, _, term, trunc, _ = env.step(driver.continuous(env))
            steps += 1
            if term or trunc:
                env.reset()
        print(f"  env steps/s (frame_skip=2, pure pursuit): {steps / (time.perf_counter() - t0):.0f}")
        env.close()
