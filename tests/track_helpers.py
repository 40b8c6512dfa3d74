"""Tracking in a child process: the tests that SIGKILL a real run and resume it call the API there."""
from __future__ import annotations

import json
import sys

_CHILD = "import json, sys\nfrom vidmask_nb.track.propagate import propagate\npropagate(sys.argv[1], sys.argv[2], **json.loads(sys.argv[3]))\n"


def tracking_command(video, workdir, **options) -> list[str]:
    """The command line of a Python process that runs ``propagate(video, workdir, **options)`` (JSON-able options)."""
    return [sys.executable, "-c", _CHILD, str(video), str(workdir), json.dumps(options)]
