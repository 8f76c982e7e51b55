"""Per-pixel front-to-back compositing of one chunk of tiles, with an analytic backward.

A chunk is T tiles x P pixels against each tile's depth-sorted list of L entries (padded). Entries are
processed in blocks of ``block`` entries, carrying the transmittance from block to block, and the chunk stops
as soon as every pixel is saturated (gsplat's early stop), so opaque scenes cost little. Backward walks the
blocks in reverse; its maths is that of gsplat 1.5.3's rasterize_to_pixels_3dgs_bwd kernel. It either reuses
the forward's per-pair intermediates (``keep_intermediates``: about 25 bytes per (pixel, entry) pair, kept
until backward; faster) or recomputes them block by block (memory O(chunk), like gsplat's CUDA backward). Both
give the same numbers. Rules: see sync4dgs/render/conventions.py.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sync4dgs.render.conventions import ALPHA_THRESHOLD, MAX_ALPHA, MIN_TRANSMITTANCE


def block_alphas(means: Tensor, conics: Tensor, opacities: Tensor, pixels: Tensor, entry_ok: Tensor,
                 trans0: Tensor, done0: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Alphas of one block of entries with gsplat's skip and stop rules (no autograd).

    means [T, B, 2] px, conics [T, B, 3], opacities [T, B], pixels [T, P, 2] (pixel centres), entry_ok
    [T, B] (padding mask), trans0 [T, P] transmittance before the block, done0 [T, P] pixel already stopped.
    Returns alpha [T, P, B] (0 where skipped/stopped), dx, dy [T, P, B] (mean - pixel), vis = exp(-sigma),
    grad_ok [T, P, B] (kept and not clamped: where alpha has a gradient), stopped [T, P] (stops in block).
    """
    dx = means[:, None, :, 0] - pixels[:, :, None, 0]
    dy = means[:, None, :, 1] - pixels[:, :, None, 1]
    ca, cb, cc = (conics[:, None, :, i] for i in range(3))
    sigma = dx * (0.5 * ca * dx + cb * dy) + (0.5 * cc) * dy * dy
    ok = sigma >= 0
    vis = sigma.neg_().exp_()
    raw = opacities[:, None, :] * vis
    alpha = torch.clamp_max(raw, MAX_ALPHA)
    ok &= alpha >= ALPHA_THRESHOLD
    ok &= entry_ok[:, None, :]
    ok &= ~done0[:, :, None]
    alpha.masked_fill_(~ok, 0.0)
    keep = ok & (trans0[:, :, None] * torch.cumprod(1.0 - alpha, dim=-1) > MIN_TRANSMITTANCE)
    stopped = (ok & ~keep).any(dim=-1)
    alpha.masked_fill_(~keep, 0.0)
    return alpha, dx, dy, vis, keep & (raw <= MAX_ALPHA), stopped


