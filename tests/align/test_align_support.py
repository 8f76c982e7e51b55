"""Evidence behind stage-1 time maps: shared-frame discount of pair candidates and camera-graph confidence.

The failure these guard against (issue #6): with short clips and large offsets the camera graph splits into
two well-connected groups joined by few pairs; one confident but wrong joining pair dragged a whole group off
by ~0.6 s while every camera of it was reported "aligned" with confidence 1.0.
"""

import numpy as np
import pytest

from sync4dgs.errors import ConfigError
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.pairs import discount_by_overlap
from sync4dgs.sync.align.pairscore import PairScore
from sync4dgs.sync.align.solve import PairMeasurement, camera_status, required_paths, solve_global
from sync4dgs.sync.align.support import graph_confidence, overlap_factor, shared_frames

FPS = 30.0
TOL_S = 1.5 / FPS


def _two_groups(truth: np.ndarray, group_a: list[int], group_b: list[int], w_inside: float,
                rng: np.random.Generator) -> list[PairMeasurement]:
    """Complete graphs inside each group, correct measurements (+-0.1 frame noise) of weight ``w_inside``."""
    pairs = []
    for grp in (group_a, group_b):
        for i, a in enumerate(grp):
            for b in grp[i + 1:]:
                d = truth[b] - truth[a] + rng.uniform(-0.1, 0.1) / FPS
                pairs.append(PairMeasurement(a, b, [(1.0, d, w_inside)]))
    return pairs


def _statuses(sol, ref: int, min_conf: float = 0.5) -> list[str]:
    return [camera_status(bool(sol.aligned[k]), float(sol.confidence[k]), k == ref, min_conf)
            for k in range(len(sol.aligned))]


