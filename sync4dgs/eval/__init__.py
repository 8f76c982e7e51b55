"""sync4dgs.eval: render a trained model into the 3DGS layout and measure it (never imports the trainer).

    from sync4dgs.eval.render_views import render_model          # M/<split>/ours_<n>/{renders,gt,videos}
    from sync4dgs.eval.results import MetricsOptions, compute_results   # M/results.json
    from sync4dgs.eval.offset_errors import offset_errors
    from sync4dgs.timemap import rereference                    # time maps on another camera's clock
    from sync4dgs.eval.image_metrics import psnr, ssim, flip

Output layout: sync4dgs/eval/layout.py. Metric conventions: sync4dgs/eval/image_metrics.py.
"""
