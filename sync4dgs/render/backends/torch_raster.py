"""Tile-based front-to-back alpha compositing in pure torch (any device/dtype, autograd).

The pixel stage of the reference backend. Each visible (camera, Gaussian) entry is binned into the screen
tiles its bounding box touches (the same rule as gsplat's ``isect_tiles``); each tile's list is sorted by
camera depth; tiles are processed in chunks of at most ``chunk_elements`` (pixel, Gaussian) pairs, so
memory stays bounded whatever the scene. Per pixel the maths is gsplat 1.5.3's
``rasterize_to_pixels_3dgs_fwd_kernel`` (see sync4dgs/render/conventions.py), differentiated by autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sync4dgs.render.backends.torch_composite import CompositeChunk
from sync4dgs.render.conventions import PIXEL_CENTER_OFFSET


@dataclass
class RasterConfig:
    """Knobs of the reference pixel stage (they change speed/memory, never the result).

    tile_size: tile edge in pixels. chunk_elements: max (pixel, Gaussian) pairs of one chunk (bounds the
    working memory: about 60 bytes per pair in backward). block_entries: list entries composited per step
    inside a chunk (a chunk stops early once all its pixels are saturated). keep_pairs: when one render has
    at most this many (pixel, entry) pairs (padding included), the forward keeps its per-pair intermediates for
    backward (about 25 bytes per pair) instead of recomputing them; 0 always recomputes. None picks a
    per-device default (measured on 2 CPU cores, 128x96 px / 5k Gaussians: 8 px tiles and 2^18 pairs were
    fastest; 2^23 kept pairs is about 210 MB).
    """

    tile_size: int | None = None
    chunk_elements: int | None = None
    block_entries: int | None = None
    keep_pairs: int | None = None

    def resolved(self, device: torch.device) -> "RasterConfig":
        cuda = torch.device(device).type == "cuda"
        return RasterConfig(tile_size=self.tile_size or (16 if cuda else 8),
                            chunk_elements=self.chunk_elements or (1 << 22 if cuda else 1 << 18),
                            block_entries=self.block_entries or (256 if cuda else 128),
                            keep_pairs=(1 << 23) if self.keep_pairs is None else self.keep_pairs)


@dataclass
class TileBins:
    """Visible entries binned into tiles, each tile's list in depth order.

    sorted_entries: [E] index into the visible list, grouped by tile, front to back inside a tile.
    tile_starts / tile_counts: [C * tiles_y * tiles_x] offset and length of each tile's list.
    """

    sorted_entries: Tensor
    tile_starts: Tensor
    tile_counts: Tensor
    tiles_x: int
    tiles_y: int


@torch.no_grad()
def bin_tiles(image_ids: Tensor, means2d: Tensor, radii: Tensor, depths: Tensor, n_images: int,
              width: int, height: int, tile_size: int) -> TileBins:
    """Bin K visible entries into tiles.

    image_ids [K] long, means2d [K, 2] px, radii [K, 2] px, depths [K] (camera z).
    """
    device = means2d.device
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    tile_xy = means2d / tile_size
    tile_r = radii.to(means2d.dtype) / tile_size
    lo = torch.floor(tile_xy - tile_r).long()
    hi = torch.ceil(tile_xy + tile_r).long()
    x0, x1 = lo[:, 0].clamp(0, tiles_x), hi[:, 0].clamp(0, tiles_x)
    y0, y1 = lo[:, 1].clamp(0, tiles_y), hi[:, 1].clamp(0, tiles_y)
    span_x = x1 - x0
    counts = span_x * (y1 - y0)

    k = means2d.shape[0]
    owner = torch.repeat_interleave(torch.arange(k, device=device), counts)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(owner.numel(), device=device) - first[owner]
    span = span_x[owner].clamp_min(1)
    tile_x = x0[owner] + local % span
    tile_y = y0[owner] + local // span
    n_tiles = tiles_x * tiles_y
    tile_key = image_ids[owner] * n_tiles + tile_y * tiles_x + tile_x

    # depth rank; ties keep the visible-list order (camera-major, then Gaussian index) like gsplat's sort
    rank = torch.empty(k, dtype=torch.long, device=device)
    rank[torch.argsort(depths, stable=True)] = torch.arange(k, device=device)
    order = torch.argsort(tile_key * max(k, 1) + rank[owner])
    sorted_tiles = tile_key[order]
    tile_counts = torch.bincount(sorted_tiles, minlength=n_images * n_tiles)
    tile_starts = torch.cumsum(tile_counts, 0) - tile_counts
    return TileBins(owner[order], tile_starts, tile_counts, tiles_x, tiles_y)


def plan_chunks(tile_counts: Tensor, pixels_per_tile: int, chunk_elements: int
                ) -> list[tuple[list[int], int, int, int]]:
    """Group non-empty tiles into work chunks of bounded size.

    Returns a list of (tile_ids, list_length, pixel_start, pixel_end): all tiles of a chunk are evaluated
    for local pixels [pixel_start, pixel_end) against ``list_length`` (padded) entries. A tile whose list is
    too long for one chunk is split over pixel ranges.
    """
    nonempty = torch.nonzero(tile_counts > 0).flatten()
    lengths = tile_counts[nonempty]
    order = torch.argsort(lengths)
    tiles = nonempty[order].tolist()
    lens = lengths[order].tolist()
    chunks: list[tuple[list[int], int, int, int]] = []
    cur: list[int] = []
    for tile, n in zip(tiles, lens):
        if pixels_per_tile * n > chunk_elements:
            step = max(1, chunk_elements // n)
            for p0 in range(0, pixels_per_tile, step):
                chunks.append(([tile], n, p0, min(pixels_per_tile, p0 + step)))
            continue
        if cur and (len(cur) + 1) * pixels_per_tile * n > chunk_elements:
            chunks.append((cur, cur_len, 0, pixels_per_tile))
            cur = []
        cur.append(tile)
        cur_len = n
    if cur:
        chunks.append((cur, cur_len, 0, pixels_per_tile))
    return chunks


def rasterize_tiles(
    means2d_src: Tensor,
    flat_idx: Tensor,
    image_ids: Tensor,
    radii: Tensor,
    depths: Tensor,
    conics: Tensor,
    opacities: Tensor,
    features: Tensor,
    n_images: int,
    width: int,
    height: int,
    *,
    backgrounds: Tensor | None = None,
    absgrad: bool = False,
    config: RasterConfig | None = None,
) -> tuple[Tensor, Tensor]:
    """Composite K visible entries into ``n_images`` images.

    means2d_src: the projected-centre tensor exposed to callers ([C, N, 2] or [K, 2]); entry k uses row
        ``flat_idx[k]`` of ``means2d_src.reshape(-1, 2)`` (gradients and absgrad land on means2d_src).
    image_ids [K] long, radii [K, 2] int px, depths [K] (sorting key), conics [K, 3], opacities [K]
    (effective), features [K, D] (colour channels, optionally depth last). backgrounds: [n_images, D] or
    None.
    Returns (features image [n_images, H, W, D], alpha [n_images, H, W, 1]); background composited.
    """
    cfg = (config or RasterConfig()).resolved(features.device)
    ts = cfg.tile_size
    dtype, device = features.dtype, features.device
    n_feat = features.shape[-1]
    flat_means = means2d_src.reshape(-1, 2)
    centers = flat_means.detach()[flat_idx]
    bins = bin_tiles(image_ids, centers, radii, depths.detach(), n_images, width, height, ts)
    n_tiles = bins.tiles_x * bins.tiles_y

    pix_ids: list[Tensor] = [torch.zeros(0, dtype=torch.long, device=device)]
    pix_feats: list[Tensor] = [features[:0]]
    pix_trans: list[Tensor] = [features[:0, 0]]
    chunks = plan_chunks(bins.tile_counts, ts * ts, cfg.chunk_elements)
    keep = sum(len(tiles) * (p1 - p0) * n_list for tiles, n_list, p0, p1 in chunks) <= cfg.keep_pairs
    for tiles, n_list, p0, p1 in chunks:
        tile_t = torch.tensor(tiles, dtype=torch.long, device=device)
        arange_l = torch.arange(n_list, device=device)
        entry_ok = arange_l[None, :] < bins.tile_counts[tile_t][:, None]  # [T, L]
        pos = torch.where(entry_ok, bins.tile_starts[tile_t][:, None] + arange_l[None, :], 0)
        ent = bins.sorted_entries[pos]  # [T, L] index into the visible list

        img = tile_t // n_tiles
        local_tile = tile_t % n_tiles
        local_p = torch.arange(p0, p1, device=device)
        px = (local_tile % bins.tiles_x)[:, None] * ts + (local_p % ts)[None, :]  # [T, P]
        py = (local_tile // bins.tiles_x)[:, None] * ts + (local_p // ts)[None, :]
        pixels = torch.stack([px, py], dim=-1).to(dtype) + PIXEL_CENTER_OFFSET

        rows = flat_idx[ent]
        sink = (means2d_src, rows) if absgrad else None
        acc, trans = CompositeChunk.apply(flat_means[rows], conics[ent], opacities[ent], features[ent],
                                          pixels, entry_ok, sink, cfg.block_entries, keep)
        inside = (px < width) & (py < height)
        pix_ids.append((img[:, None] * (height * width) + py * width + px)[inside])
        pix_feats.append(acc[inside])
        pix_trans.append(trans[inside])

    idx = torch.cat(pix_ids)
    n_pix = n_images * height * width
    image = torch.zeros(n_pix, n_feat, dtype=dtype, device=device).index_put((idx,), torch.cat(pix_feats))
    trans_final = torch.ones(n_pix, dtype=dtype, device=device).index_put((idx,), torch.cat(pix_trans))
    image = image.view(n_images, height * width, n_feat)
    trans_final = trans_final.view(n_images, height * width, 1)
    if backgrounds is not None:
        image = image + trans_final * backgrounds[:, None, :]
    return (image.view(n_images, height, width, n_feat),
            (1.0 - trans_final).view(n_images, height, width, 1))
