"""Generated material that knows the truth: personal text, plain words, a QR code and an EAN-13
barcode on real frames (``../shared/media/01_dog.mp4`` when present, else a generated background),
at known places and times, moving and scaled. Used by ``tests/test_codes_pii.py`` and
``benchmarks/bench_pii.py``.

``make_clip(path, n=12, size=(640, 360))`` writes the clip (10 fps, x264 crf 12) and returns a
``Material``: per frame, the box of each item (``"email"``, ``"phone"``, ``"name"`` (a listed name, ``NAME``),
``"words"``, ``"words2"`` (plain words that must stay readable), ``"qr"``, ``"ean"``) or None where it
is not shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

SHARED_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"

EMAIL = "alice.cooper@example.com"
PHONE = "+44 20 7946 0958"
NAME = "Dana Whitfield"  # listed in the test's --pii-words file
WORDS = "GARDEN CENTRE"
WORDS2 = "OPEN DAILY"
QR_TEXT = "https://example.com/u/alice"
EAN_DIGITS = "400638133393"  # the 13th, the check digit, is computed: 4006381333931

# EAN-13 by the standard's tables: L and G codes on the left (G by the first digit's parity), R on the right.
_L = ["0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011"]
_R = ["".join("1" if c == "0" else "0" for c in code) for code in _L]
_G = [code[::-1] for code in _R]
_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def ean13(digits12: str) -> tuple[str, str]:
    """(the 13 digits with their check digit, the 95 modules as '1' bar / '0' space)."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits12))
    code = digits12 + str((10 - total % 10) % 10)
    left = "".join((_L if p == "L" else _G)[int(c)] for p, c in zip(_PARITY[int(code[0])], code[1:7]))
    right = "".join(_R[int(c)] for c in code[7:])
    return code, "101" + left + "01010" + right + "101"


def ean_image(module: int, height: int) -> np.ndarray:
    """An EAN-13 as a grey image with its quiet zone (11 modules a side)."""
    _, bits = ean13(EAN_DIGITS)
    row = np.array([0 if b == "1" else 255 for b in bits], np.uint8)
    bars = np.repeat(row, module)[None].repeat(height, 0)
    return np.pad(bars, ((4 * module, 4 * module), (11 * module, 11 * module)), constant_values=255)


def qr_image(module: int) -> np.ndarray:
    """A QR code of ``QR_TEXT`` as a grey image, ``module`` px a module, with a 2-module quiet zone."""
    import cv2

    qr = cv2.QRCodeEncoder.create().encode(QR_TEXT)
    qr = cv2.resize(qr, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)
    return np.pad(qr, 2 * module, constant_values=255)


@dataclass
class Material:
    path: Path
    size: tuple[int, int]
    fps: Fraction
    boxes: list[dict[str, tuple[int, int, int, int] | None]] = field(default_factory=list)

    def frames_with(self, item: str) -> list[int]:
        return [i for i, b in enumerate(self.boxes) if b.get(item) is not None]


def _backgrounds(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    import cv2

    clip = SHARED_MEDIA / "01_dog.mp4"
    if clip.is_file():
        import av

        with av.open(str(clip)) as inp:
            frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(n), inp.decode(video=0))]
        return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    w, h = size
    rng = np.random.default_rng(0)
    base = np.dstack([np.linspace(60, 200, w)[None].repeat(h, 0), np.linspace(90, 160, h)[:, None].repeat(w, 1),
                      np.full((h, w), 120.0)])
    return [np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def _label(pil_img, xy, text, font) -> tuple[int, int, int, int]:
    """Dark text on a light panel (as a sign or a screen shows it); returns the panel's box."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(pil_img)
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    box = (x0 - 8, y0 - 6, x1 + 8, y1 + 6)
    draw.rectangle(box, fill=(235, 235, 228))
    draw.text(xy, text, font=font, fill=(15, 15, 20))
    return box


def _paste(rgb: np.ndarray, gray: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    h, w = gray.shape
    rgb[y:y + h, x:x + w] = gray[..., None]
    return (x, y, x + w, y + h)


def make_clip(path: str | Path, n: int = 12, size: tuple[int, int] = (640, 360), fps: Fraction = Fraction(10)) -> Material:
    """Write the clip; the e-mail is shown on every frame, the phone number from frame 2 on, the
    name from frame 4 on, the plain words throughout; the QR code moves right and grows (4 -> 5 px
    modules halfway), the EAN-13 moves down and grows (2 -> 3 px modules)."""
    from PIL import Image, ImageFont

    from clip_helpers import write_clip

    path = Path(path)
    font = ImageFont.load_default(size=22)
    material = Material(path, size, fps)

    def frames():
        for i, bg in enumerate(_backgrounds(n, size)):
            pil = Image.fromarray(bg)
            boxes: dict = {"email": _label(pil, (24 + 2 * i, 24), EMAIL, font),
                           "phone": _label(pil, (24, 82 + i), PHONE, font) if i >= 2 else None,
                           "name": _label(pil, (24, 140), NAME, font) if i >= 4 else None,
                           "words": _label(pil, (24, 206), WORDS, font),
                           "words2": _label(pil, (24, 310 - i), WORDS2, font)}
            rgb = np.array(pil)
            boxes["qr"] = _paste(rgb, qr_image(4 if i < n // 2 else 5), 420 + 3 * i, 16)
            boxes["ean"] = _paste(rgb, ean_image(2 if i < n // 2 else 3, 44), 286, 224 + 3 * i)
            material.boxes.append(boxes)
            yield rgb

    write_clip(path, frames(), fps)
    return material
