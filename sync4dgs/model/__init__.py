"""sync4dgs.model: Ex4DGS-style explicit 4D Gaussians (static + keyframed dynamic), in global SECONDS.

Public API:
    ModelConfig, Gaussians4D (gaussians4d.py), convert_static_to_dynamic (convert.py),
    save_model / load_trained / TrainedModel (io.py), parameter surgery helpers (ops.py),
    interpolation (interp.py) and temporal opacity (temporal.py).
"""

from sync4dgs.model.config import ModelConfig
from sync4dgs.model.convert import convert_static_to_dynamic
from sync4dgs.model.gaussians4d import DYNAMIC_KEYS, STATIC_KEYS, Gaussians4D
from sync4dgs.model.io import ModelNotFoundError, TrainedModel, load_trained, save_model

__all__ = ["ModelConfig", "Gaussians4D", "STATIC_KEYS", "DYNAMIC_KEYS", "convert_static_to_dynamic",
           "save_model", "load_trained", "TrainedModel", "ModelNotFoundError"]
