"""The whole run around the stages: the pipeline object, its options, the headless faces of it, sharing, Ray.

``options`` (``RunOptions``: every stage's options in one flat record) -> ``settings`` (the run's
settings, kept in its state ``run.json`` by ``runfolder.state``) -> ``stages`` (``Run``: one run folder,
the stages as methods; the notebooks and the CLI both drive it) -> ``pipeline`` (``run_video``: every
stage in one process, the notebooks executed as its report; batches; the demo) -> ``share`` (what is
safe to publish, every audit clean) -> ``cluster`` (Ray). ``notebooks``: the four notebooks the kit ships.
"""
