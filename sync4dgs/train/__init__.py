"""sync4dgs.train: stage 2 (4D Gaussians + learnable per-camera time maps).

    from sync4dgs.train import load_config, train
    cfg = load_config("configs/demo.json", {"train.iterations": "200"})
    result = train("scene/", "out/", cfg)
"""

from sync4dgs.train.api import TrainResult, train
from sync4dgs.train.config import ExperimentConfig, load_config

__all__ = ["ExperimentConfig", "TrainResult", "load_config", "train"]
