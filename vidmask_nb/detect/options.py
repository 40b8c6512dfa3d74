"""The detectors' settings in a run (``FindOptions``) and their defaults."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidmask_nb.detect.detectors import parse_kinds
from vidmask_nb.detect.pii import read_words
from vidmask_nb.errors import VidmaskError, check_number

DEFAULT_FIND_EVERY = 0.5  # seconds between frames that find detects on
DEFAULT_FLOOR_EVERY = 1  # frames between frames the floor's detectors run on
# Two detections on sampled frames are the same object when their boxes overlap at least this much.
MATCH_IOU = 0.2


@dataclass(frozen=True)
class FindOptions:
    """The detectors' settings in a run (``vidmask-nb run`` flags, notebook 02's parameters): one
    default each, checked once by ``checked()``.

    - ``find``: detectors that find what to hide and cover a floor under SAM 2: ``faces``, ``text``
      (every text region), ``pii`` (text read by OCR that holds personal data), ``codes`` (QR codes
      and barcodes), comma-separated (``faces,pii,codes``; None: only the prompts).
    - ``pii_words``: a text file of words and names (one a line) that ``pii`` covers too.
    - ``find_every``: seconds between frames searched for new objects.
    - ``floor_every``: the floor's detectors run on every N-th frame.
    - ``no_track``: cover the detector floor alone; SAM 2 is not loaded (needs ``find``).
    - ``exact_floor``: faces at 640 px on every frame instead of the fast pass (``detect.fastpass``).
    """

    find: str | None = None
    find_every: float = DEFAULT_FIND_EVERY
    floor_every: int = DEFAULT_FLOOR_EVERY
    no_track: bool = False
    pii_words: str | None = None
    exact_floor: bool = False

    def checked(self) -> "FindOptions":
        """Raise ``VidmaskError`` (naming the CLI flag) for a bad setting; returns the options (the
        word list's path made absolute)."""
        check_number(self.find_every, "--find-every", positive=True)
        check_number(self.floor_every, "--floor-every", integer=True, minimum=1)
        if self.pii_words is not None:
            if self.find is None or "pii" not in parse_kinds(self.find):
                raise VidmaskError("--pii-words is read by the pii detector: add pii to --find (e.g. --find faces,pii)")
            read_words(self.pii_words)
            from dataclasses import replace

            return replace(self, pii_words=str(Path(self.pii_words).expanduser().resolve())).checked_kinds()
        return self.checked_kinds()

    def checked_kinds(self) -> "FindOptions":
        if self.find is not None:
            parse_kinds(self.find)
            if not self.find_every > 0:
                raise VidmaskError(f"--find-every must be positive seconds, not {self.find_every}")
            if self.floor_every < 1:
                raise VidmaskError(f"--floor-every must be 1 frame or more, not {self.floor_every}")
        elif self.no_track:
            raise VidmaskError("--no-track covers what the detectors find: give --find faces (or faces,pii,codes)")
        return self

    @property
    def words(self) -> tuple[str, ...]:
        """The ``pii_words`` file's words (``pii.read_words``), () without one."""
        return read_words(self.pii_words) if self.pii_words else ()
