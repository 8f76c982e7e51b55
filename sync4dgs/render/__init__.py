"""sync4dgs.render: the one rendering function (time-agnostic) and its types.

    from sync4dgs.render import Gaussians, RenderCameras, render
    out = render(gaussians, cameras, sh_degree=3, background=bg)   # out.image [C, H, W, 3]

Backends: gsplat 1.5.3 CUDA ("gsplat") and a pure-torch reference ("torch"); "auto" picks gsplat for
float32 CUDA tensors when its extension loads. Conventions: sync4dgs/render/conventions.py.
"""

from sync4dgs.errors import BackendUnavailableError
from sync4dgs.render.api import render
from sync4dgs.render.capability import has_cuda_backend
from sync4dgs.render.types import Gaussians, RenderCameras, RenderOutput

__all__ = ["render", "has_cuda_backend", "Gaussians", "RenderCameras", "RenderOutput",
           "BackendUnavailableError"]
