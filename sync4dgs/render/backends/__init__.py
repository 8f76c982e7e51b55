"""Rendering backends: ``torch_ref`` (pure torch, any device) and ``gsplat_cuda`` (gsplat 1.5.3 CUDA).

Call them through :func:`sync4dgs.render.render`, which validates inputs and picks the backend.
"""
