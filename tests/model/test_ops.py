"""Parameter surgery keeps params, optimiser moments and running state in lock-step; conversion is lossless."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.model import convert_static_to_dynamic, ops
from sync4dgs.utils.geometry import quat_to_rotmat


def _opt_dict(params):
    return {k: torch.optim.Adam([p], lr=1e-3) for k, p in params.items()}


def _step(model, opts, t=0.9):
    g = model.at_time(t)
    (g.means.sum() + g.opacities.sum() + g.quats.sum() + g.colors.sum() + g.scales.sum()).backward()
    for o in opts.values():
        o.step()
        o.zero_grad()


def _assert_consistent(params, opts, state=None):
    n = ops.num_rows(params)
    for k, p in params.items():
        st = opts[k].state[p]
        assert opts[k].param_groups[0]["params"][0] is p
        for key in ("exp_avg", "exp_avg_sq"):
            assert st[key].shape == p.shape, (k, key)
    for v in (state or {}).values():
        if torch.is_tensor(v):
            assert v.shape[0] == n
    return n


def test_select_append_remove_keep_moments_aligned(model64):
    d = model64.dynamic
    opts = _opt_dict(d)
    _step(model64, opts)
    before = {k: opts[k].state[p]["exp_avg"].clone() for k, p in d.items()}
    values = {k: p.detach().clone() for k, p in d.items()}
    state = {"grad2d": torch.arange(5.0), "count": torch.ones(5), "scene_scale": 1.0, "none": None}
    keep = torch.tensor([True, False, True, True, False])
    ops.select(d, keep, opts, state)
    assert _assert_consistent(d, opts, state) == 3
    for k, p in d.items():
        torch.testing.assert_close(p.detach(), values[k][keep])
        torch.testing.assert_close(opts[k].state[p]["exp_avg"], before[k][keep])
    torch.testing.assert_close(state["grad2d"], torch.tensor([0.0, 2.0, 3.0]))
    new = {k: p.detach()[:2].clone() + 1 for k, p in d.items()}
    ops.append(d, new, opts, state)
    assert _assert_consistent(d, opts, state) == 5
    for k, p in d.items():
        assert float(opts[k].state[p]["exp_avg"][3:].abs().sum()) == 0.0
    ops.remove(d, torch.tensor([False, False, False, True, True]), opts, state)
    assert _assert_consistent(d, opts, state) == 3
    _step(model64, opts)
    with pytest.raises(KeyError, match="missing"):
        ops.append(d, {"key_means": d["key_means"].detach()[:1]})


def test_append_works_with_one_shared_optimizer_and_without_optimizers(model64):
    s = model64.static
    opt = torch.optim.Adam([{"params": [p], "name": k} for k, p in s.items()], lr=1e-3)
    g = model64.at_time(0.5)
    (g.means.sum() + g.quats.sum() + g.scales.sum() + g.opacities.sum() + g.colors.sum()).backward()
    opt.step()
    ops.select(s, torch.arange(10), opt)
    assert all(opt.state[p]["exp_avg"].shape == p.shape for p in s.values())
    assert {id(p) for grp in opt.param_groups for p in grp["params"]} == {id(p) for p in s.values()}
    ops.select(model64.dynamic, torch.arange(2))          # no optimisers at all
    assert model64.n_dynamic == 2 and model64.n_static == 10


def test_split_dynamic_offsets_children_in_each_keyframe_frame(model64):
    d = model64.dynamic
    opts = _opt_dict(d)
    _step(model64, opts)
    parent = {k: p.detach().clone() for k, p in d.items()}
    state = {"grad2d": torch.arange(5.0)}
    mask = torch.tensor([False, True, False, False, True])
    g = torch.Generator().manual_seed(3)
    ops.split_dynamic(d, mask, opts, state, generator=g, temporal_jitter_min_s=0.05, reset_logwidth=-1.0)
    assert _assert_consistent(d, opts, state) == 3 + 4
    keep = ~mask
    torch.testing.assert_close(d["key_means"].detach()[:3], parent["key_means"][keep])
    sel = torch.where(mask)[0]
    children_parent = sel.repeat(2)
    R = quat_to_rotmat(parent["key_quats"])                                   # [N, K, 3, 3]
    for c, pi in enumerate(children_parent.tolist()):
        child = d["key_means"].detach()[3 + c]
        # the same local offset eps at every keyframe: R_k^T (P_child[k] - P_parent[k]) is constant in k
        local = torch.einsum("kji,kj->ki", R[pi], child - parent["key_means"][pi])
        torch.testing.assert_close(local, local[:1].expand_as(local), atol=1e-10, rtol=0)
        assert float(local[0].norm()) > 0
        torch.testing.assert_close(d["scales"].detach()[3 + c], parent["scales"][pi] - np.log(1.6))
        torch.testing.assert_close(d["sh0"].detach()[3 + c], parent["sh0"][pi])
        assert bool((d["t_logwidth"].detach()[3 + c] == -1.0).all())
        assert not torch.equal(d["t_center"].detach()[3 + c], parent["t_center"][pi])
    torch.testing.assert_close(state["grad2d"], torch.tensor([0.0, 2.0, 3.0, 1.0, 4.0, 1.0, 4.0]))
    for k, p in d.items():
        assert float(opts[k].state[p]["exp_avg"][3:].abs().sum()) == 0.0
    _step(model64, opts)


def test_split_offsets_have_the_requested_spread():
    n, k = 4000, 3
    params = {"key_means": torch.zeros(n, k, 3, dtype=torch.float64),
              "key_quats": torch.tensor([1.0, 0, 0, 0], dtype=torch.float64).expand(n, k, 4).clone(),
              "scales": torch.full((n, 3), np.log(0.1), dtype=torch.float64)}
    ops.split_dynamic(params, torch.ones(n, dtype=torch.bool), generator=torch.Generator().manual_seed(0))
    std = float(params["key_means"][:, 0].std())
    assert abs(std - 0.2) < 0.01          # N(0, 2 s) with s = 0.1


def test_clone_dynamic_appends_exact_copies(model64):
    d = model64.dynamic
    opts = _opt_dict(d)
    _step(model64, opts)
    before = {k: p.detach().clone() for k, p in d.items()}
    ops.clone_dynamic(d, torch.tensor([True, False, False, True, False]), opts, {"count": torch.arange(5)})
    assert _assert_consistent(d, opts) == 7
    for k, p in d.items():
        torch.testing.assert_close(p.detach()[5:], before[k][[0, 3]])


def test_convert_static_to_dynamic_keeps_every_gaussian_identical_at_all_times(model64):
    m = model64
    static_opts, dyn_opts = _opt_dict(m.static), _opt_dict(m.dynamic)
    _step(m, {**{"s" + k: o for k, o in static_opts.items()}, **{"d" + k: o for k, o in dyn_opts.items()}})
    times = np.linspace(*m.interior_time_range_s(), 23)
    ref = {float(t): m.at_time(float(t)) for t in times}
    ns, nd = m.n_static, m.n_dynamic
    mask = torch.zeros(ns, dtype=torch.bool)
    mask[[0, 5, 17, 39]] = True
    old_dyn_avg = dyn_opts["key_means"].state[m.dynamic["key_means"]]["exp_avg"].clone()
    sstate, dstate = {"grad2d": torch.arange(float(ns))}, {"grad2d": torch.ones(nd)}
    assert convert_static_to_dynamic(m, mask, static_optimizers=static_opts, dynamic_optimizers=dyn_opts,
                                     static_state=sstate, dynamic_state=dstate) == 4
    assert m.n_static == ns - 4 and m.n_dynamic == nd + 4
    _assert_consistent(m.static, static_opts, sstate)
    _assert_consistent(m.dynamic, dyn_opts, dstate)
    new_avg = dyn_opts["key_means"].state[m.dynamic["key_means"]]["exp_avg"]
    torch.testing.assert_close(new_avg[:nd], old_dyn_avg)
    assert float(new_avg[nd:].abs().sum()) == 0.0
    order = torch.cat([torch.where(~mask)[0], torch.arange(ns, ns + nd), torch.where(mask)[0]])
    for t in times:
        g0, g1 = ref[float(t)], m.at_time(float(t))
        for f in ("means", "scales", "opacities", "colors"):
            torch.testing.assert_close(getattr(g1, f), getattr(g0, f)[order], atol=1e-12, rtol=0)
        torch.testing.assert_close(g1.quats, g0.quats[order], atol=1e-12, rtol=0)
    assert convert_static_to_dynamic(m, torch.zeros(m.n_static, dtype=torch.bool)) == 0


def test_convert_with_velocity_hint_puts_keyframes_on_the_line(model64):
    m = model64
    v = torch.tensor([[1.0, 0.0, -2.0]], dtype=torch.float64)
    p0 = m.static["means"].detach()[7].clone()
    mask = torch.zeros(m.n_static, dtype=torch.bool)
    mask[7] = True
    convert_static_to_dynamic(m, mask, velocity_hint=v)
    for t in (0.1, 0.77, 1.9):
        pos = m.at_time(t).means[-1].detach()
        torch.testing.assert_close(pos, p0 + v[0] * (t - float(m.static_t_anchor_s)), atol=1e-9, rtol=0)


def test_name_keyed_optimizers_of_the_other_set_are_searched_by_identity(model64):
    """A dict keyed by name whose entry holds a different tensor (e.g. static 'scales') is not corrupted."""
    s_opts, d_opts = _opt_dict(model64.static), _opt_dict(model64.dynamic)
    _step(model64, {**{"s" + k: o for k, o in s_opts.items()}, **{"d" + k: o for k, o in d_opts.items()}})
    mixed = {**{f"dyn_{k}": o for k, o in d_opts.items()}, "scales": s_opts["scales"]}
    static_scales = model64.static["scales"]
    ops.select(model64.dynamic, torch.arange(3), mixed)
    assert s_opts["scales"].param_groups[0]["params"][0] is static_scales
    _assert_consistent(model64.dynamic, d_opts)
