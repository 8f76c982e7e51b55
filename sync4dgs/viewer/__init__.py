"""Browser viewer (viser) of a 4D model with a time slider; never imports the trainer.

* :class:`sync4dgs.viewer.server.Sync4DViewer` -- the server (``start``/``stop``/``update``/``set_time``);
* :func:`sync4dgs.viewer.launch.open_viewer` -- one for a saved model folder / model.pt / npz;
* :func:`sync4dgs.viewer.callback.start_training_viewer` -> :class:`~sync4dgs.viewer.callback.ViewerCallback`
  -- the hook a trainer calls: ``viewer.update(model, time_maps, iteration)`` then ``viewer.close()``;
* :mod:`sync4dgs.viewer.camera` -- viser camera <-> OpenCV viewmat conversion.
"""