def _weights(alpha: Tensor, trans0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(1 - alpha, transmittance after each entry, blending weight alpha * transmittance before)."""
    one_minus = 1.0 - alpha
    trans = trans0[:, :, None] * torch.cumprod(one_minus, dim=-1)
    return one_minus, trans, alpha * trans / one_minus


class CompositeChunk(torch.autograd.Function):
    """(means, conics, opacities, features, pixels, entry_ok, absgrad_sink, block, keep_intermediates)
    -> (acc, trans_final).

    means [T, L, 2] px, conics [T, L, 3], opacities [T, L] (effective), features [T, L, D], pixels [T, P, 2],
    entry_ok [T, L]; absgrad_sink: (target tensor, flat row index [T, L]) or None: the sum over pixels of
    |dL/dmean2d| (gsplat's absgrad) is added to ``target.absgrad``; block: entries per block;
    keep_intermediates: keep each block's alphas, offsets and weights for backward instead of recomputing them.
    Returns accumulated features [T, P, D] and final transmittance [T, P]. Differentiable w.r.t. the first
    four inputs.
    """

    @staticmethod
    def forward(ctx, means, conics, opacities, features, pixels, entry_ok, absgrad_sink, block,
                keep_intermediates=False):
        n_tiles, n_pix = pixels.shape[:2]
        n_list = means.shape[1]
        acc = torch.zeros(n_tiles, n_pix, features.shape[-1], dtype=features.dtype, device=features.device)
        trans = torch.ones(n_tiles, n_pix, dtype=features.dtype, device=features.device)
        done = torch.zeros(n_tiles, n_pix, dtype=torch.bool, device=features.device)
        carries, dones = [], []
        kept: list[tuple[Tensor, ...]] | None = [] if keep_intermediates and any(ctx.needs_input_grad[:4]) else None
        for b0 in range(0, n_list, block):
            if b0 > 0 and bool(done.all()):
                break
            sl = slice(b0, b0 + block)
            carries.append(trans)
            dones.append(done)
            alpha, dx, dy, vis, grad_ok, stopped = block_alphas(means[:, sl], conics[:, sl], opacities[:, sl],
                                                                pixels, entry_ok[:, sl], trans, done)
            one_minus, trans_after, weights = _weights(alpha, trans)
            if kept is not None:
                kept.append((dx, dy, vis, grad_ok, one_minus, trans_after, weights))
            acc = acc + weights @ features[:, sl]
            trans = trans_after[..., -1]
            done = done | stopped
        ctx.save_for_backward(means, conics, opacities, features, pixels, entry_ok, torch.stack(carries),
                              torch.stack(dones), trans)
        ctx.absgrad_sink = absgrad_sink
        ctx.block = block
        ctx.kept = kept
        return acc, trans

    @staticmethod
    def backward(ctx, grad_acc, grad_trans):
        means, conics, opacities, features, pixels, entry_ok, carries, dones, trans_final = ctx.saved_tensors
        block = ctx.block
        grad_means, grad_conics = torch.zeros_like(means), torch.zeros_like(conics)
        grad_opac, grad_feat = torch.zeros_like(opacities), torch.zeros_like(features)
        abs_means = torch.zeros_like(means) if ctx.absgrad_sink is not None else None
        behind = torch.zeros_like(trans_final)  # sum of w_j g_j over entries of later blocks
        loss_t = (grad_trans * trans_final)[:, :, None]
        for bi in reversed(range(carries.shape[0])):
            sl = slice(bi * block, (bi + 1) * block)
            if ctx.kept is not None:
                dx, dy, vis, grad_ok, one_minus, trans, weights = ctx.kept[bi]
            else:
                alpha, dx, dy, vis, grad_ok, _ = block_alphas(means[:, sl], conics[:, sl], opacities[:, sl],
                                                              pixels, entry_ok[:, sl], carries[bi], dones[bi])
                one_minus, trans, weights = _weights(alpha, carries[bi])
            grad_feat[:, sl] = weights.transpose(1, 2) @ grad_acc
            g = grad_acc @ features[:, sl].transpose(1, 2)  # [T, P, B]: dL/dacc . feature
            wg = weights * g
            after = wg.flip(-1).cumsum(-1).flip(-1) - wg + behind[:, :, None]  # sum over entries behind
            behind = behind + wg.sum(-1)
            # d acc / d alpha_l = T_before f_l - sum_{j>l} w_j f_j / (1 - alpha_l)
            # d T_final / d alpha_l = -T_final / (1 - alpha_l)
            grad_alpha = (trans * g - after - loss_t) / one_minus
            grad_alpha.masked_fill_(~grad_ok, 0.0)

            grad_opac_pix = vis * grad_alpha
            grad_sigma = (opacities[:, None, sl] * grad_opac_pix).neg_()
            gsdx, gsdy = grad_sigma * dx, grad_sigma * dy
            ca, cb, cc = conics[:, sl].unbind(-1)
            sx, sy = gsdx.sum(dim=1), gsdy.sum(dim=1)
            # delta = mean - pixel, so d delta / d mean = identity
            grad_means[:, sl] = torch.stack([ca * sx + cb * sy, cb * sx + cc * sy], dim=-1)
            grad_conics[:, sl] = torch.stack([0.5 * (gsdx * dx).sum(dim=1), (gsdx * dy).sum(dim=1),
                                              0.5 * (gsdy * dy).sum(dim=1)], dim=-1)
            grad_opac[:, sl] = grad_opac_pix.sum(dim=1)
            if abs_means is not None:
                abs_means[:, sl, 0] = (ca[:, None, :] * gsdx + cb[:, None, :] * gsdy).abs_().sum(dim=1)
                abs_means[:, sl, 1] = (cb[:, None, :] * gsdx + cc[:, None, :] * gsdy).abs_().sum(dim=1)
        if abs_means is not None:
            _add_absgrad(ctx.absgrad_sink, abs_means)
        return grad_means, grad_conics, grad_opac, grad_feat, None, None, None, None, None


def _add_absgrad(sink: tuple[Tensor, Tensor], abs_means: Tensor) -> None:
    """Scatter-add per-entry |grad| [T, L, 2] into ``target.absgrad`` (created on first use)."""
    target, rows = sink
    flat = torch.zeros(target.numel() // 2, 2, dtype=abs_means.dtype, device=abs_means.device)
    flat.index_add_(0, rows.reshape(-1), abs_means.reshape(-1, 2))
    prev = getattr(target, "absgrad", None)
    target.absgrad = flat.view(target.shape) if prev is None else prev + flat.view(target.shape)
