"""The road of an episode: CarRacing's Box2D road tiles built from a :class:`SimTrack`, as a :class:`RoadScene`.

A scene is what renderers draw: the tiles (static sensor bodies whose ``color`` CarRacing's contact
listener repaints when the car touches them), the polygons pygame draws (tiles then kerbs), each tile's
untouched shade, the playfield and the colours. A new :class:`RoadScene` is made every episode, so a
renderer knows a new episode began when it sees a new scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import Box2D
import numpy as np
from gymnasium.envs.box2d import car_racing as _cr

from racingline.sim.carracing_track import START_ALPHA, carracing_centerline
from racingline.sim.geometry import SimTrack, build_sim_track
from racingline.tracks.files import Track

__all__ = ["RoadScene", "build_road", "reset_road", "procedural_sim_track", "START_ALPHA"]


@dataclass(frozen=True, eq=False)
class RoadScene:
    """A drawable road.

    Attributes:
        sim: the track in the simulator.
        tiles: CarRacing's road tile bodies (``color``, ``road_visited``), in centerline order.
        polys: ``(polygon [(x, y), ...], colour)`` as CarRacing's ``road_poly``: one per tile, then the kerbs.
        shades: each tile's colour before the car touches it.
        playfield: half-side of the simulated square (sim units).
        bg_color, grass_color, road_color: RGB colours (0-255).
    """

    sim: SimTrack
    tiles: list
    polys: list
    shades: list
    playfield: float
    bg_color: Any
    grass_color: Any
    road_color: Any


def build_road(world: Any, fd_tile: Any, road_color: Any, sim: SimTrack) -> tuple[list, list, list]:
    """CarRacing's road tiles (static bodies, one sensor quad each) for ``sim``: ``(tiles, polys, shades)``.

    The same bodies as ``world.CreateStaticBody(fixtures=fd_tile)`` then ``sensor = True``, made
    through pybox2d's direct calls, which skip its per-call keyword handling (4x faster).
    """
    road: list = []
    road_poly: list = []
    body_def = Box2D.b2BodyDef()  # a static body at the origin, as CreateStaticBody makes
    shape = fd_tile.shape
    set_vertex = shape.set_vertex
    finish_shape = shape._b2PolygonShape__set_vertices_internal
    create_body = world._b2World__CreateBody
    shade_of = [road_color + 0.01 * k * 255 for k in range(3)]
    shades = [shade_of[i % 3] for i in range(len(sim.tile_polys))]
    for i, poly in enumerate(sim.tile_polys.tolist()):
        quad = [(x, y) for x, y in poly]
        for k, (x, y) in enumerate(quad):
            set_vertex(k, x, y)
        shape.vertexCount = 4
        finish_shape()
        t = create_body(body_def)
        fixture = t._b2Body__CreateFixture(fd_tile)
        t.userData = t
        t.color = shade_of[i % 3].copy()
        t.road_visited = False
        t.road_friction = 1.0
        t.idx = i
        fixture.sensor = True
        road_poly.append((quad, t.color))
        road.append(t)
    for quad, white in sim.kerb_polys:
        road_poly.append(([(float(x), float(y)) for x, y in quad], (255, 255, 255) if white else (255, 0, 0)))
    return road, road_poly, shades


def reset_road(tiles: list, shades: list) -> None:
    """Tiles as :func:`build_road` left them: unvisited, in their original shades."""
    for i, t in enumerate(tiles):
        t.road_visited = False
        t.color[:] = shades[i]


def procedural_sim_track(rng: np.random.Generator, *, track_scale: float, track_width_scale: float) -> SimTrack:
    """CarRacing's own random track generator (its random draws from ``rng``), as a metre :class:`Track` in the sim."""
    centerline = carracing_centerline(rng)
    while centerline is None:
        centerline = carracing_centerline(rng)
    pts = np.array([(x, y) for _, _, x, y in centerline], dtype=np.float64)
    width_m = 2.0 * _cr.TRACK_WIDTH / (track_scale * track_width_scale)
    center_m = pts / track_scale
    tangent = np.roll(center_m, -1, axis=0) - np.roll(center_m, 1, axis=0)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    left = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    wp = np.stack([center_m, center_m + left * width_m / 2, center_m - left * width_m / 2], axis=1)
    track = Track(name="carracing_random", waypoints=wp)
    return build_sim_track(track, track_scale=track_scale, track_width_scale=track_width_scale,
                           origin_m=np.zeros(2))
