#!/usr/bin/env bash
# The main job: generate a sample clip and prompts, track, render, into runs/demo/ (sets up .venv first).
# Extra arguments go to `vidmask-nb demo`, e.g. --weights random (no trained checkpoint) or --device cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/vidmask-nb demo "$@"
