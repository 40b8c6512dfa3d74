"""A whole run around the stages: options, the run's settings, the headless pipeline, batches, Ray.

``options`` (``RunOptions``: every stage's options in one flat record) -> ``settings`` (the run's
settings, kept in its state ``run.json`` by ``runfolder.state``) -> ``pipeline`` (notebooks 01-04 under
papermill, batches, share) -> ``cluster`` (Ray).
"""
