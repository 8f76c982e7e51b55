"""step_all (one foreach update for many single-parameter optimisers) reproduces torch's Adam / RAdam exactly,
keeps their state usable by torch, and falls back to step() for what it does not batch."""

from __future__ import annotations

import pytest
import torch

from sync4dgs.train.config import OptimConfig
from sync4dgs.train.optim import LRSchedule, step_all

LRS = [1e-2, 3e-3, 0.1, 1e-4]


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(6, 3, generator=g, dtype=torch.float64)) for _ in LRS]


@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.RAdam])
@pytest.mark.parametrize("foreach", [False, True])
def test_step_all_equals_torch_step(kind, foreach):
    ref_p, new_p = _params(0), _params(0)
    ref = [kind([p], lr=lr, eps=1e-15, foreach=foreach) for p, lr in zip(ref_p, LRS)]
    new = [kind([p], lr=lr, eps=1e-15) for p, lr in zip(new_p, LRS)]
    g = torch.Generator().manual_seed(1)
    for it in range(12):                 # RAdam's rectification switches on after 5 steps
        for i, (p, q) in enumerate(zip(ref_p, new_p)):
            if it == 3 and i == 1:
                continue                 # a parameter without a gradient this step: skipped, step not counted
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
            q.grad = p.grad.clone()
        if it == 7:
            for o in (*ref, *new):
                o.param_groups[0]["lr"] *= 0.5
        for o in ref:
            o.step()
            o.zero_grad(set_to_none=True)
        step_all(new)
        assert all(q.grad is None for q in new_p)
    for p, q, a, b in zip(ref_p, new_p, ref, new):
        torch.testing.assert_close(q, p, atol=1e-15, rtol=0)
        assert float(b.state[q]["step"]) == float(a.state[p]["step"])
    new[0].step()                        # torch can continue from the state step_all wrote
    sd = new[2].state_dict()
    new[2].load_state_dict(sd)


def test_unbatchable_optimizers_fall_back_to_their_own_step():
    ps = _params(2)
    opts = [torch.optim.SGD([ps[0]], lr=0.1), torch.optim.Adam([ps[1]], lr=0.1, weight_decay=0.1),
            torch.optim.Adam([ps[2]], lr=0.1)]
    before = [p.detach().clone() for p in ps]
    for p in ps:
        p.grad = torch.ones_like(p)
    step_all(opts)
    torch.testing.assert_close(ps[0], before[0] - 0.1)
    for p, b in zip(ps[1:3], before[1:3]):
        assert (p < b).all()
    assert all(p.grad is None for p in ps[:3])


def test_lr_schedule_values_unchanged_by_caching():
    cfg = OptimConfig()
    s = LRSchedule(cfg, extent=2.0)
    first = s.lr("static", "means", 0)
    assert first == pytest.approx(cfg.static.means * 2.0)
    assert s.lr("static", "means", cfg.means_decay_iterations) == pytest.approx(cfg.static.means_final * 2.0)
    assert s.lr("dynamic", "sh0", 10) == cfg.dynamic.sh0
    s.scale = 0.5
    assert s.lr("dynamic", "sh0", 10) == 0.5 * cfg.dynamic.sh0


@pytest.mark.gpu
@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.RAdam])
def test_step_all_equals_torch_step_on_cuda(kind):
    ref_p = [torch.nn.Parameter(p.detach().float().cuda()) for p in _params(5)]
    new_p = [torch.nn.Parameter(p.detach().clone()) for p in ref_p]
    ref = [kind([p], lr=lr, eps=1e-15) for p, lr in zip(ref_p, LRS)]
    new = [kind([p], lr=lr, eps=1e-15) for p, lr in zip(new_p, LRS)]
    for _ in range(8):
        for p, q in zip(ref_p, new_p):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        for o in ref:
            o.step()
            o.zero_grad(set_to_none=True)
        step_all(new)
    for p, q in zip(ref_p, new_p):
        torch.testing.assert_close(q, p, atol=1e-6, rtol=1e-6)
