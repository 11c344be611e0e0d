"""Road textures: a track's scene rasterised with PIL chunk by chunk, cached per track, touched tiles repainted.

Per track and colour set, the scene (black outside the playfield, background, CarRacing's grass
checkerboard, road tiles with their per-tile shade, kerbs, as :meth:`DeepRacerEnv._render_road` draws them)
is rasterised (2x supersampled) into a uint8 texture at a few texels per sim unit and box-blurred by the
footprint of one output pixel, standing in for pygame's smoothscale's area averaging. It is built in square
chunks, each the first time a view reaches it (:meth:`RoadTexture.ensure`): a short episode on a new track
rasterises the few chunks around its path, not the whole texture. A chunk's texels depend only on the
scene, not on which chunks were built before it (each is rasterised with a margin for the blur). Tiles the car touches
lose their shade, as CarRacing's contact listener repaints them; :class:`TextureCache` patches the texture in
place during an episode and restores it for the next one.

Colours are 2 levels darker per channel than drawn, as pygame's SSE2 smoothscale makes them. The window
geometry (CarRacing's 1000x800 window, the car's place in it, the zoom) lives here too: the texture's margin
is the farthest window corner from the car. :mod:`racingline.sim.fast_render` samples these textures.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.envs.box2d import car_racing as _cr

if TYPE_CHECKING:
    from racingline.sim.road import RoadScene
    from racingline.sim.state import CarState

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


class _Scene:
    """What a track's texture shows, ready to be rasterised a region at a time (see :func:`build_road_texture`)."""

    def __init__(self, road_poly: list, playfield: float, bg_color, grass_color, *, grayscale: bool, n: int,
                 ppu: float, x0: float, y0: float, blur_units: float, supersample: int, tile_count: int) -> None:
        self.n, self.ppu, self.x0, self.y0 = n, ppu, x0, y0
        self.grayscale = grayscale
        self.ss = max(1, int(supersample))
        self.radius = 0.5 * (blur_units * ppu - 1.0)
        # Texels a region is grown by before blurring, so that its blurred interior is the whole texture's.
        self.apron = int(math.ceil(max(self.radius, 0.0))) + 2
        # Labels: 0 black (outside the field), 1 background, 2 grass, then road colours.
        palette: list[tuple[int, int, int]] = [(0, 0, 0), tuple(int(c) for c in bg_color),
                                               tuple(int(c) for c in grass_color)]
        index: dict[tuple[int, int, int], int] = {}
        self.polys: list[list[tuple[float, float]]] = []  # road_poly in texel coordinates
        self.labels: list[int] = []
        self.tile_colors: list[tuple[int, int, int]] = []
        for i, (points, color) in enumerate(road_poly):
            rgb = tuple(int(c) for c in color)
            label = index.get(rgb)
            if label is None:
                if len(palette) >= 256:
                    raise ValueError("road_poly: more than 253 distinct colours")
                label = index[rgb] = len(palette)
                palette.append(rgb)
            self.polys.append(self.texel_xy(points))
            self.labels.append(label)
            if i < tile_count:
                self.tile_colors.append(rgb)
        self.tile_count = len(self.tile_colors)
        self.colors = self.to_texture(palette)
        self.lut = (self.colors.tolist() + [0] * (256 - len(self.colors))) if grayscale \
            else self.colors.reshape(-1).tolist()
        # Bounding boxes (u0, v0, u1, v1) in texels, to pick the polygons a region shows.
        if self.polys:
            corners = np.array([[min(u for u, _ in p), min(v for _, v in p), max(u for u, _ in p),
                                 max(v for _, v in p)] for p in self.polys])
        else:
            corners = np.zeros((0, 4))
        self.boxes = corners
        self.playfield = float(playfield)
        g = _cr.GRASS_DIM
        k = int(math.ceil(self.playfield / g)) + 1
        self.grass = (g, -k - (k % 2), k)  # squares at g * (gx, gy), gx and gy in range(first, k, 2)

    def texel_xy(self, points) -> list[tuple[float, float]]:
        x0, y0, ppu = self.x0, self.y0, self.ppu
        return [((float(x) - x0) * ppu, (float(y) - y0) * ppu) for x, y in points]

    def to_texture(self, colors) -> np.ndarray:
        """Texel values of RGB colours as drawn: gray ``(K,)`` or RGB ``(K, 3)`` uint8."""
        lut = after_smoothscale(colors)
        if self.grayscale:
            return np.floor(lut @ GRAY_WEIGHTS + 1e-6).clip(0, 255).astype(np.uint8)
        return lut.clip(0, 255).astype(np.uint8)

    def render(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Texels of rows ``r0:r1`` and columns ``c0:c1``: ``(rows, cols)`` gray or ``(rows, cols, 3)`` uint8.

        The region, grown by the blur's reach, is filled with polygons ``ss`` times finer, coloured,
        box-averaged and box-blurred (standing in for the smoothscale's area averaging).
        """
        from PIL import Image, ImageDraw, ImageFilter

        n, ss, a = self.n, self.ss, self.apron
        R0, R1, C0, C1 = max(r0 - a, 0), min(r1 + a, n), max(c0 - a, 0), min(c1 + a, n)
        img = Image.new("L", ((C1 - C0) * ss, (R1 - R0) * ss), 0)
        draw = ImageDraw.Draw(img)

        def fill(xy, label: int) -> None:
            draw.polygon([((u - C0) * ss, (v - R0) * ss) for u, v in xy], fill=label)

        b = self.playfield
        fill(self.texel_xy([(b, b), (b, -b), (-b, -b), (-b, b)]), 1)
        # Grass squares over the region (DeepRacerEnv._render_road's checkerboard).
        g, first, k = self.grass
        ppu = self.ppu

        def squares(lo_texel: int, hi_texel: int, origin: float) -> range:
            lo = (origin + lo_texel / ppu) / g - 1.0  # square gx spans [g * gx, g * gx + g]
            hi = (origin + hi_texel / ppu) / g
            start = max(first, math.floor(lo) - 1)
            start += (start - first) % 2
            return range(start, min(k, math.ceil(hi) + 1), 2)

        for gx in squares(C0, C1, self.x0):
            for gy in squares(R0, R1, self.y0):
                fill(self.texel_xy([(g * gx + g, g * gy), (g * gx, g * gy), (g * gx, g * gy + g),
                                    (g * gx + g, g * gy + g)]), 2)
        boxes = self.boxes
        if len(boxes):
            hit = np.flatnonzero((boxes[:, 0] < C1) & (boxes[:, 2] > C0 - 1) & (boxes[:, 1] < R1) & (boxes[:, 3] > R0 - 1))
            polys, labels = self.polys, self.labels
            for i in hit.tolist():
                fill(polys[i], labels[i])
        draw = None  # release the drawing context before the image is converted
        if self.grayscale:
            img = img.point(self.lut)
        else:
            img.putpalette(self.lut)
            img = img.convert("RGB")
        if ss > 1:
            img = img.reduce(ss)
        if self.radius > 0.05:
            img = img.filter(ImageFilter.BoxBlur(self.radius))
        out = np.asarray(img)[r0 - R0: r1 - R0, c0 - C0: c1 - C0].copy()
        # The outermost ring is black, so a clipped index outside the texture reads black (outside the field).
        if r0 == 0:
            out[0] = 0
        if r1 == n:
            out[-1] = 0
        if c0 == 0:
            out[:, 0] = 0
        if c1 == n:
            out[:, -1] = 0
        return out

    def tile_texels(self, i: int) -> np.ndarray:
        """Flat indices of the texels road tile ``i`` shows: its polygon at texel resolution, less what later
        polygons (the next tiles, the kerbs) draw over it."""
        from PIL import Image, ImageDraw

        n = self.n
        box = self.boxes[i]
        c0, r0 = max(int(math.floor(box[0])), 0), max(int(math.floor(box[1])), 0)
        c1, r1 = min(int(math.floor(box[2])) + 2, n), min(int(math.floor(box[3])) + 2, n)
        if c1 <= c0 or r1 <= r0:
            return np.zeros(0, dtype=np.int32)
        img = Image.new("L", (c1 - c0, r1 - r0), 0)
        draw = ImageDraw.Draw(img)
        draw.polygon([(u - c0, v - r0) for u, v in self.polys[i]], fill=1)
        boxes = self.boxes[i + 1:]
        later = np.flatnonzero((boxes[:, 0] < c1) & (boxes[:, 2] > c0 - 1) & (boxes[:, 1] < r1) & (boxes[:, 3] > r0 - 1))
        for j in (later + i + 1).tolist():
            draw.polygon([(u - c0, v - r0) for u, v in self.polys[j]], fill=0)
        r, c = np.nonzero(np.asarray(img))
        return ((r + r0) * n + (c + c0)).astype(np.int32)


@dataclass(eq=False)
class RoadTexture:
    """A track's scene rasterised for sampling, region by region as views need it.

    Attributes:
        pixels: ``(rows * cols,)`` grayscale or ``(rows * cols, 3)`` RGB uint8, row-major, row r at world
            ``y = y0 + (r + 0.5) / texels_per_unit`` and column c at ``x = x0 + (c + 0.5) / texels_per_unit``.
            Only chunks marked in ``built`` hold the scene yet (the rest are zero, black):
            :meth:`ensure` builds the chunks a view needs, so a short episode rasterises only the part of
            the track it sees (the array is allocated zeroed, so unbuilt chunks take no memory either).
        rows, cols: texture size in texels.
        x0, y0: world (sim unit) coordinates of the texture's lower-left corner.
        texels_per_unit: texels per sim unit.
        sim: the track this texture shows (held so its ``id`` stays unique while cached).
        chunk: side of a chunk in texels; built: ``(chunks, chunks)`` bool, the chunks rasterised.
        tile_delta: ``(T, channels)`` int16, how much darker the plain road colour is than each road tile's
            shade. CarRacing repaints a tile in the plain road colour once the car touches it; a
            :class:`TextureCache` applies that to ``pixels`` during an episode and undoes it afterwards.
    """

    pixels: np.ndarray
    rows: int
    cols: int
    x0: float
    y0: float
    texels_per_unit: float
    sim: Any
    chunk: int
    built: np.ndarray
    tile_delta: np.ndarray
    scene: _Scene
    _tile_texels: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes) + sum(int(t.nbytes) for t in self._tile_texels.values())

    @property
    def complete(self) -> bool:
        return bool(self.built.all())

    def tile_texels(self, i: int) -> np.ndarray:
        """Flat indices of the texels road tile ``i`` shows (computed once, on first use)."""
        ix = self._tile_texels.get(i)
        if ix is None:
            ix = self._tile_texels[i] = self.scene.tile_texels(i)
        return ix

    def chunk_of(self, ix: np.ndarray) -> np.ndarray:
        """Flat chunk index (into ``built.ravel()``) of each flat texel index."""
        c = self.chunk
        return (ix // self.cols // c) * self.built.shape[1] + (ix % self.cols) // c

    def ensure(self, u_lo: float, u_hi: float, v_lo: float, v_hi: float) -> list[tuple[int, int]]:
        """Rasterise the chunks covering texel columns ``u_lo..u_hi`` and rows ``v_lo..v_hi`` not built yet.

        Returns the (chunk row, chunk column) of each chunk built now.
        """
        c, nc = self.chunk, self.built.shape[0]
        j0 = min(max(int(u_lo) // c, 0), nc - 1)
        j1 = min(max(int(u_hi) // c, 0), nc - 1)
        i0 = min(max(int(v_lo) // c, 0), nc - 1)
        i1 = min(max(int(v_hi) // c, 0), nc - 1)
        built = self.built
        if built[i0:i1 + 1, j0:j1 + 1].all():
            return []
        image = self.pixels.reshape(self.rows, self.cols, *self.pixels.shape[1:])
        new = []
        for i in range(i0, i1 + 1):
            for j in range(j0, j1 + 1):
                if not built[i, j]:
                    # One chunk at a time: a chunk's texels never depend on which others were built.
                    r0, r1 = i * c, min((i + 1) * c, self.rows)
                    q0, q1 = j * c, min((j + 1) * c, self.cols)
                    image[r0:r1, q0:q1] = self.scene.render(r0, r1, q0, q1)
                    built[i, j] = True
                    new.append((i, j))
        return new

    def ensure_all(self) -> None:
        """Rasterise every chunk not built yet."""
        self.ensure(0, self.cols - 1, 0, self.rows - 1)


def build_road_texture(road_poly: list, playfield: float, bg_color, grass_color, *, grayscale: bool,
                       texels_per_unit: float = 4.0, blur_units: float = 0.0, max_bytes: int = 16 * 2**20,
                       supersample: int = 2, tile_count: int = 0, road_color=None, sim: Any = None,
                       chunk: int = 96, lazy: bool = False) -> RoadTexture:
    """The scene around a track as a texture: black, the playfield background, grass, road and kerbs.

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
        chunk: side (texels) of the chunks the texture is rasterised in.
        lazy: rasterise nothing yet (:meth:`RoadTexture.ensure` builds chunks on demand), else everything.
    """
    channels = 1 if grayscale else 3
    half = float(playfield) + TEXTURE_MARGIN
    side = 2.0 * half
    n = int(math.ceil(side * float(texels_per_unit)))
    n = max(16, min(n, int(math.sqrt(max_bytes / channels)), int(math.sqrt(_MAX_TEXELS))))
    ppu = n / side
    scene = _Scene(road_poly, playfield, bg_color, grass_color, grayscale=grayscale, n=n, ppu=ppu, x0=-half,
                   y0=-half, blur_units=blur_units, supersample=supersample, tile_count=tile_count)
    tile_delta = np.zeros((scene.tile_count, channels), dtype=np.int16)
    if scene.tile_count:
        plain = tuple(int(c) for c in road_color)
        shaded = scene.to_texture(scene.tile_colors).reshape(scene.tile_count, channels).astype(np.int16)
        tile_delta = shaded - scene.to_texture([plain]).reshape(1, channels).astype(np.int16)
    chunk = max(8, int(chunk))
    nc = -(-n // chunk)
    pixels = np.zeros((n * n,) if grayscale else (n * n, 3), dtype=np.uint8)
    tex = RoadTexture(pixels=pixels, rows=n, cols=n, x0=-half, y0=-half, texels_per_unit=ppu, sim=sim,
                      chunk=chunk, built=np.zeros((nc, nc), dtype=bool), tile_delta=tile_delta, scene=scene)
    if not lazy:
        tex.ensure_all()
    return tex


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
        self._road_seen: Any = None
        self._tex: RoadTexture | None = None
        self._tex_gray: bool | None = None
        # Touched tiles repainted in the current texture this episode: (texel indices, old values).
        self._painted: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending: list[bool] = []
        self._painted_tiles: list[int] = []  # tiles repainted this episode, in order
        self._seen_visits = 0

    def texture_for(self, state: CarState, gray: bool) -> RoadTexture:
        """The texture of ``state``'s road now, with the tiles its car has touched repainted."""
        road = state.road
        if road is self._road_seen and self._tex is not None and gray == self._tex_gray:
            tex = self._tex
        else:
            tex = self._switch(road, gray)
        self._paint_touched(state)
        return tex

    def _switch(self, road: RoadScene, gray: bool) -> RoadTexture:
        """Start a new episode or track: restore the old texture, then find or build the new one."""
        self._restore_tiles()
        sim = road.sim
        key = (id(sim), gray, float(road.playfield),
               tuple(np.asarray(road.bg_color, dtype=np.float64).tolist()),
               tuple(np.asarray(road.grass_color, dtype=np.float64).tolist()),
               tuple(np.asarray(road.road_color, dtype=np.float64).tolist()))
        tex = self.textures.get(key)
        if tex is not None and tex.sim is sim:
            self.textures.move_to_end(key)
        else:
            # Tiles in their untouched shades (the reset's settling step has already repainted some).
            shades = road.shades
            road_poly = list(road.polys)
            road_poly[:len(shades)] = [(poly, shade) for (poly, _), shade in zip(road_poly, shades)]
            tex = build_road_texture(road_poly, road.playfield, road.bg_color, road.grass_color, grayscale=gray,
                                     texels_per_unit=self.texels_per_unit, blur_units=self.blur_units,
                                     max_bytes=self.max_texture_bytes, tile_count=len(road.tiles),
                                     road_color=road.road_color, sim=sim, lazy=True)
            self.textures[key] = tex
            while len(self.textures) > 1 and sum(t.nbytes for t in self.textures.values()) > self.cache_bytes:
                self.textures.popitem(last=False)
        self._road_seen = road
        self._tex = tex
        self._tex_gray = gray
        # Tiles whose repainting would change the picture and has not happened yet this episode.
        self._pending = tex.tile_delta.any(axis=1).tolist()
        self._painted_tiles = []
        self._seen_visits = 0
        return tex

    def ensure(self, tex: RoadTexture, u_lo: float, u_hi: float, v_lo: float, v_hi: float) -> None:
        """Rasterise the chunks of ``tex`` a view spanning these texel columns and rows needs, with this
        episode's touched tiles repainted in them."""
        new = tex.ensure(u_lo, u_hi, v_lo, v_hi)
        if not (new and self._painted_tiles and tex is self._tex):
            return
        c = tex.chunk
        painted = np.array(self._painted_tiles)
        boxes = tex.scene.boxes[painted]
        near = np.zeros(len(painted), dtype=bool)
        for r, j in new:  # painted tiles whose box meets a new chunk
            near |= ((boxes[:, 0] <= (j + 1) * c + 1) & (boxes[:, 2] >= j * c - 2)
                     & (boxes[:, 1] <= (r + 1) * c + 1) & (boxes[:, 3] >= r * c - 2))
        new_ids = [r * tex.built.shape[1] + j for r, j in new]
        for i in painted[near].tolist():
            ix = tex.tile_texels(i)
            self._paint_texels(tex, i, ix[np.isin(tex.chunk_of(ix), new_ids)])

    def _restore_tiles(self) -> None:
        """Undo this episode's repainting of touched tiles, leaving the cached texture as built."""
        if self._tex is not None:
            pixels = self._tex.pixels
            for ix, old in reversed(self._painted):
                pixels[ix] = old
        self._painted = []

    def _paint_touched(self, state: CarState) -> None:
        """Repaint tiles the car has touched in the plain road colour, as CarRacing's contact listener does.

        Every call looks at the few tiles around the car (the hull's front touches a tile before the wheels
        visit it); when CarRacing's visit count grows it looks wider, and everywhere if that misses some.
        """
        road = state.road.tiles
        n = len(road)
        pending = self._pending
        if n != len(pending):
            return
        base = state.road.road_color[0]
        sim = state.sim
        center = int(math.ceil(state.proj * sim.ds * n / sim.length))
        count = state.tiles_visited
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
        """Repaint tile ``i`` in the built part of the texture; chunks built later get it in :meth:`ensure`."""
        tex = self._tex
        self._pending[i] = False
        self._painted_tiles.append(i)
        ix = tex.tile_texels(i)
        if not tex.complete:
            ix = ix[tex.built.ravel()[tex.chunk_of(ix)]]
        self._paint_texels(tex, i, ix)

    def _paint_texels(self, tex: RoadTexture, i: int, ix: np.ndarray) -> None:
        if ix.size == 0:
            return
        pixels = tex.pixels
        old = pixels[ix]
        pixels[ix] = np.clip(old.astype(np.int16) - tex.tile_delta[i], 0, 255)
        self._painted.append((ix, old))
