"""Tracking in a child process: the tests that SIGKILL a real run and resume it call the API there."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

_CHILD = ("import json, sys\nfrom vidmask_nb.track.propagate import TrackOptions, propagate\n"
          "propagate(sys.argv[1], sys.argv[2], TrackOptions(**json.loads(sys.argv[3])), **json.loads(sys.argv[4]))\n")


def tracking_command(video, workdir, options, **kwargs) -> list[str]:
    """The command line of a Python process that runs ``propagate(video, workdir, options, **kwargs)``
    (``options`` a ``TrackOptions``; JSON-able values)."""
    return [sys.executable, "-c", _CHILD, str(video), str(workdir), json.dumps(asdict(options)), json.dumps(kwargs)]
