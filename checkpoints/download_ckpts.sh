#!/usr/bin/env bash
# Download the official SAM 2.1 checkpoints into this folder.
#   bash checkpoints/download_ckpts.sh            # all four
#   bash checkpoints/download_ckpts.sh tiny       # one or more of: tiny small base_plus large
# Python equivalent: from vidmask_nb.track.model import download_checkpoint; download_checkpoint("tiny")
# Each file is downloaded under a temporary name and renamed when complete, so an interrupted
# download never leaves a truncated .pt behind. Existing files are kept.
set -euo pipefail

BASE_URL="https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

declare -A FILES=(
  [tiny]="sam2.1_hiera_tiny.pt"
  [small]="sam2.1_hiera_small.pt"
  [base_plus]="sam2.1_hiera_base_plus.pt"
  [large]="sam2.1_hiera_large.pt"
)

if [ "$#" -eq 0 ]; then
  set -- tiny small base_plus large
fi

if command -v wget >/dev/null 2>&1; then
  fetch() { wget -q --show-progress -O "$2" "$1"; }
elif command -v curl >/dev/null 2>&1; then
  fetch() { curl -fL --progress-bar -o "$2" "$1"; }
else
  echo "error: neither wget nor curl is installed; use the Python equivalent:" >&2
  echo "  python -c \"from vidmask_nb.track.model import download_checkpoint; download_checkpoint('tiny')\"" >&2
  exit 1
fi

for model in "$@"; do
  file="${FILES[$model]:-}"
  if [ -z "$file" ]; then
    echo "error: unknown model '$model'; choose from: tiny small base_plus large" >&2
    exit 2
  fi
  dest="$DIR/$file"
  if [ -s "$dest" ]; then
    echo "$file already downloaded"
    continue
  fi
  tmp="$DIR/.$file.partial-$$"
  trap 'rm -f "$tmp"' EXIT
  echo "downloading $file (SAM 2.1 $model) ..."
  if ! fetch "${BASE_URL}${file}" "$tmp"; then
    rm -f "$tmp"
    echo "error: failed to download ${BASE_URL}${file}" >&2
    exit 1
  fi
  mv -f "$tmp" "$dest"
  trap - EXIT
done
echo "done: checkpoints are in $DIR"
