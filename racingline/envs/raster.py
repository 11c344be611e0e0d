"""Road textures: a track's scene rasterised once with PIL, cached per track, with touched tiles repainted.

Once per track and colour set, the scene (black outside the playfield, background, CarRacing's grass
checkerboard, road tiles with their per-tile shade, kerbs, as :meth:`DeepRacerEnv._render_road` draws them)
is rasterised (2x supersampled) into a uint8 texture at a few texels per sim unit and box-blurred by the
footprint of one output pixel, standing in for pygame's smoothscale's area averaging. Tiles the car touches
lose their shade, as CarRacing's contact listener repaints them; :class:`TextureCache` patches the texture in
place during an episode and restores it for the next one.

Colours are 2 levels darker per channel than drawn, as pygame's SSE2 smoothscale makes them. The window
geometry (CarRacing's 1000x800 window, the car's place in it, the zoom) lives here too: the texture's margin
is the farthest window corner from the car. :mod:`racingline.envs.fast_render` samples these textures.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.envs.box2d import car_racing as _cr

if TYPE_CHECKING:
    from racingline.envs.deepracer import DeepRacerEnv

__all__ = ["RoadTexture", "TextureCache", "build_road_texture"]

WINDOW_W = float(_cr.WINDOW_W)
WINDOW_H = float(_cr.WINDOW_H)
#: Window pixels per sim unit at full zoom.
ZOOM_PX = _cr.ZOOM * _cr.SCALE
#: Window position of the car centre (x from the left, y from the top).
CAR_X = WINDOW_W / 2.0
CAR_Y = 3.0 * WINDOW_H / 4.0
#: Sim units beyond the playfield kept in the texture: the farthest window corner from the car
#: (~48 sim units) plus slack for a car that has just left the playfield.
TEXTURE_MARGIN = math.hypot(CAR_X, CAR_Y) / ZOOM_PX + 16.0
#: Flat texel indices are computed exactly in float32, so a texture holds at most 2**24 texels.
_MAX_TEXELS = 2**24
#: Grayscale weights (Gymnasium's GrayscaleObservation, as DeepRacerEnv uses).
GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], dtype=np.float64)
#: pygame's SSE2 smoothscale darkens every channel by 2 levels (uniform v -> max(v - 2, 0)); we match it.
SMOOTHSCALE_LOSS = 2.0


def after_smoothscale(rgb) -> np.ndarray:
    """Colours (0-255, any shape) as pygame's smoothscale leaves them: ``SMOOTHSCALE_LOSS`` darker, float64."""
    return np.maximum(np.asarray(rgb, dtype=np.float64) - SMOOTHSCALE_LOSS, 0.0)


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
            CarRacing repaints a tile in the plain road colour once the car touches it; a
            :class:`TextureCache` applies that to ``pixels`` during an episode and undoes it afterwards.
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
        lut = after_smoothscale(colors)
        if grayscale:
            return np.floor(lut @ GRAY_WEIGHTS + 1e-6).clip(0, 255).astype(np.uint8)
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

class TextureCache:
    """Road textures of the tracks a renderer shows (a pool's), most recently used first, under a byte budget.

    Args:
        texels_per_unit: texture resolution (texels per sim unit), lowered to fit ``max_texture_bytes``.
        blur_units: width (sim units) of the box blur standing in for the smoothscale's area averaging.
        max_texture_bytes: largest texture built for one track.
        cache_bytes: textures kept (most recently used first); at least one is kept.
    """

    def __init__(self, *, texels_per_unit: float, blur_units: float, max_texture_bytes: int,
                 cache_bytes: int) -> None:
        self.texels_per_unit = float(texels_per_unit)
        self.blur_units = float(blur_units)
        self.max_texture_bytes = int(max_texture_bytes)
        self.cache_bytes = int(cache_bytes)
        #: Cached textures by (track id, grayscale, playfield, colours).
        self.textures: OrderedDict[tuple, RoadTexture] = OrderedDict()
        self._road_poly_seen: Any = None
        self._tex: RoadTexture | None = None
        self._tex_gray: bool | None = None
        # Touched tiles repainted in the current texture this episode: (texel indices, old values).
        self._painted: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending: list[bool] = []
        self._seen_visits = 0

    def texture_for(self, env: DeepRacerEnv) -> RoadTexture:
        """The texture of ``env``'s track now, with the tiles its car has touched repainted."""
        gray = bool(env.grayscale)
        if env.road_poly is self._road_poly_seen and self._tex is not None and gray == self._tex_gray:
            tex = self._tex
        else:
            tex = self._switch(env, gray)
        self._paint_touched(env)
        return tex

    def _switch(self, env: DeepRacerEnv, gray: bool) -> RoadTexture:
        """Start a new episode or track: restore the old texture, then find or build the new one."""
        self._restore_tiles()
        sim = env.sim_track
        key = (id(sim), gray, float(env.playfield),
               tuple(np.asarray(env.bg_color, dtype=np.float64).tolist()),
               tuple(np.asarray(env.grass_color, dtype=np.float64).tolist()),
               tuple(np.asarray(env.road_color, dtype=np.float64).tolist()))
        tex = self.textures.get(key)
        if tex is not None and tex.sim is sim:
            self.textures.move_to_end(key)
        else:
            tex = build_road_texture(env.road_poly, env.playfield, env.bg_color, env.grass_color, grayscale=gray,
                                     texels_per_unit=self.texels_per_unit, blur_units=self.blur_units,
                                     max_bytes=self.max_texture_bytes, tile_count=len(env.road),
                                     road_color=env.road_color, sim=sim)
            self.textures[key] = tex
            while len(self.textures) > 1 and sum(t.nbytes for t in self.textures.values()) > self.cache_bytes:
                self.textures.popitem(last=False)
        self._road_poly_seen = env.road_poly
        self._tex = tex
        self._tex_gray = gray
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
