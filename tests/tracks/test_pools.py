"""Training on pools: track specs expand to members; episodes sample tracks, directions and starts."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

from racingline import DeepRacerEnv, TrackError
from racingline.tracks.files import PROJECT_TRACKS_DIR
from racingline.tracks.pools import expand_track_spec
from racingline.train.config import apply_overrides, config_from_dict, env_kwargs


def test_spec_expands_names_globs_and_specials():
    members, weights = expand_track_spec(["kidney", "random", "generated"])
    assert Path(members[0]).resolve() == (PROJECT_TRACKS_DIR / "kidney.npy").resolve()
    assert members[1:] == ["random", "generated"] and weights is None
    members, _ = expand_track_spec(str(PROJECT_TRACKS_DIR / "*.npy"))
    assert {m.rsplit("/", 1)[-1] for m in members} >= {"kidney.npy", "s_bend.npy", "rounded_rectangle.npy"}
    members, _ = expand_track_spec("s_*")  # a bare glob is looked up in the track folders
    assert [m.rsplit("/", 1)[-1] for m in members] == ["s_bend.npy"]


def test_glob_weight_is_shared_by_its_matches():
    members, weights = expand_track_spec(["r*_rectangle", str(PROJECT_TRACKS_DIR / "[ks]*.npy")], [2.0, 1.0])
    assert len(members) == 3
    assert weights == [2.0, 0.5, 0.5]


def test_spec_errors_name_the_input():
    with pytest.raises(TrackError, match="nothing_*"):
        expand_track_spec("nothing_*")
    with pytest.raises(TrackError, match="no_such_track"):
        expand_track_spec(["kidney", "no_such_track"])
    with pytest.raises(TrackError, match="2 weights given for 1 tracks"):
        expand_track_spec(["kidney"], [1.0, 2.0])


def test_pool_sampling_covers_every_member_and_both_directions():
    members, _ = expand_track_spec(["kidney", "s_bend", "rounded_rectangle", "random"])
    env = DeepRacerEnv(members, obs="features", reverse="random", start_waypoint="random")
    seen = collections.Counter()
    starts = set()
    env.reset(seed=123)
    for _ in range(80):
        _, info = env.reset()
        seen[(info["track"], info["track_reversed"])] += 1
        starts.add(info["start_waypoint"])
    for name in ("kidney", "s_bend", "rounded_rectangle"):
        assert seen[(name, False)] > 0 and seen[(name, True)] > 0, seen
    assert seen[("carracing_random", False)] > 0
    assert len(starts) > 20


def test_pool_sampling_is_deterministic_under_a_seed():
    members, _ = expand_track_spec(["kidney", "s_bend", "generated"])

    def names(seed):
        env = DeepRacerEnv(members, obs="features", reverse="random")
        env.reset(seed=seed)
        return [(i["track"], i["track_reversed"]) for i in (env.reset()[1] for _ in range(12))]

    assert names(7) == names(7)
    assert names(7) != names(8)


def test_weights_bias_sampling():
    members, weights = expand_track_spec(["kidney", "s_bend"], [9.0, 1.0])
    env = DeepRacerEnv(members, obs="features", track_weights=weights)
    env.reset(seed=0)
    counts = collections.Counter(env.reset()[1]["track"] for _ in range(200))
    assert counts["kidney"] > 3 * counts["s_bend"] > 0


def test_generated_member_makes_new_tracks_every_n_episodes():
    env = DeepRacerEnv("generated", obs="features", generated_every=2)
    env.reset(seed=1)
    names = [env.reset()[1]["track"] for _ in range(6)]
    assert all(n.startswith("generated_") for n in names)
    # the first reset used one episode of the first track: then pairs
    assert names[1] == names[2] and names[3] == names[4] and names[2] != names[3]
    assert env.sim_track.track.length_m > 15


def test_generated_tracks_get_road_widths_from_the_range_and_repeat_with_the_seed():
    def widths(seed):
        env = DeepRacerEnv("generated", obs="features", generated_every=1, generated_width_m=[0.9, 1.1])
        env.reset(seed=seed)
        out = [(env.sim_track.track.name, env.sim_track.track.width_m)]
        out += [(env.sim_track.track.name, env.sim_track.track.width_m) for _ in range(5) if env.reset()]
        return out

    first = widths(3)
    assert first == widths(3)
    assert all(0.9 - 1e-9 <= w <= 1.1 + 1e-9 for _, w in first) and len({round(w, 4) for _, w in first}) > 1
    assert all(name.endswith(f"_w{w:.2f}") for name, w in first)
    plain = DeepRacerEnv("generated", obs="features")
    plain.reset(seed=3)
    assert plain.sim_track.track.width_m == pytest.approx(1.07) and "_w" not in plain.sim_track.track.name
    with pytest.raises(Exception, match="generated_width_m"):
        apply_overrides(config_from_dict({}), ["env.generated_width_m=[1.1, 0.9]"])
    with pytest.raises(Exception, match="generated_width_m"):
        apply_overrides(config_from_dict({}), ["env.generated_width_m=[0.3, 0.9]"])


def test_config_pool_reaches_the_env():
    cfg = apply_overrides(config_from_dict({}), ["env.track=[kidney, 's_*', random]", "env.reverse=random"])
    kw = env_kwargs(cfg.env)
    env = DeepRacerEnv(obs="features", **{k: v for k, v in kw.items() if k not in ("obs", "action_space", "sim")})
    assert len(env.tracks) == 3 and env.tracks[2] is None
    assert env.reverse == "random"


def test_options_pick_track_and_direction():
    members, _ = expand_track_spec(["kidney", "s_bend"])
    env = DeepRacerEnv(members, obs="features")
    _, info = env.reset(seed=0, options={"track": 1, "reverse": True, "start_waypoint": 5})
    assert info["track"] == "s_bend" and info["track_reversed"] and info["start_waypoint"] == 5
    assert np.isfinite(info["progress"])
