"""Data layer: canonical scene format, readers (N3V, Technicolor, COLMAP, raw videos), frames, synth.

Imports nothing from model/, render/, train/.
"""
