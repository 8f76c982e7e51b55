"""sync4dgs: 4D Gaussian splatting from unsynchronized multi-view videos.

Layers (see docs/architecture.md): data -> sync -> model -> render -> train -> eval/export/viewer -> cli.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
