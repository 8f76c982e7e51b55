"""sync4dgs.demo: the end-to-end demo pipeline (``sync4dgs demo``): synth, stage 1, stage 2, render, metrics.

    from sync4dgs.demo.pipeline import run_demo
"""
