"""sync4dgs.sync: learnable per-camera time maps (``timemodel``) and stage-1 alignment (``align``); the time
convention and the time-map format are in sync4dgs/timemap.py."""
