"""``RunOptions``: every stage's options in one flat record, as the CLI flags, batch rows
and ``run.json`` name them. Each stage owns its part (``track.propagate.TrackOptions``,
``redact.render.RenderOptions``, ``detect.options.FindOptions``), its defaults and its one check."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace

from vidmask_nb.detect.options import FindOptions
from vidmask_nb.errors import VidmaskError
from vidmask_nb.redact.audio import AudioOptions
from vidmask_nb.redact.render import RenderOptions
from vidmask_nb.track.propagate import TrackOptions


@dataclass(frozen=True)
class RunOptions:
    """The settings of a headless run (the CLI flags of ``vidmask-nb run``), flat as ``run.json`` and
    batch rows name them. Each stage owns its part, its defaults and its checks:
    ``propagate.TrackOptions``, ``render.RenderOptions`` and ``options.FindOptions`` (``track_options``,
    ``render_options``, ``find_options`` give them); ``checked()`` runs each stage's check once."""

    model: str = TrackOptions.model
    checkpoint: str | None = TrackOptions.checkpoint
    weights: str = TrackOptions.weights
    image_size: int | None = TrackOptions.image_size
    device: str | None = TrackOptions.device
    style: str = RenderOptions.style
    dilate: int = RenderOptions.dilate
    feather: int = RenderOptions.feather
    hold_seconds: float = RenderOptions.hold_seconds
    hold: int | None = RenderOptions.hold  # frames; overrides hold_seconds (older runs' setting)
    cover_long_gaps: bool = RenderOptions.cover_long_gaps
    drop_unusable_prompts: bool = False
    chunk_seconds: float = TrackOptions.chunk_seconds
    crf: int | None = RenderOptions.crf
    lossless: bool = RenderOptions.lossless
    find: str | None = FindOptions.find
    find_every: float = FindOptions.find_every
    floor_every: int = FindOptions.floor_every
    no_track: bool = FindOptions.no_track
    audio: str | None = AudioOptions.audio
    audio_spans: str | None = AudioOptions.audio_spans
    say_words: str | None = AudioOptions.say_words
    say_margin: float = AudioOptions.say_margin
    say_pii: bool = AudioOptions.say_pii
    asr: str | None = AudioOptions.asr
    pii_words: str | None = FindOptions.pii_words
    exact_floor: bool = FindOptions.exact_floor
    full: bool = False  # after a prompt change, re-track every object over every frame (else only what changed)

    def _part(self, cls):
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    @property
    def track_options(self) -> TrackOptions:
        return self._part(TrackOptions)

    @property
    def render_options(self) -> RenderOptions:
        return self._part(RenderOptions)

    @property
    def audio_options(self) -> AudioOptions:
        return self._part(AudioOptions)

    @property
    def find_options(self) -> FindOptions:
        return self._part(FindOptions)

    def checked(self, caller: str = "cli") -> "RunOptions":
        """Check every option before heavy work; returns the options with the checkpoint resolved.

        Each stage's check names the CLI flag (``--image-size``); with ``caller="notebook"`` the same
        message names the notebook's parameter instead (``image_size``): one set of messages, two readers.
        """
        try:
            track = self.track_options.checked(resolve_checkpoint=not self.no_track)
            self.render_options.checked()
            find = self.find_options.checked()  # the word list's path made absolute
            self.audio_options.checked()
        except VidmaskError as exc:
            if caller == "notebook":
                raise VidmaskError(in_notebook_terms(str(exc))) from None
            raise
        return replace(self, **asdict(track), pii_words=find.pii_words)

    def checked_parts(self, names, caller: str = "cli") -> None:
        """Check only the stages that own the options ``names`` (an override in a later notebook): a
        render option needs no SAM 2 checkpoint. Errors name the flag, or the parameter (``caller``)."""
        names = set(names)
        try:
            for part in (TrackOptions, RenderOptions, FindOptions, AudioOptions):
                if names & {f.name for f in fields(part)}:
                    options = self._part(part)
                    options.checked(resolve_checkpoint=not self.no_track) if part is TrackOptions else options.checked()
        except VidmaskError as exc:
            if caller == "notebook":
                raise VidmaskError(in_notebook_terms(str(exc))) from None
            raise

    @classmethod
    def from_mapping(cls, values: dict, base: "RunOptions | None" = None) -> "RunOptions":
        """Options from a batch row or CLI dict: names like the flags (``image-size`` or ``image_size``)."""
        base = base or cls()
        known = {f.name: f.type for f in fields(cls)}
        out = {}
        for key, raw in values.items():
            name = key.strip().replace("-", "_")
            if name not in known:
                raise VidmaskError(f"unknown option {key!r}; known: {', '.join(known)}")
            if raw is None or raw == "":
                continue
            default = getattr(base, name)
            out[name] = _coerce(name, raw, default, known[name])
        return replace(base, **out)


_FLAG = re.compile(r"--([a-z][a-z0-9-]*)")
_NEGATED = {"no-cover-long-gaps": "cover_long_gaps = False"}


def in_notebook_terms(message: str) -> str:
    """``message`` with each run option's CLI flag written as the notebooks' parameter
    (``--image-size`` -> ``image_size``, ``--no-cover-long-gaps`` -> ``cover_long_gaps = False``);
    other flags stay as they are."""
    names = {f.name for f in fields(RunOptions)}

    def one(m: re.Match) -> str:
        flag = m.group(1)
        if flag in _NEGATED:
            return _NEGATED[flag]
        name = flag.replace("-", "_")
        return name if name in names else m.group(0)

    return _FLAG.sub(one, message)


def _coerce(name: str, raw, default, annotation: str):
    if not isinstance(raw, str):
        return raw
    try:
        if "bool" in annotation:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if "int" in annotation:
            return int(raw)
        if "float" in annotation:
            return float(raw)
    except ValueError:
        raise VidmaskError(f"option {name}: {raw!r} is not a number") from None
    return raw
