"""FastRenderer: CarRacing's car-centred state view drawn with NumPy from a pre-rasterised road texture.

CarRacing draws a 1000x800 window centred on the car (window x = W/2, y = 3H/4 from the top), rotated
so the car points up, at ``ZOOM * SCALE`` = 16.2 px per sim unit, paints the car and a black indicator
bar (bottom 5/40 of the height), then smoothscales the window to ``size x size``. This module gives the
same picture without pygame:

* once per track and colour set, the scene (black outside the playfield, background, CarRacing's grass
  checkerboard, road tiles with their per-tile shade, kerbs, as :meth:`DeepRacerEnv._render_road` draws
  them) is rasterised (2x supersampled) into a uint8 texture at a few texels per sim unit and box-blurred
  by the footprint of one output pixel, standing in for the smoothscale's area averaging;
* per call, one affine map takes every output pixel to a texel (car frame -> rotate by the hull angle ->
  translate to the hull position) and ``np.take`` samples it;
* the car is a precomputed coverage sprite at its fixed screen position, and the indicator bar
  (speed, four ABS wheel bars, steering, gyro) is a sum of box coverages from precomputed tables;
* tiles the car touches lose their shade, as CarRacing's contact listener repaints them; the texture is
  patched in place during an episode and restored for the next one.

Colours are 2 levels darker per channel than drawn, as pygame's SSE2 smoothscale makes them.
Not drawn: the reward digits at the bar's left, the wheels' white phase stripes and front-wheel steering
(the sprite is the car at rest), skid particles (CarRacing omits them from state pixels too), bars taller
than the indicator bar, and the first second's zoom-in (the full zoom is used from the first frame).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.envs.box2d import car_dynamics as _cd
from gymnasium.envs.box2d import car_racing as _cr

if TYPE_CHECKING:
    from racingline.envs.deepracer import DeepRacerEnv

__all__ = ["FastRenderer", "RoadTexture", "build_road_texture"]

WINDOW_W = float(_cr.WINDOW_W)
WINDOW_H = float(_cr.WINDOW_H)
#: Window pixels per sim unit at full zoom.
ZOOM_PX = _cr.ZOOM * _cr.SCALE
#: Window position of the car centre (x from the left, y from the top).
CAR_X = WINDOW_W / 2.0
CAR_Y = 3.0 * WINDOW_H / 4.0
#: Top of the black indicator bar, window pixels from the top.
BAR_TOP = WINDOW_H - 5.0 * WINDOW_H / 40.0
#: Sim units beyond the playfield kept in the texture: the farthest window corner from the car
#: (~48 sim units) plus slack for a car that has just left the playfield.
TEXTURE_MARGIN = math.hypot(CAR_X, CAR_Y) / ZOOM_PX + 16.0
#: Flat texel indices are computed exactly in float32, so a texture holds at most 2**24 texels.
_MAX_TEXELS = 2**24
#: Grayscale weights (Gymnasium's GrayscaleObservation, as DeepRacerEnv uses).
_GRAY = np.array([0.2125, 0.7154, 0.0721], dtype=np.float64)
#: pygame's SSE2 smoothscale darkens every channel by 2 levels (uniform v -> max(v - 2, 0)); we match it.
SMOOTHSCALE_LOSS = 2.0


def _after_smoothscale(rgb) -> np.ndarray:
    return np.maximum(np.asarray(rgb, dtype=np.float64) - SMOOTHSCALE_LOSS, 0.0)


_HULL_RGB = _after_smoothscale([int(c * 255) for c in (0.8, 0.0, 0.0)])
_WHEEL_RGB = _after_smoothscale(_cd.WHEEL_COLOR)
#: Indicator colours in drawing order: speed, wheels 0-3 (ABS), steering, gyro.
_IND_RGB = _after_smoothscale([(255, 255, 255), (0, 0, 255), (0, 0, 255), (51, 0, 255), (51, 0, 255),
                               (0, 255, 0), (255, 0, 0)])


@dataclass(frozen=True, eq=False)
class RoadTexture:
    """A track's scene rasterised for sampling.

    Attributes:
        pixels: ``(rows * cols,)`` grayscale or ``(rows * cols, 3)`` RGB uint8, row-major, row r at world
            ``y = y0 + (r + 0.5) / texels_per_unit`` and column c at ``x = x0 + (c + 0.5) / texels_per_unit``.
        rows, cols: texture size in texels.
        x0, y0: world (sim unit) coordinates of the texture's lower-left corner.
        texels_per_unit: texels per sim unit.
        sim: the track this texture shows (held so its ``id`` stays unique while cached).
        tile_texels: per road tile, flat indices of the texels it shows (empty where its shade is the plain
            road colour); tile_delta: ``(T, channels)`` int16, how much darker the plain road colour is.
            CarRacing repaints a tile in the plain road colour once the car touches it; the renderer
            applies that to ``pixels`` during an episode and undoes it afterwards.
    """

    pixels: np.ndarray
    rows: int
    cols: int
    x0: float
    y0: float
    texels_per_unit: float
    sim: Any
    tile_texels: tuple = ()
    tile_delta: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes) + sum(int(t.nbytes) for t in self.tile_texels)


def build_road_texture(road_poly: list, playfield: float, bg_color, grass_color, *, grayscale: bool,
                       texels_per_unit: float = 4.0, blur_units: float = 0.0, max_bytes: int = 16 * 2**20,
                       supersample: int = 2, tile_count: int = 0, road_color=None, sim: Any = None) -> RoadTexture:
    """Rasterise the scene around a track once: black, the playfield background, grass, road and kerbs.

    Args:
        road_poly: CarRacing's ``env.road_poly``, a list of ``(polygon [(x, y), ...], colour)`` in sim units.
        playfield: half-side of the background square (sim units), as ``env.playfield``.
        bg_color, grass_color: RGB colours (0-255) of the background and the grass squares.
        grayscale: store one gray channel (DeepRacerEnv's weights) instead of RGB.
        texels_per_unit: texture resolution, lowered if needed to keep the texture under ``max_bytes``.
        blur_units: width (sim units) of the box blur standing in for the smoothscale's area averaging.
        supersample: polygons are filled at this many times the resolution, then box-averaged (a filled
            polygon grows by about half a pixel on each side; supersampling shrinks that error).
        tile_count, road_color: the first ``tile_count`` polygons are road tiles, repainted ``road_color``
            once touched (see :class:`RoadTexture`); 0 skips that bookkeeping.
    """
    from PIL import Image, ImageDraw, ImageFilter

    channels = 1 if grayscale else 3
    half = float(playfield) + TEXTURE_MARGIN
    side = 2.0 * half
    n = int(math.ceil(side * float(texels_per_unit)))
    n = max(16, min(n, int(math.sqrt(max_bytes / channels)), int(math.sqrt(_MAX_TEXELS))))
    ppu = n / side
    x0 = y0 = -half

    def texel_xy(points) -> list[tuple[float, float]]:
        return [((float(x) - x0) * ppu, (float(y) - y0) * ppu) for x, y in points]

    # Label image, supersampled: 0 black (outside the field), 1 background, 2 grass, then road colours.
    palette: list[tuple[int, int, int]] = [(0, 0, 0), tuple(int(c) for c in bg_color),
                                           tuple(int(c) for c in grass_color)]
    index: dict[tuple[int, int, int], int] = {}
    ss = max(1, int(supersample))
    img = Image.new("L", (n * ss, n * ss), 0)
    draw = ImageDraw.Draw(img)

    def fill(points, label: int) -> None:
        draw.polygon([(x * ss, y * ss) for x, y in texel_xy(points)], fill=label)

    b = float(playfield)
    fill([(b, b), (b, -b), (-b, -b), (-b, b)], 1)
    g = _cr.GRASS_DIM
    k = int(math.ceil(b / g)) + 1
    for gx in range(-k - (k % 2), k, 2):  # DeepRacerEnv._render_road's grass squares
        for gy in range(-k - (k % 2), k, 2):
            fill([(g * gx + g, g * gy), (g * gx, g * gy), (g * gx, g * gy + g), (g * gx + g, g * gy + g)], 2)
    tile_colors = []
    for i, (points, color) in enumerate(road_poly):
        rgb = tuple(int(c) for c in color)
        label = index.get(rgb)
        if label is None:
            if len(palette) >= 256:
                raise ValueError("road_poly: more than 253 distinct colours")
            label = index[rgb] = len(palette)
            palette.append(rgb)
        fill(points, label)
        if i < tile_count:
            tile_colors.append(rgb)
    del draw

    def to_texture(colors) -> np.ndarray:
        lut = _after_smoothscale(colors)
        if grayscale:
            return np.floor(lut @ _GRAY + 1e-6).clip(0, 255).astype(np.uint8)
        return lut.clip(0, 255).astype(np.uint8)

    # Colour and box-average in strips, to keep the supersampled colour image small.
    colors = to_texture(palette)
    tex = Image.new("L" if grayscale else "RGB", (n, n), 0)
    strip = 256 * ss
    for top in range(0, n * ss, strip):
        part = img.crop((0, top, n * ss, min(top + strip, n * ss)))
        if grayscale:
            part = part.point(colors.tolist() + [0] * (256 - len(colors)))
        else:
            part.putpalette(colors.reshape(-1).tolist())
            part = part.convert("RGB")
        tex.paste(part.reduce(ss) if ss > 1 else part, (0, top // ss))
    del img, part
    radius = 0.5 * (blur_units * ppu - 1.0)
    if radius > 0.05:
        tex = tex.filter(ImageFilter.BoxBlur(radius))
    pixels = np.asarray(tex).copy()
    del tex
    # The outermost ring is black, so a clipped index outside the texture reads black (outside the field).
    pixels[0] = 0
    pixels[-1] = 0
    pixels[:, 0] = 0
    pixels[:, -1] = 0
    pixels = pixels.reshape(n * n) if grayscale else pixels.reshape(n * n, 3)

    # Texels of each shaded tile: tile ids (i % 255 + 1, told apart within the tile's bounding box)
    # drawn in the same order as the road, kerbs (drawn over the tiles) as 0.
    tile_texels: list[np.ndarray] = []
    tile_delta = np.zeros((len(tile_colors), channels), dtype=np.int16)
    if tile_colors:
        plain = tuple(int(c) for c in road_color)
        shaded = to_texture(tile_colors).reshape(len(tile_colors), channels).astype(np.int16)
        tile_delta = shaded - to_texture([plain]).reshape(1, channels).astype(np.int16)
        id_img = Image.new("L", (n, n), 0)
        id_draw = ImageDraw.Draw(id_img)
        boxes = []
        for i, (points, _) in enumerate(road_poly):
            xy = texel_xy(points)
            id_draw.polygon(xy, fill=i % 255 + 1 if i < tile_count else 0)
            if i < tile_count:
                a = np.array(xy)
                boxes.append((np.clip(np.floor(a.min(axis=0)).astype(int), 0, n),
                              np.clip(np.floor(a.max(axis=0)).astype(int) + 1, 0, n)))
        ids = np.asarray(id_img)
        del id_draw, id_img
        empty = np.zeros(0, dtype=np.int32)
        for i, (lo, hi) in enumerate(boxes):
            if not tile_delta[i].any():
                tile_texels.append(empty)
                continue
            r, c = np.nonzero(ids[lo[1]:hi[1], lo[0]:hi[0]] == i % 255 + 1)
            tile_texels.append(((r + lo[1]) * n + (c + lo[0])).astype(np.int32))
        del ids
    return RoadTexture(pixels=pixels, rows=n, cols=n, x0=x0, y0=y0, texels_per_unit=ppu, sim=sim,
                       tile_texels=tuple(tile_texels), tile_delta=tile_delta)


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
    """CarRacing's state pixels for a :class:`DeepRacerEnv`, drawn with NumPy (no pygame, no display).

    Args:
        size: output side in pixels.
        texels_per_unit: road texture resolution (texels per sim unit), lowered to fit ``max_texture_bytes``.
        max_texture_bytes: largest texture built for one track.
        cache_bytes: textures kept (most recently used first) for tracks of a pool; at least one is kept.
    """

    def __init__(self, size: int = 64, *, texels_per_unit: float = 4.0, max_texture_bytes: int = 16 * 2**20,
                 cache_bytes: int = 48 * 2**20) -> None:
        if int(size) < 8:
            raise ValueError(f"size: must be >= 8, got {size}")
        self.size = s = int(size)
        self.texels_per_unit = float(texels_per_unit)
        self.max_texture_bytes = int(max_texture_bytes)
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[tuple, RoadTexture] = OrderedDict()
        self._road_poly_seen: Any = None
        self._tex: RoadTexture | None = None
        self._tex_gray: bool | None = None
        # Touched tiles repainted in the current texture this episode: (texel indices, old values).
        self._painted: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending: list[bool] = []
        self._seen_visits = 0

        col_w = WINDOW_W / s
        row_h = WINDOW_H / s
        #: Width of one output pixel's footprint, sim units (geometric mean of its sides).
        self.blur_units = math.sqrt(col_w * row_h) / ZOOM_PX
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
        self._flat = np.empty((1, n_view), dtype=np.float32)
        self._idx = np.empty(n_view, dtype=np.intp)
        self._combine = np.array([[1.0, 0.0]], dtype=np.float32)  # [1, cols] of the current texture

        # Car sprite: out = out * keep + add on a small box of pixels.
        self._car_rows, self._car_cols, wheels, hull = _car_sprite(s)
        self._car_keep = (1.0 - wheels - hull).astype(np.float32)
        add_rgb = wheels[:, :, None] * _WHEEL_RGB + hull[:, :, None] * _HULL_RGB
        self._car_keep_rgb = np.repeat(self._car_keep[:, :, None], 3, axis=2)
        self._car_add_rgb = (add_rgb + 0.5).astype(np.float32)
        self._car_add_gray = (add_rgb @ _GRAY + 0.5).astype(np.float32)

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
        self._vert_gray = (blocks * (_IND_RGB[:5] @ _GRAY)[:, None, None, None]).astype(np.float32)
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
        self._h_gray_coef = (_IND_RGB[5:] @ _GRAY).astype(np.float32)  # (2,)
        self._h_rgb_coef = _IND_RGB[5:].T.astype(np.float32)  # (3, 2)
        self._signs = np.tile(np.array([1.0, -1.0], dtype=np.float32), 3)
        self._bar_gray = np.empty((nb, s), dtype=np.float32)
        self._bar_rgb = np.empty((nb, s, 3), dtype=np.float32)

    # ------------------------------------------------------------------ textures
    def _texture_for(self, env: DeepRacerEnv) -> RoadTexture:
        gray = bool(env.grayscale)
        if env.road_poly is self._road_poly_seen and self._tex is not None and gray == self._tex_gray:
            return self._tex
        self._restore_tiles()
        sim = env.sim_track
        key = (id(sim), gray, float(env.playfield),
               tuple(np.asarray(env.bg_color, dtype=np.float64).tolist()),
               tuple(np.asarray(env.grass_color, dtype=np.float64).tolist()),
               tuple(np.asarray(env.road_color, dtype=np.float64).tolist()))
        tex = self._cache.get(key)
        if tex is not None and tex.sim is sim:
            self._cache.move_to_end(key)
        else:
            tex = build_road_texture(env.road_poly, env.playfield, env.bg_color, env.grass_color, grayscale=gray,
                                     texels_per_unit=self.texels_per_unit, blur_units=self.blur_units,
                                     max_bytes=self.max_texture_bytes, tile_count=len(env.road),
                                     road_color=env.road_color, sim=sim)
            self._cache[key] = tex
            while len(self._cache) > 1 and sum(t.nbytes for t in self._cache.values()) > self.cache_bytes:
                self._cache.popitem(last=False)
        self._road_poly_seen = env.road_poly
        self._tex = tex
        self._tex_gray = gray
        self._combine[0, 1] = tex.cols
        # Tiles whose repainting would change the picture and has not happened yet this episode.
        self._pending = [t.size > 0 for t in tex.tile_texels]
        self._seen_visits = 0
        return tex

    def _restore_tiles(self) -> None:
        """Undo this episode's repainting of touched tiles, leaving the cached texture as built."""
        if self._tex is not None:
            pixels = self._tex.pixels
            for ix, old in reversed(self._painted):
                pixels[ix] = old
        self._painted = []

    def _paint_touched(self, env: DeepRacerEnv) -> None:
        """Repaint tiles the car has touched in the plain road colour, as CarRacing's contact listener does.

        Every call looks at the few tiles around the car (the hull's front touches a tile before the wheels
        visit it); when CarRacing's visit count grows it looks wider, and everywhere if that misses some.
        """
        road = env.road
        n = len(road)
        pending = self._pending
        if n != len(pending):
            return
        base = env.road_color[0]
        sim = env.sim_track
        proj = getattr(env, "_proj", None)
        if proj is not None:
            center = int(math.ceil(proj * sim.ds * n / sim.length))
        else:
            px, py = env.car.hull.position
            center = int(np.argmin((sim.tiles[:, 2] - px) ** 2 + (sim.tiles[:, 3] - py) ** 2))
        count = env.tile_visited_count
        reach = 8 if count != self._seen_visits else 3
        found = 0
        for j in range(center - reach, center + reach + 1):
            i = j % n
            if pending[i] and road[i].color[0] == base:
                self._paint(i)
                found += 1
        if count - self._seen_visits > found:
            for i in range(n):
                if pending[i] and road[i].color[0] == base:
                    self._paint(i)
        self._seen_visits = count

    def _paint(self, i: int) -> None:
        tex = self._tex
        self._pending[i] = False
        ix = tex.tile_texels[i]
        pixels = tex.pixels
        old = pixels[ix]
        pixels[ix] = np.clip(old.astype(np.int16) - tex.tile_delta[i], 0, 255)
        self._painted.append((ix, old))

    # ------------------------------------------------------------------ drawing
    def render(self, env: DeepRacerEnv) -> np.ndarray:
        """The car-centred view of ``env`` now.

        Returns uint8 ``(size, size, 1)`` gray if ``env.grayscale``, else ``(size, size, 3)`` RGB.
        """
        tex = self._texture_for(env)
        self._paint_touched(env)
        s = self.size
        hull = env.car.hull
        px, py = hull.position
        angle = hull.angle
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
        np.matmul(self._combine, uv, out=self._flat)  # v * cols + u, exact in float32 below 2**24
        idx = self._idx
        np.copyto(idx, self._flat[0], casting="unsafe")

        n_view = idx.shape[0]
        rs, cs = self._car_rows, self._car_cols
        if self._tex_gray:
            out = np.empty((s, s, 1), dtype=np.uint8)
            plane = out.reshape(s, s)
            np.take(tex.pixels, idx, out=plane.reshape(-1)[:n_view], mode="clip")
            box = plane[rs, cs] * self._car_keep
            box += self._car_add_gray
            plane[rs, cs] = box
            self._draw_bar(env, plane, rgb=False)
        else:
            out = np.empty((s, s, 3), dtype=np.uint8)
            np.take(tex.pixels, idx, axis=0, out=out.reshape(-1, 3)[:n_view], mode="clip")
            box = out[rs, cs] * self._car_keep_rgb
            box += self._car_add_rgb
            out[rs, cs] = box
            self._draw_bar(env, out, rgb=True)
        return out

    def _draw_bar(self, env: DeepRacerEnv, out: np.ndarray, *, rgb: bool) -> None:
        """CarRacing's indicators: speed, four wheel speeds (ABS), steering and gyro, on the black bar.

        ``out`` is the ``(size, size)`` gray plane or the ``(size, size, 3)`` RGB image.
        """
        bar = self._bar_rgb if rgb else self._bar_gray
        car = env.car
        hull = car.hull
        wheels = car.wheels
        vx, vy = hull.linearVelocity
        bh = self._bh
        bar.fill(0.5)  # black bar; 0.5 rounds on the final cast
        speed = math.sqrt(vx * vx + vy * vy)
        drivers = (speed, wheels[0].omega, wheels[1].omega, wheels[2].omega, wheels[3].omega)
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
        steer = wheels[0].joint.angle
        gyro = hull.angularVelocity
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

    from racingline.controllers import PurePursuit
    from racingline.envs.deepracer import DeepRacerEnv

    for grayscale in (True, False):
        env = DeepRacerEnv("kidney", continuous=True, obs="pixels", renderer="fast", frame_skip=2,
                           grayscale=grayscale)
        env.reset(seed=0)
        driver = PurePursuit()
        for _ in range(50):
            env.step(driver.continuous(env))
        renderer = FastRenderer(size=env.size)
        n = 5000
        per = min(timeit.repeat(lambda: renderer.render(env), number=n, repeat=5)) / n
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
