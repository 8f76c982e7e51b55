"""Data layer: canonical scene format, readers (N3V, Technicolor, COLMAP, raw videos), frames, synth.

Imports nothing from sync/, model/, render/, train/ (time maps: sync4dgs/timemap.py, below both).
"""
