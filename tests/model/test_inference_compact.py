"""Compact inference (InferenceView(compact=True)) leaves out only dynamic Gaussians that no pixel can see: the same
rows where they matter, fewer rows in total, and the same rendered image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.model import ops
from sync4dgs.model.inference import ALPHA_THRESHOLD, InferenceView, visibility_intervals
from sync4dgs.model.temporal import temporal_opacity
from sync4dgs.render import render

FIELDS = ("means", "quats", "scales", "opacities", "colors")


@pytest.fixture
def seeded64(model64, local_seed_rows):
    """model64 plus 400 temporally local Gaussians (seeds every 1/30 s, visible ~2 frames each) near the origin."""
    k = model64.num_keyframes
    rows, g = local_seed_rows(model64, 400, seed=7, spread_frames=40, extent=0.5, scale=0.05)
    rows["key_quats"] = torch.randn(rows["key_quats"].shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ops.append(model64.dynamic, rows)
    assert model64.n_dynamic > 400 and k > 3
    return model64


def times(model) -> list[float]:
    t0, dt, k = float(model.key_t0_s), float(model.key_interval_s), model.num_keyframes
    inside = np.random.default_rng(5).uniform(t0, t0 + (k - 1) * dt, 9).tolist()
    return [t0 - 1.0, t0, t0 + dt + 1 / 60, t0 + (k - 1) * dt, t0 + (k - 1) * dt + 2.0, *inside]


def test_visibility_intervals_are_exact():
    centres = torch.tensor([[0.0, 1.0, 5.0], [0.5, 1.0, 6.0]], dtype=torch.float64)
    w = torch.tensor([[0.1, 0.2, 0.1], [-0.3, -0.2, -0.1]], dtype=torch.float64)
    log_base = torch.tensor([math.log(0.8), math.log(0.5), math.log(0.001)], dtype=torch.float64)
    on, off = visibility_intervals(centres, w, log_base, alpha=0.01)
    assert off[2] < on[2]                                                     # base opacity < alpha: never
    for i in range(2):                                                        # opacity = alpha at both ends
        for t in (on[i], off[i]):
            x = torch.clamp_min((centres[:, i] - t) / w[:, i], 0.0)
            assert float(torch.exp(log_base[i] - (x * x).sum())) == pytest.approx(0.01, rel=1e-9)


def test_compact_rows_equal_the_full_rows_they_stand_for(seeded64):
    full, compact = InferenceView(seeded64), InferenceView(seeded64, compact=True)
    ns, nd = seeded64.n_static, seeded64.n_dynamic
    fewer = []
    for t in times(seeded64):
        a = {f: getattr(full.at_time(t), f).clone() for f in FIELDS}
        b = compact.at_time(t)
        idx = compact.dynamic_rows_at(t)
        assert b.means.shape[0] == ns + idx.numel()
        for f in FIELDS:
            torch.testing.assert_close(getattr(b, f)[:ns], a[f][:ns], atol=1e-12, rtol=0)
            torch.testing.assert_close(getattr(b, f)[ns:], a[f][ns:][idx], atol=1e-12, rtol=0)
        left_out = torch.ones(nd, dtype=torch.bool)
        left_out[idx] = False
        assert float(torch.cat([a["opacities"][ns:][left_out], torch.zeros(1, dtype=torch.float64)]).max()) < ALPHA_THRESHOLD   # invisible anywhere
        fewer.append(idx.numel() / nd)
    assert np.median(fewer) < 0.25                   # most seeds are invisible at a given time
    assert full.dynamic_rows_at(0.0) is None


def test_compact_render_equals_full_render(seeded64, small_camera):
    cams = small_camera
    full, compact = InferenceView(seeded64), InferenceView(seeded64, compact=True)
    for t in times(seeded64)[2:8]:
        a = render(full.at_time(t), cams, backend="torch", sh_degree=2).image
        b = render(compact.at_time(t), cams, backend="torch", sh_degree=2).image
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


def test_compact_view_follows_parameter_changes(seeded64):
    compact = InferenceView(seeded64, compact=True)
    t = float(seeded64.key_t0_s + seeded64.key_interval_s) + 1 / 60
    before = compact.dynamic_rows_at(t).clone()
    with torch.no_grad():                        # every seed's window moves 10 s away: none visible at t
        seeded64.dynamic["t_center"][5:] += 10.0
    after = compact.dynamic_rows_at(t)
    assert before.numel() > after.numel() and bool((after < 5).all())
    op = temporal_opacity(t, seeded64.dynamic["t_center"], seeded64.dynamic["t_logwidth"],
                          seeded64.config.temporal_width_floor_s)
    assert compact.at_time(t).means.shape[0] == seeded64.n_static + after.numel()
    assert float(op[5:].detach().max()) < 1e-6


def test_compact_falls_back_to_every_row_when_most_rows_are_visible(model64):
    """model64's dynamic rows are visible over most of the time range: compact mode fills every row."""
    view, full = InferenceView(model64, compact=True), InferenceView(model64)
    t = float(model64.key_t0_s + 2 * model64.key_interval_s)
    b = view.at_time(t)
    assert b.means.shape[0] == model64.n_static + model64.n_dynamic
    torch.testing.assert_close(view.dynamic_rows_at(t), torch.arange(model64.n_dynamic))
    for f in FIELDS:
        torch.testing.assert_close(getattr(b, f), getattr(full.at_time(t), f), atol=1e-12, rtol=0)
