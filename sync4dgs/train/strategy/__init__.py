"""Densification strategies (separate from the loop): static (gsplat DefaultStrategy), dynamic (keyframe-aware),
static -> dynamic conversion, and the lock-step parameter/optimiser surgery they share."""

from sync4dgs.train.strategy.convert import StaticToDynamic
from sync4dgs.train.strategy.dynamic import DynamicDensifier
from sync4dgs.train.strategy.static import StaticDensifier

__all__ = ["DynamicDensifier", "StaticDensifier", "StaticToDynamic"]
