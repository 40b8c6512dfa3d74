"""``run.json`` as typed records: ``RunRecord`` (the run) holding a ``StageRecord`` per stage.

Only ``state.RunState`` reads and writes them (signed, atomically); everything else reads their fields.
``from_json`` is their one validator: each field must have the type the kit writes, and a field this
kit does not write (another version's, a hand edit) is refused, in one line naming the field. A
record that does not validate is never half read: nothing downstream checks types again.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from vidmask_nb.errors import VidmaskError

KIND = "vidmask-nb run folder"
VERSION = 2


@dataclass
class StageRecord:
    """One stage's record: its status, when, and the digests of what it wrote and read."""

    status: str = "new"  # running, done, failed, interrupted
    started: str | None = None
    finished: str | None = None
    error: str | None = None  # the one line a failed stage said
    outputs: dict[str, str] = field(default_factory=dict)  # file (relative to the folder) -> sha256 of its bytes
    options: dict | None = None  # the run's options (``RunOptions``) the stage ran with
    inputs: dict[str, str] | None = None  # 03, 04: digests of the folder's inputs (``input_digests``)
    render_options: dict | None = None  # 04: the options it rendered with
    object_styles: dict | None = None  # 04: per-object styles (object id or label -> style)
    audio_spans: list | None = None  # 04: spans silenced beyond the options' own
    audit: dict | None = None  # 04: the output's audit (``Run.audit``)
    covers: dict | None = None  # 04: what the covers cost the picture (``review.coverage.CoverReport``)
    review: dict | None = None  # 04: what the review (its table in sensitive/qa) was made from

    @property
    def done(self) -> bool:
        return self.status == "done"

    @classmethod
    def from_json(cls, data: Any, where: str) -> "StageRecord":
        return cls(**_checked(cls, data, where))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class RunRecord:
    """The run: what it was started with (fixed), its stages, and what its completion recorded."""

    status: str = "new"  # new, running, complete, failed, interrupted
    stages: dict[str, StageRecord] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # what the kit wrote in the folder (never anything else)
    kind: str = KIND
    version: int = VERSION
    created: str | None = None
    # fixed at the run's start
    key: str | None = None  # video + options (+ the prompts file a headless run was given)
    video: str | None = None
    video_fingerprint: str | None = None
    options: dict | None = None  # ``RunOptions`` as a dict
    prompts: str | None = None  # the prompts file a headless run was given (None: drawn in 02)
    output: str | None = None
    prompt_check: dict | None = None  # what a headless run dropped and clipped of its prompts
    # written by the completion (``RunState.complete``)
    inputs: dict[str, str] | None = None  # digests of what the output was made from (prompts, floor, masks)
    output_sha256: str | None = None  # the very bytes rendered and audited
    completed: str | None = None
    audit: dict | None = None  # the pictures' audit of the output, summed up
    speech_audit: dict | None = None  # the listed words and spoken numbers still heard, by another model
    covers: dict | None = None  # what the covers cost the picture: mean, worst, frames over the share
    objects: list | None = None  # the objects hidden: id and label
    uncovered_gaps: list | None = None  # dropouts left uncovered (--no-cover-long-gaps)
    long_gaps: list | None = None  # dropouts longer than the hold, covered and listed for review
    render_options: dict | None = None  # what 04 rendered with (a notebook may override the run's)
    tracking: dict | None = None  # what 03 tracked: everything, or the objects and frames a correction re-tracked
    floor: dict | None = None  # what the detector floor covered, by kind (never the text)
    # written by ``vidmask-nb run`` at its end
    stage_seconds: dict | None = None
    seconds: float | None = None

    def stage(self, name: str) -> StageRecord:
        """``name``'s record (a new one, not stored, when the stage never ran)."""
        return self.stages.get(name) or StageRecord()

    @classmethod
    def from_json(cls, data: Any, where: str) -> "RunRecord":
        values = _checked(cls, data, where)
        stages = values.get("stages", {})
        values["stages"] = {name: StageRecord.from_json(rec, f"{where}: stage {name!r}")
                            for name, rec in stages.items()}
        return cls(**values)

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["stages"] = {name: rec.to_json() for name, rec in self.stages.items()}
        return out


def _checked(cls, data: Any, where: str) -> dict:
    """``data``'s fields for ``cls``, each of the type the kit writes; one line naming the first that is not."""
    if not isinstance(data, dict):
        raise VidmaskError(f"{where} is {type(data).__name__}, not a record this kit writes; run again into a new "
                           "folder")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in known:
            raise VidmaskError(f"{where}: field {name!r} is not one this kit writes (another version's, or edited "
                               "by hand); run again into a new folder")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if not _is(value, hints[name]):
            raise VidmaskError(f"{where}: field {name!r} is {type(value).__name__}, not what this kit writes "
                               f"({_name(hints[name])}); run again into a new folder")
    return dict(data)


def _is(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is dict:
        if not isinstance(value, dict):
            return False
        if args and args[1] is StageRecord:
            return all(isinstance(k, str) for k in value)  # each stage is checked by StageRecord.from_json
        return not args or all(_is(k, args[0]) and _is(v, args[1]) for k, v in value.items())
    if origin is list:
        return isinstance(value, list) and (not args or all(_is(v, args[0]) for v in value))
    return isinstance(value, hint)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")