def _ten_cameras_in_two_groups(seed: int):
    """True offsets of 10 cameras (camera 0 the reference), groups {0..4} and {5..9}, and their inner pairs."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(-1, 1, 10)
    truth[0] = 0.0
    near, far = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    return truth, near, far, _two_groups(truth, near, far, 0.8, rng)


def test_group_hanging_on_one_wrong_pair_is_not_reported_aligned():
    truth, near, far, pairs = _ten_cameras_in_two_groups(0)
    wrong = truth[7] - truth[3] + 0.62                                   # the only link between the groups
    pairs.append(PairMeasurement(3, 7, [(1.0, wrong, 0.4)]))
    sol = solve_global(10, 0, pairs, TOL_S, 0.01, known_rates=np.ones(10), n_trees=32)
    assert sol.aligned.all()
    # nothing can tell the bridge is wrong: the far group follows it (0.62 s off) ...
    np.testing.assert_allclose(sol.offsets_s[far] - truth[far], 0.62, atol=0.01)
    np.testing.assert_allclose(sol.offsets_s[near], truth[near], atol=0.01)
    # ... but its confidence is that one pair's, not the ~1.0 its many consistent inner pairs would give
    assert np.all(sol.confidence[far] <= 0.4 + 1e-3) and np.all(sol.confidence[far] > 0.3)
    assert np.all(sol.confidence[near] > 0.99)
    assert sol.paths[far].tolist() == [1] * 5 and np.all(sol.paths[near[1:]] >= 4)
    st = _statuses(sol, 0)
    assert st[0] == "reference" and st[1:5] == ["aligned"] * 4 and st[5:] == ["low_confidence"] * 5


def test_multiply_connected_groups_pick_the_corroborated_link_and_stay_confident():
    truth, near, far, pairs = _ten_cameras_in_two_groups(1)
    pairs.append(PairMeasurement(3, 7, [(1.0, truth[7] - truth[3] + 0.62, 0.6)]))      # confident, wrong
    for a, b in ((1, 5), (2, 8), (4, 9)):                                                # three weaker, right
        pairs.append(PairMeasurement(a, b, [(1.0, truth[b] - truth[a] + 0.002, 0.5)]))
    sol = solve_global(10, 0, pairs, TOL_S, 0.01, known_rates=np.ones(10), n_trees=32)
    np.testing.assert_allclose(sol.offsets_s, truth, atol=0.01)
    assert (len(pairs) - 4, 0) not in sol.inliers                                      # the wrong link rejected
    # three edge-disjoint links of 0.5: 1 - 0.5^3
    np.testing.assert_allclose(sol.confidence[far], 0.875, atol=2e-3)
    assert sol.paths[far].tolist() == [3] * 5
    assert _statuses(sol, 0)[1:] == ["aligned"] * 9


def test_graph_confidence_is_the_min_cut_of_pair_weights():
    # camera 1: its two pairs 0.6 and 0.5 -> 1 - 0.4 * 0.5; camera 3: behind a single 0.3 pair; 4: unreachable
    edges = [(0, 1, 0.6), (1, 2, 0.5), (0, 2, 0.9), (2, 3, 0.3)]
    g = graph_confidence(5, 0, edges)
    assert g.confidence[0] == 1.0
    assert g.confidence[1] == pytest.approx(1 - 0.4 * 0.5, abs=1e-3)
    assert g.confidence[2] == pytest.approx(1 - 0.1 * 0.5, abs=1e-3)           # cut {0-2, 1-2}
    assert g.confidence[3] == pytest.approx(0.3, abs=1e-3)
    assert g.confidence[4] == 0.0
    assert g.paths.tolist() == [5, 2, 2, 1, 0]
    # a camera's confidence never exceeds 1 - prod(1 - w) over its own pairs (the cut around it alone)
    rng = np.random.default_rng(2)
    n = 8
    edges = [(a, b, float(rng.uniform(0.05, 0.95))) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.5]
    g = graph_confidence(n, 0, edges)
    for k in range(1, n):
        own = [w for a, b, w in edges if k in (a, b)]
        assert g.confidence[k] <= 1 - np.prod([1 - w for w in own]) + 1e-3


def test_shared_frames_counts_common_frames_under_a_map():
    tau = np.arange(50) / FPS                      # 50 frames, 1.63 s
    assert shared_frames(tau, tau, 1.0, 0.0) == 50
    assert shared_frames(tau, tau, 1.0, 45 / FPS) == 5              # B starts 45 frames after A
    assert shared_frames(tau, tau, 1.0, -45 / FPS) == 5
    assert shared_frames(tau, tau, 1.0, 2.0) == 0
    tau25 = np.arange(42) / 25.0                    # a 25 fps camera: 1.64 s
    assert shared_frames(tau, tau25, 1.0, 1.0) == min(int(np.sum(tau >= 1.0)), int(np.sum(tau25 <= tau[-1] - 1.0)))
    assert overlap_factor(5, 10, 30) == 0.0 and overlap_factor(20, 10, 30) == 0.5 and overlap_factor(90, 10, 30) == 1


def test_candidates_with_little_overlap_cannot_decide():
    tau = np.arange(50) / FPS
    lags = np.arange(-60, 61) / FPS
    # the deepest minimum sits at a lag where the clips share 4 frames; the true one shares 40
    ps = PairScore("a", "b", np.array([1.0]), lags, np.ones((1, len(lags))),
                   candidates=[(1.0, 46 / FPS, 0.7), (1.0, 10 / FPS, 0.5), (1.0, -24 / FPS, 0.3)])
    n = discount_by_overlap(ps, tau, tau, 10, 30)
    assert n == 40 and ps.best_lag_s == pytest.approx(10 / FPS) and ps.confidence == pytest.approx(0.5)
    # 26 shared frames at -24: weight 0.3 * (26 - 10) / 20
    assert [c[1] for c in ps.candidates] == pytest.approx([10 / FPS, -24 / FPS])
    assert ps.candidates[1][2] == pytest.approx(0.3 * 0.8)
    empty = PairScore("a", "b", np.array([1.0]), lags, np.ones((1, len(lags))), candidates=[(1.0, 47 / FPS, 0.9)])
    assert discount_by_overlap(empty, tau, tau, 10, 30) == 0 and empty.candidates == [] and empty.confidence == 0


def test_support_settings_are_validated():
    with pytest.raises(ConfigError, match="min_shared_frames"):
        AlignConfig(min_shared_frames=40, full_shared_frames=30).validate()
    with pytest.raises(ConfigError, match="min_aligned_confidence"):
        AlignConfig(min_aligned_confidence=1.5).validate()


def test_short_clip_with_large_offsets_is_never_confidently_wrong(tmp_path):
    """End to end (issue #6 in small): 8 cameras, 1-s clips, offsets up to +-0.8 s, so many pairs share few
    frames. Some cameras cannot be recovered; none of those may be reported "aligned"."""
    from sync4dgs.data.scene import load_scene
    from sync4dgs.sync.align import align_scene
    from sync4dgs.data.synth.toyscene import ToySceneConfig, make_toy_scene

    offsets = list(np.random.default_rng(1).uniform(-0.8, 0.8, 8))
    toy = make_toy_scene(tmp_path, ToySceneConfig(n_cameras=8, width=160, height=120, n_frames=30,
                                                   offsets_s=offsets, seed=1, arc_deg=140))
    result = align_scene(load_scene(tmp_path), AlignConfig(max_offset_s=1.8, rates="1", device="cpu"))
    errs = {c.name: (result.time_maps.cameras[c.name].offset_s - toy.gt.cameras[c.name].offset_s) * c.fps
            for c in toy.scene.cameras}
    status = {n: m.status for n, m in result.time_maps.cameras.items()}
    assert any(abs(e) > 1 for e in errs.values()), errs                     # the case is hard enough
    for name, e in errs.items():
        if status[name] == "aligned":
            assert abs(e) <= 1.0, (name, e, status)
        else:
            assert status[name] in ("reference", "low_confidence")
            if status[name] == "low_confidence":
                assert result.time_maps.cameras[name].confidence < 0.5


def test_a_camera_misplaced_by_the_tree_is_moved_to_where_most_of_its_pairs_agree():
    # only the maximum-weight tree is tried (n_trees=0); it attaches camera 4 through its heaviest pair, which
    # is wrong by 35 frames; its three other pairs agree with each other on the truth
    truth = np.array([0.0, 0.3, -0.2, 0.5, -0.4])
    pairs = [PairMeasurement(a, b, [(1.0, truth[b] - truth[a], 0.8)]) for a in range(4) for b in range(a + 1, 4)]
    pairs.append(PairMeasurement(0, 4, [(1.0, truth[4] + 35 / FPS, 0.95), (1.0, truth[4], 0.3)]))
    for a in (1, 2, 3):
        pairs.append(PairMeasurement(a, 4, [(1.0, truth[4] - truth[a], 0.5)]))
    sol = solve_global(5, 0, pairs, TOL_S, 0.01, known_rates=np.ones(5), n_trees=0)
    np.testing.assert_allclose(sol.offsets_s, truth, atol=1e-6)
    assert (6, 1) in sol.inliers and (6, 0) not in sol.inliers



def test_periodic_ambiguity_does_not_make_a_wrong_camera_aligned():
    """Issue 16 (fast-occlusion scene): nearly periodic motion gives every pair of a camera two minima one period
    apart, the period-shifted (wrong) one ~25% lower. Five such pairs must not add up to an ``aligned`` camera
    (with the plain 1 - best/runner-up weight, 0.24 each, they gave 0.75); a clearly better minimum still counts."""
    from sync4dgs.sync.align.pairscore import summarise

    h = 1 / 30
    lags = np.arange(-60, 61) * h
    true_lag, period = 3, 27

    def candidates(depth_true, depth_shift):
        cur = np.full(len(lags), 6.0) + 0.01 * np.cos(np.arange(len(lags)))   # no exact ties
        cur[60 + true_lag] = depth_true
        cur[60 + true_lag - period] = depth_shift
        ps = PairScore("a", "b", np.ones(1), lags, cur[None])
        summarise(ps, 0.2, ambiguity=True)
        return ps

    amb = candidates(4.35, 3.3)                        # best = period-shifted lag, runner-up 1.32x the best
    assert abs(amb.best_lag_s - (true_lag - period) * h) < 0.5 * h
    assert amb.confidence < 0.1
    clear = candidates(1.0, 3.3)                       # the true lag 3.3x better than the period-shifted one
    assert abs(clear.best_lag_s - true_lag * h) < 0.5 * h and clear.confidence > 0.5
    # cameras 0 (reference) .. 4 aligned with each other at offset 0; camera 5 only through ambiguous pairs
    meas = [PairMeasurement(a, b, [(1.0, 0.0, 0.9)]) for a in range(5) for b in range(a + 1, 5)]
    meas += [PairMeasurement(a, 5, amb.candidates) for a in range(5)]
    sol = solve_global(6, 0, meas, tol_s=1.5 * h, tol_rate=0.01, known_rates=np.ones(6))
    status = [camera_status(bool(sol.aligned[k]), float(sol.confidence[k]), k == 0, 0.5) for k in range(6)]
    assert status[:5] == ["reference"] + ["aligned"] * 4
    assert status[5] != "aligned", (sol.offsets_s[5], sol.confidence[5])


def _path_statuses(sol, pairs: list[PairMeasurement], min_paths: int = 2) -> list[str]:
    need = required_paths(len(sol.aligned), [(p.a, p.b) for p in pairs if p.candidates], min_paths)
    return [camera_status(bool(sol.aligned[k]), float(sol.confidence[k]), k == 0, 0.5, int(sol.paths[k]),
                          int(need[k])) for k in range(len(sol.aligned))]


def test_a_chain_without_cross_check_is_not_aligned_even_when_its_pairs_are_confident():
    # Pose2Sim Demo_SinglePerson, sub-frame set: three confident pairs form a chain 0-1-3-2 (one of them
    # ~1.2 frames off); the three other pairs disagree with each other and the chain, so the refined solve
    # (0.5-frame tolerance) keeps only the chain: every camera hangs on one path, nothing cross-checks it
    truth = np.array([0.0, 0.5, 2.25, 1.5]) / FPS
    f = 1.0 / FPS
    pairs = [PairMeasurement(0, 1, [(1.0, truth[1] - truth[0] - 1.2 * f, 0.64)]),
             PairMeasurement(1, 3, [(1.0, truth[3] - truth[1] + 0.3 * f, 1.0)]),
             PairMeasurement(3, 2, [(1.0, truth[2] - truth[3] + 0.4 * f, 0.6)]),
             PairMeasurement(0, 2, [(1.0, truth[2] - truth[0] + 1.5 * f, 0.44)]),
             PairMeasurement(0, 3, [(1.0, truth[3] - truth[0] + 2.4 * f, 0.45)]),
             PairMeasurement(1, 2, [(1.0, truth[2] - truth[1] + 4.9 * f, 0.12)])]
    sol = solve_global(4, 0, pairs, 0.5 * f, 0.003, known_rates=np.ones(4), n_trees=32)
    assert sol.aligned.all() and sol.paths[1:].tolist() == [1, 1, 1]
    assert np.all(sol.confidence[1:] > 0.5)                       # the min-cut alone would say "aligned" ...
    assert _statuses(sol, 0)[1:] == ["aligned"] * 3
    assert abs(sol.offsets_s[1] - truth[1]) > 1.0 * f             # ... while cam 1 is a frame off
    assert _path_statuses(sol, pairs)[1:] == ["low_confidence"] * 3
    assert _path_statuses(sol, pairs, min_paths=1)[1:] == ["aligned"] * 3


def test_corroborated_cameras_and_two_camera_rigs_stay_aligned():
    truth = np.array([0.0, 0.3, -0.2, 0.1])
    rng = np.random.default_rng(3)
    pairs = [PairMeasurement(a, b, [(1.0, truth[b] - truth[a] + rng.uniform(-0.1, 0.1) / FPS, 0.8)])
             for a in range(4) for b in range(a + 1, 4)]
    sol = solve_global(4, 0, pairs, TOL_S, 0.01, known_rates=np.ones(4), n_trees=32)
    assert np.all(sol.paths[1:] >= 2) and _path_statuses(sol, pairs)[1:] == ["aligned"] * 3
    two = [PairMeasurement(0, 1, [(1.0, 0.3, 0.8)])]
    sol2 = solve_global(2, 0, two, TOL_S, 0.01, known_rates=np.ones(2), n_trees=8)
    assert required_paths(2, [(0, 1)], 2).tolist() == [1, 1]
    assert _path_statuses(sol2, two) == ["reference", "aligned"]


def test_min_support_paths_is_validated():
    with pytest.raises(ConfigError, match="min_support_paths"):
        AlignConfig(min_support_paths=0).validate()


def test_a_pair_agreeing_only_through_a_runner_up_candidate_is_weak_support():
    from sync4dgs.sync.align.support import support_weight

    cands = [(1.0, -0.003, 0.642), (1.0, 0.517, 0.552), (1.0, 0.2, 0.1)]
    assert support_weight(cands, 0, 0.0) == 0.642          # its best candidate: full weight
    assert support_weight(cands, 1, 0.0) == 0.0            # a runner-up: no support by default
    assert support_weight(cands, 1, 0.5) == pytest.approx(0.276)
    assert support_weight(cands, 1, 1.0) == 0.552          # 1 = the old behaviour
    assert support_weight([(1.0, 0.0, 0.4), (1.0, 0.3, 0.4)], 1, 0.0) == 0.4   # a tie counts as best
    with pytest.raises(ConfigError, match="runner_up_support"):
        AlignConfig(runner_up_support=1.5).validate()
