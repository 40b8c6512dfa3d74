"""The prompt editor: draw boxes and points on video frames in Jupyter (ipycanvas + ipywidgets).

The canvas is the (downscaled) frame's own size, so one canvas pixel is one displayed image
pixel, and CSS stretches it for display (``display_width`` at most, and never wider than the
cell, so a laptop window shows the whole frame): ipycanvas then reports mouse positions in canvas
pixels at any zoom. Prompts are kept in source pixels; ``to_source``/``to_canvas`` are the only places
that convert. Every edit saves ``prompts.json`` atomically, so closing the browser loses nothing.

Mouse (DOM events through ``ipyevents``): drag draws a box; a click adds a positive point; a
Shift-click or a right-click (or any click in the "- point" mode) a negative one. A drag too small
for a box (``EditState.min_box`` source pixels) changes nothing and says so; a drag for an object
that already has a box on the frame keeps the old box and shows the new one dashed until *replace
box* (``r``) puts it in place (undo: ``z``). The sign comes
from the mode and from the click's own button and Shift flag, never from an earlier key press;
the mode and the picked object are written in the image's corner. Keys work while the pointer is
over the image; they are listed in the widget. Everything the mouse and buttons do is also a method, for papermill runs and tests.

The widget is a view: the prompts, frame, picked object, mode, selection, undo and proposals, and
every edit of them (with saving), are ``editor.state``, a ``vidmask_nb.notebook.editstate.EditState`` that
works without widgets; the editor runs an operation there, then redraws and shows its message.

Tracked masks: when the run folder holds ``masks.json`` (from 03), every object's tracked mask on
the frame shown is tinted in its colour ("show tracked masks" hides them; ``m``), so a track that
went wrong is seen where it is fixed. The timeline strip under the image marks prompted frames
(ticks in the object's colour) and the review spans of ``qa.review_frames`` (orange); a click on
it jumps there, and the "review" list goes to the frame a span names (its worst, else its first). ``PromptEditor(..., frame=N)``
(or ``open_editor``) opens at a frame; ``review_fixer`` is 04's review table with a "fix" button
per row that opens the editor at that row's frame.

Find: the detectors (``vidmask_nb.detect.detectors``: faces, text, personal text ``pii`` read by OCR
with the run's ``pii_words``, QR codes and barcodes ``code``) propose boxes on the current frame
(``find``) or on frames sampled through the whole video (``find_video``, grouped into objects by
``vidmask_nb.detect.find.find_objects``). Proposals are drawn dashed in cyan with their kind and score and
are not prompts yet: click one (or pick it in the list) and accept it as a new object (``face 3``,
with a box prompt on that frame, saved), add it to the picked object (a prompt of that object), or
reject it. A detection that lies inside an object already there (its box prompt or tracked mask on
that frame, or followed from the frame searched before) is that object's and is not proposed: Find
says how many it found and how many were already boxed, and whose; *show found* draws those dotted.
The label box always shows the picked object's label. Labels on the image never cover each other, and
each box has a dark or light halo so it shows over its own mask's tint.

Example::

    editor = PromptEditor("clip.mp4", "runs/clip")
    editor                                   # the widget, in a notebook cell
    editor.set_frame(120)
    editor.new_object("licence plate")
    editor.add_box(400, 300, 520, 340)       # source pixels; saved at once
    editor.add_point(460, 320, positive=True)
    editor.undo()
    editor.drag_box(390, 290, 530, 350)      # as the mouse: the object has a box here, so it waits
    editor.replace_box()                     # the deliberate act (r); undo: z
    editor.find("faces")                     # proposals on this frame ("2 faces found, 1 already boxed")
    editor.accept(0)                         # -> object "face 1" with that box; saved
    editor.accept_into_picked()              # the next one -> a prompt of the picked object
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from ipyevents import Event

from vidmask_nb.detect.detectors import Detections, parse_kinds
from vidmask_nb.notebook.live import LiveWidget
from vidmask_nb.notebook.editstate import MODE_BADGES, MODES, EditState, Proposal  # noqa: F401 - Proposal: public here too
from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.masks import MaskStore
from vidmask_nb.prompts.records import FramePrompt, TrackedObject
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.media.video import VideoInfo, VideoReader, fit_size, probe

RIGHT_BUTTON = 2  # MouseEvent.button of a right-click
CLICK_CSS_PX = 2  # a press and release closer than this (in screen pixels) is a click; farther, a drag (or a slip)
PROPOSAL_COLOR = "rgb(0,229,255)"  # cyan: no object's palette colour, readable on most footage
MASK_ALPHA = 0.4  # tracked masks: 40 % object colour over the frame
REVIEW_COLOR = "rgba(255,140,0,0.75)"  # review spans on the timeline strip
TIMELINE_SIZE = (800, 14)  # the strip's canvas pixels; CSS stretches it to the image's width
IMAGE_MAX_VH = 48  # the image is at most this share of the window's height (the controls stay in view at 1280x800)
STATUS_HEIGHT = "3.1em"  # two lines, fixed: a longer message never moves what is under it
FIND_KINDS = [("faces", "face"), ("text", "text"), ("faces + text", "face,text"), ("personal text", "pii"),
              ("codes", "code"), ("faces + personal text + codes", "face,pii,code")]

SHORTCUTS = [("drag", "box"), ("click", "+ point"), ("Shift-click or right-click", "- point"),
             ("b / p / n", "mode: box / + point / - point"), ("← → or a d", "previous / next frame"),
             ("Shift+← →", "10 frames"), ("o", "new object"), ("1-9", "pick object"),
             ("r", "replace box (after a drag over the object's box)"),
             ("z", "undo"), ("Delete, x", "delete the selected prompt"), ("v", "preview this frame"),
             ("m", "show / hide tracked masks"),
             ("f", "find on this frame"), ("click a cyan proposal", "select it"), ("Esc", "cancel a drag or a dashed box")]


def halo_color(color) -> str:
    """The outline drawn under an object's box: near-black under a light colour, near-white under a dark one,
    so the box stays seen over its own mask's tint (a green box over a green tint)."""
    r, g, b = color
    return "rgb(20,20,20)" if 0.299 * r + 0.587 * g + 0.114 * b > 110 else "rgb(245,245,245)"


def place_plate(placed: list, x: float, top: float, w: float, h: float, height: float) -> float:
    """The top of a ``w`` x ``h`` label plate at ``x``, as near ``top`` as it can be without covering any
    plate in ``placed`` ((x, y, w, h) each): moved down past each one it would cover, within ``height``."""
    def hits(y):
        return [p for p in placed if x < p[0] + p[2] and p[0] < x + w and y < p[1] + p[3] and p[1] < y + h]

    y = top
    for _ in range(len(placed) + 1):
        over = hits(y)
        if not over:
            return y
        y = max(p[1] + p[3] for p in over) + 1
        if y + h > height:  # no room below: the lowest free place above instead
            y = max(0.0, min(p[1] for p in over) - h - 1)
            if hits(y):
                return top
    return y


def _state_attr(name: str, doc: str) -> property:
    """An editor attribute that is ``editor.state``'s (read and written through)."""
    return property(lambda self: getattr(self.state, name), lambda self, value: setattr(self.state, name, value),
                    doc=doc)


def _row(children) -> widgets.HBox:
    """A row of controls that wraps onto the next line when the cell is narrower than the row."""
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap"))


@dataclass(frozen=True)
class _Drag:
    x0: float
    y0: float
    x1: float
    y1: float
    negative: bool = False  # pressed with Shift or the right button
    right: bool = False  # the right button: a point, never a box


class PromptEditor(LiveWidget, widgets.VBox):
    """An ipywidgets box for drawing prompts on ``video``, saved to ``workdir/prompts.json``.

    - ``video``: the source video path (or a ``VideoInfo``).
    - ``workdir``: the run folder; ``prompts.json`` there is loaded (and checked against the video)
      if it exists.
    - ``max_display``: longest side of the frame drawn on the canvas (frames are downscaled to it).
    - ``display_width``: the widest it is shown, in CSS pixels (default: the canvas width, and at
      least 640 so small videos can be drawn on precisely); narrower cells shrink it to their width.
    - ``predictor``: for the preview button: a SAM 2 predictor, a dict of ``model.load_predictor``
      arguments (loaded on first use), a function returning a predictor, or None (no preview).
    - ``prompts_path``: save somewhere other than ``workdir/prompts.json``.
    - ``frame``: the frame shown first (default: the first prompted frame, else 0).
    - ``review``: the review spans to mark (a ``qa.ReviewTable``, e.g. 04's with its ``hold``);
      default: ``qa.review_frames`` of ``workdir/masks.json`` with its default settings.
    - ``pii_words``: a word list file (names, one a line) that Find's personal-text kind covers too.
    """

    live_what = "prompt editor"
    # What the editor shows and edits lives in ``state`` (an ``editstate.EditState``, usable without
    # widgets); these read and write through to it, as tests and notebooks have always used them.
    prompts = _state_attr("prompts", "the ``PromptSet`` being edited")
    path = _state_attr("path", "where ``prompts.json`` is saved")
    frame = _state_attr("frame", "the frame shown")
    obj_id = _state_attr("obj_id", "the picked object's id")
    mode = _state_attr("mode", "the drawing mode: box, positive or negative")
    selected = _state_attr("selected", "the selected prompt's index in ``prompts.prompts``, or None")
    proposals = _state_attr("proposals", "the detectors' pending proposals")
    selected_proposal = _state_attr("selected_proposal", "the selected proposal's index, or None")

    def __init__(self, video: str | os.PathLike | VideoInfo, workdir: str | os.PathLike,
                 max_display: int = 960, display_width: int | None = None, predictor=None,
                 prompts_path: str | os.PathLike | None = None, frame: int | None = None, review=None,
                 pii_words: str | os.PathLike | None = None):
        from vidmask_nb.detect.pii import read_words

        self.pii_words = read_words(pii_words, "pii_words") if pii_words else ()  # the pii kind's own words
        self.info = video if isinstance(video, VideoInfo) else probe(video)
        run = RunFolder(workdir).create()
        self.state = EditState(self.info, Path(prompts_path) if prompts_path else run.prompts_json, frame)
        self.masks_path = run.masks_json
        self.show_masks = True
        self.mask_store: MaskStore | None = None
        self.masks_note = ""  # why no masks are drawn (none yet, another video's...)
        self._masks_stamp: tuple | None = None
        self._review_given = review
        self.review_rows: list = []  # qa.ReviewRow, by first frame
        w, h = self.info.width, self.info.height
        self.canvas_size = fit_size(w, h, max_display)
        cw, ch = self.canvas_size
        self.scale = (w / cw, h / ch)  # source pixels per canvas pixel
        css_w = display_width or max(cw, min(640, 4 * cw))
        self.css_scale = css_w / cw  # screen pixels per canvas pixel
        self._reader = VideoReader(self.info.path, size=None if (cw, ch) == (w, h) else (cw, ch),
                                   info=self.info, cache_frames=8)
        self._predictor_spec = predictor
        self._predictor = None
        self._drag: _Drag | None = None
        self._syncing = False
        self._label_for: tuple | None = None  # the (id, label) the label box was last set to
        self._preview_frame: int | None = None  # the frame the preview picture shows
        self._source_reader: VideoReader | None = None
        self._build_widgets(css_w)
        self.reload_masks()
        # The controls a drawing needs sit above the image, the status line right under it (fixed
        # height), the lists beside it: at 1280x800 the image, its controls and the lists are in view together.
        super().__init__([self._header, self._nav, self._tools, self._find_box,
                          _row([self._image_column, self._list_row]), self._masks_row,
                          self._help, self.messages, self._preview_row, self.preview_image])
        self._refresh_all()
        self.set_status(self.state.message)

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self, css_w: int) -> None:
        cw, ch = self.canvas_size
        info = self.info
        head = (f"<b>{html.escape(Path(info.path).name)}</b> · {info.width}x{info.height} · "
                f"{info.frame_count} frames · {float(info.fps):.3f} fps · prompts: <code>{html.escape(str(self.path))}</code>")
        self._header = widgets.HTML(  # one line (the whole of it on hover)
            f"<div title='{html.escape(str(self.path))}' style='white-space:nowrap;overflow:hidden;"
            f"text-overflow:ellipsis'>{head}</div>", layout=widgets.Layout(width="100%"))
        self.slider = widgets.IntSlider(value=self.frame, min=0, max=info.frame_count - 1, step=1,
                                        description="frame", continuous_update=False,
                                        style={"description_width": "44px"}, layout=widgets.Layout(width="300px"))
        self.prev_button = widgets.Button(description="◀ prev", layout=widgets.Layout(width="70px"),
                                          tooltip="previous frame (← or a)")
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="70px"),
                                          tooltip="next frame (→ or d)")
        # two lines at most (a long list of prompted frames), never cut mid-word at a laptop's width
        self.frame_label = widgets.HTML(layout=widgets.Layout(flex="1 1 240px", min_height="28px"))
        self._nav = _row([self.prev_button, self.slider, self.next_button, self.frame_label])
        self.mode_buttons = widgets.ToggleButtons(options=[(v, k) for k, v in MODES.items()], value="box",
                                                  style={"button_width": "auto"})
        self.object_dropdown = widgets.Dropdown(description="object", layout=widgets.Layout(width="220px"))
        self.label_text = widgets.Text(placeholder="label", layout=widgets.Layout(width="160px"))
        self.new_object_button = widgets.Button(description="new object", tooltip="new object with this label (o)")
        self.rename_button = widgets.Button(description="rename", tooltip="give the picked object this label")
        self.delete_object_button = widgets.Button(description="delete object", icon="trash",
                                                   tooltip="remove the picked object and all its prompts (undo: z)")
        self.replace_button = widgets.Button(description="replace box", icon="exchange", disabled=True,
                                             tooltip="put the dashed box in place of the object's box on this frame (r)")
        self.undo_button = widgets.Button(description="undo", icon="undo", tooltip="z",
                                          layout=widgets.Layout(width="80px"))
        self._tools = widgets.VBox([_row([self.mode_buttons, self.replace_button, self.undo_button]), _row(
            [self.object_dropdown, self.label_text, self.new_object_button, self.rename_button,
             self.delete_object_button])])
        # wide enough for its longest option ("faces + personal text + codes"), its label short
        self.find_kinds = widgets.Dropdown(options=FIND_KINDS, value="face", description="find",
                                           style={"description_width": "36px"}, layout=widgets.Layout(width="255px"))
        self.find_button = widgets.Button(description="Find on this frame", icon="search",
                                          layout=widgets.Layout(width="160px"),
                                          tooltip="the detectors propose boxes on this frame (f)")
        self.find_every = widgets.BoundedFloatText(value=0.5, min=0.01, max=3600, step=0.5, description="every s",
                                                   style={"description_width": "50px"},
                                                   layout=widgets.Layout(width="120px"))
        self.find_video_button = widgets.Button(description="Find in whole video", icon="film",
                                                layout=widgets.Layout(width="170px"),
                                                tooltip="detect on a frame every N seconds; objects grouped")
        self.find_progress = widgets.IntProgress(value=0, min=0, max=1, description="",  # hidden, its place kept
                                                 layout=widgets.Layout(width="100px", visibility="hidden"))
        self.proposal_list = widgets.Select(options=[], rows=4, layout=widgets.Layout(width="520px", max_width="100%"))
        self.accept_button = widgets.Button(description="accept as new object", icon="check", button_style="success",
                                            layout=widgets.Layout(width="180px"),
                                            tooltip="the selected proposal becomes a new object with this box")
        self.accept_into_button = widgets.Button(description="add to picked", icon="plus", button_style="success",
                                                 layout=widgets.Layout(width="190px"),
                                                 tooltip="the selected proposal's box becomes a prompt of the picked object")
        self.reject_button = widgets.Button(description="reject", icon="times", layout=widgets.Layout(width="80px"))
        self.accept_all_button = widgets.Button(description="accept all", layout=widgets.Layout(width="90px"))
        self.reject_all_button = widgets.Button(description="reject all", layout=widgets.Layout(width="90px"))
        self.show_found_button = widgets.ToggleButton(value=False, description="show found", icon="eye",
                                                      disabled=True, layout=widgets.Layout(width="120px"),
                                                      tooltip="draw (dotted) what Find found on boxes already drawn")
        self._find_box = widgets.VBox([
            _row([self.find_kinds, self.find_button, self.find_every, self.find_video_button,
                  self.find_progress]),
            _row([self.accept_button, self.accept_into_button, self.reject_button, self.accept_all_button,
                  self.reject_all_button, self.show_found_button])])
        # Output of long work started by a button (progress bars), here rather than in the log console.
        self.messages = widgets.Output(layout=widgets.Layout(max_height="160px", overflow="auto"))
        # As wide as the cell allows up to css_w, and never taller than IMAGE_MAX_VH of the window
        # (the width follows, so the aspect ratio holds and clicks stay exact).
        max_w = f"min({css_w}px, calc({IMAGE_MAX_VH}vh * {cw / ch:.4f}))"
        self.canvas = MultiCanvas(2, width=cw, height=ch,
                                  layout=widgets.Layout(width="100%", max_width=max_w, height="auto"))
        self.timeline = Canvas(width=TIMELINE_SIZE[0], height=TIMELINE_SIZE[1], layout=widgets.Layout(
            width="100%", max_width=max_w, height=f"{TIMELINE_SIZE[1]}px"))
        self.masks_toggle = widgets.Checkbox(value=True, description="show tracked masks", indent=False,
                                             layout=widgets.Layout(width="170px"))
        self.review_list = widgets.Dropdown(options=[("review spans: none", None)], value=None,
                                            layout=widgets.Layout(width="420px", max_width="100%"))
        self.masks_info = widgets.HTML()
        self._masks_row = _row([self.masks_toggle, self.review_list, self.masks_info])
        self.prompt_list = widgets.Select(options=[], rows=6, layout=widgets.Layout(width="100%"))
        self.delete_button = widgets.Button(description="delete selected", tooltip="Delete or x")
        self.proposal_list.layout = widgets.Layout(width="100%")
        # Beside the image, so that at 1280x800 the lists are in view with it (under it in a narrow cell).
        self._list_row = widgets.VBox(
            [widgets.HTML("<b>proposals</b> (Find)"), self.proposal_list,
             widgets.HTML("<b>prompts</b>"), self.prompt_list, self.delete_button],
            layout=widgets.Layout(flex="1 1 300px", min_width="260px", max_width="520px"))
        self._help = widgets.HTML("<small>" + " · ".join(f"<b>{html.escape(k)}</b> {html.escape(v)}"
                                                         for k, v in SHORTCUTS)
                                  + " — keys work while the pointer is over the image</small>")
        self._status = widgets.HTML(layout=widgets.Layout(height=STATUS_HEIGHT, overflow="hidden", width="100%",
                                                          max_width=max_w))
        self._image_column = widgets.VBox([self.canvas, self.timeline, self._status],
                                          layout=widgets.Layout(flex="1 1 480px", max_width=max_w))
        self.preview_button = widgets.Button(description="preview this frame (SAM 2)", icon="eye",
                                             layout=widgets.Layout(width="240px"),
                                             disabled=self._predictor_spec is None,
                                             tooltip="run SAM 2 on this frame alone with its prompts (v)")
        self._preview_row = _row([self.preview_button])
        # A PNG in an Image widget (not an Output area): it shows the same in a browser, under
        # papermill and in tests, where nothing captures display() calls.
        self.preview_image = widgets.Image(format="png", layout=widgets.Layout(
            display="none", width=f"{max(css_w, 480)}px", max_width="100%"))

        # Stable class names for the browser test (and for styling); JupyterLab's own may change.
        for widget, name in ((self._header, "header"), (self.canvas, "canvas"), (self.slider, "slider"), (self.prev_button, "prev"),
                             (self.next_button, "next"), (self.frame_label, "frame-info"),
                             (self.mode_buttons, "mode"), (self.object_dropdown, "object"),
                             (self.label_text, "label"), (self.new_object_button, "new-object"),
                             (self.rename_button, "rename"), (self.delete_object_button, "delete-object"),
                             (self.prompt_list, "prompt-list"),
                             (self.delete_button, "delete"), (self.undo_button, "undo"),
                             (self._status, "status"), (self.preview_button, "preview-button"),
                             (self.preview_image, "preview"), (self.find_kinds, "find-kinds"),
                             (self.find_button, "find"), (self.find_every, "find-every"),
                             (self.find_video_button, "find-video"), (self.find_progress, "find-progress"),
                             (self.proposal_list, "proposals"), (self.accept_button, "accept"),
                             (self.reject_button, "reject"), (self.accept_all_button, "accept-all"),
                             (self.timeline, "timeline"), (self.masks_toggle, "masks-toggle"),
                             (self.review_list, "review"), (self.masks_info, "masks-info"),
                             (self.reject_all_button, "reject-all"), (self.messages, "messages"),
                             (self.replace_button, "replace"), (self.accept_into_button, "accept-into"),
                             (self.show_found_button, "show-found")):
            widget.add_class(f"vidmask-{name}")

        self.slider.observe(lambda ch_: self._on_ui(lambda: self.set_frame(ch_["new"])), names="value")
        self.prev_button.on_click(lambda _: self._on_ui(lambda: self.step_frame(-1)))
        self.next_button.on_click(lambda _: self._on_ui(lambda: self.step_frame(1)))
        self.mode_buttons.observe(lambda ch_: self._on_ui(lambda: self.set_mode(ch_["new"])), names="value")
        self.object_dropdown.observe(lambda ch_: self._on_ui(lambda: self.select_object(ch_["new"])), names="value")
        self.new_object_button.on_click(lambda _: self._on_ui(lambda: self.new_object(self.label_text.value)))
        self.rename_button.on_click(lambda _: self._on_ui(lambda: self.rename_object(self.obj_id, self.label_text.value)))
        self.delete_object_button.on_click(lambda _: self._on_ui(self.delete_object))
        self.prompt_list.observe(lambda ch_: self._on_ui(lambda: self.select_prompt(ch_["new"])), names="value")
        self.delete_button.on_click(lambda _: self._on_ui(lambda: self.delete()))
        self.undo_button.on_click(lambda _: self._on_ui(self.undo))
        self.preview_button.on_click(lambda _: self._on_ui(lambda: self.preview(show=True)))
        self.find_button.on_click(lambda _: self._on_ui(lambda: self.find(self.find_kinds.value)))
        self.find_video_button.on_click(lambda _: self._on_ui(
            lambda: self.find_video(self.find_kinds.value, self.find_every.value)))
        self.proposal_list.observe(lambda ch_: self._on_ui(lambda: self.select_proposal(ch_["new"])), names="value")
        self.accept_button.on_click(lambda _: self._on_ui(lambda: self.accept()))
        self.accept_into_button.on_click(lambda _: self._on_ui(lambda: self.accept_into_picked()))
        self.replace_button.on_click(lambda _: self._on_ui(self.replace_box))
        self.show_found_button.observe(lambda ch_: self._on_ui(lambda: self.set_show_matched(ch_["new"])),
                                       names="value")
        self.reject_button.on_click(lambda _: self._on_ui(lambda: self.reject()))
        self.accept_all_button.on_click(lambda _: self._on_ui(self.accept_all))
        self.reject_all_button.on_click(lambda _: self._on_ui(self.reject_all))
        self.masks_toggle.observe(lambda ch_: self._on_ui(lambda: self.set_show_masks(ch_["new"])), names="value")
        self.review_list.observe(lambda ch_: self._on_ui(lambda: self.goto_review(ch_["new"])), names="value")
        self.timeline.on_mouse_down(lambda x, y: self._on_ui(lambda: self.set_frame(self.timeline_frame(x))))
        # The browser's own mouse and key events (with their button and modifier flags), not
        # ipycanvas's (which carry neither); moves are throttled on their own so no press or release
        # is ever dropped. The default actions (context menu, page scroll on arrows) are prevented.
        self.dom_events = Event(source=self.canvas, watched_events=["mousedown", "mouseup", "mouseleave",
                                                                   "contextmenu", "keydown"],
                                prevent_default_action=True, ignore_modifier_key_events=True)
        self.dom_events.on_dom_event(lambda e: self._on_ui(lambda: self.on_dom_event(e),
                                                           capture=e.get("type") == "keydown"))
        self.move_events = Event(source=self.canvas, watched_events=["mousemove"], wait=20,
                                 throttle_or_debounce="throttle")
        self.move_events.on_dom_event(lambda e: self._on_ui(lambda: self.on_dom_event(e), capture=False))
        self.canvas.on_client_ready(lambda: self._on_ui(self._draw_frame, capture=False))

    def _on_ui(self, action: Callable[[], object], capture: bool = True) -> None:
        """Run a UI callback. Errors show in the status line (a ``VidmaskError`` as its one line, any
        other error as its type and message with the traceback under it) instead of JupyterLab's log
        console; with ``capture``, what the action prints (progress bars) shows in ``messages``.
        Mouse moves skip the capture: entering an Output area sends messages to the browser."""
        if self._syncing:
            return
        with self.messages if capture else contextlib.nullcontext():
            try:
                action()
            except VidmaskError as exc:
                self.set_status(str(exc), error=True)
            except Exception as exc:  # noqa: BLE001 - shown in the widget, not lost in the log console
                self.set_status(f"{type(exc).__name__}: {exc} (traceback below the image)", error=True)
                traceback.print_exc(file=sys.stdout)

    @contextlib.contextmanager
    def _busy(self, doing: str):
        """Status ``doing ...`` while it runs; if it fails, the status says so (then the error goes on)."""
        self.set_status(f"{doing} ...")
        try:
            yield
        except BaseException as exc:
            self.set_status(f"{doing} failed: {exc}", error=True)
            raise

    def set_status(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "#333"
        self._status.value = (f"<div title='{html.escape(text)}' style='color:{color};line-height:1.5em;"
                              f"overflow:hidden;max-height:{STATUS_HEIGHT}'>{html.escape(text)}</div>")

    @property
    def status(self) -> str:
        """The status line's text (for tests and logs)."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self._status.value))

    # ------------------------------------------------------------------ coordinates
    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Canvas pixels -> source pixels, clamped to the frame."""
        sx, sy = self.scale
        return (min(max(x * sx, 0.0), float(self.info.width)), min(max(y * sy, 0.0), float(self.info.height)))

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Source pixels -> canvas pixels."""
        sx, sy = self.scale
        return x / sx, y / sy

    # ------------------------------------------------------------------ edits (on ``state``, then shown)
    def _edit(self, operation: Callable, *args, redraw: bool = False, **kwargs):
        """Run one of ``state``'s operations, then show the result: the controls, the prompts drawn
        (the whole frame when it changed, or with ``redraw``), the timeline and the status line.
        Shown even when it fails (a failed save has taken the edit back); the error goes on."""
        self.state.message = ""
        shown = self.state.frame
        try:
            return operation(*args, **kwargs)
        finally:
            if redraw or self.state.frame != shown:
                self._draw_frame()
            else:
                self._sync_widgets()
                self._draw_overlay()
                self._draw_timeline()
            if self.state.message:
                self.set_status(self.state.message)

    def set_frame(self, frame: int) -> None:
        self._drag = None
        self._edit(self.state.set_frame, frame, redraw=True)
        self._hide_stale_preview()

    def step_frame(self, step: int = 1) -> None:
        self._drag = None
        self._edit(self.state.step_frame, step, redraw=True)
        self._hide_stale_preview()

    def _hide_stale_preview(self) -> None:
        """The preview picture shows one frame: it goes when another frame is shown."""
        if self._preview_frame is not None and self._preview_frame != self.frame:
            self.preview_image.layout.display = "none"
            self._preview_frame = None

    def set_mode(self, mode: str) -> None:
        self._edit(self.state.set_mode, mode)  # the mode is written on the image

    def select_object(self, obj_id: int | None) -> None:
        self._edit(self.state.select_object, obj_id)

    def new_object(self, label: str | None = None) -> TrackedObject:
        """Add an object and pick it; an untouched placeholder is reused (``EditState.new_object``). Saved."""
        return self._edit(self.state.new_object, label)

    def rename_object(self, obj_id: int, label: str) -> TrackedObject:
        return self._edit(self.state.rename_object, obj_id, label)

    def delete_object(self, obj_id: int | None = None) -> None:
        """Remove an object (default: the picked one) and all its prompts. Saved; undo brings it back."""
        self._edit(self.state.delete_object, obj_id)

    def add_box(self, x0: float, y0: float, x1: float, y1: float, frame: int | None = None,
                obj_id: int | None = None) -> FramePrompt:
        """Add a box in source pixels (one per object and frame: it replaces the old one). Saved."""
        return self._edit(self.state.add_box, x0, y0, x1, y1, frame=frame, obj_id=obj_id)

    def drag_box(self, x0: float, y0: float, x1: float, y1: float, replace: bool = False) -> FramePrompt | None:
        """What a drag in box mode does (source pixels; ``EditState.drag_box``): a slip changes
        nothing, a drag over the picked object's box waits for ``replace_box``."""
        return self._edit(self.state.drag_box, x0, y0, x1, y1, replace=replace)

    def replace_box(self) -> FramePrompt:
        """Put the dashed box in place of the picked object's box on its frame. Saved; undo: z."""
        return self._edit(self.state.replace_box)

    def add_point(self, x: float, y: float, positive: bool = True, frame: int | None = None,
                  obj_id: int | None = None) -> FramePrompt:
        """Add a positive (on the object) or negative (not the object) point in source pixels. Saved."""
        return self._edit(self.state.add_point, x, y, positive=positive, frame=frame, obj_id=obj_id)

    def delete(self, prompt_index: int | None = None) -> FramePrompt:
        """Delete a prompt by its index in ``prompts.prompts`` (the list's order); the selected one if None."""
        return self._edit(self.state.delete, prompt_index)

    def select_prompt(self, prompt_index: int | None) -> None:
        """Select a prompt (highlighted, and the target of delete); shows its frame and object."""
        self._edit(self.state.select_prompt, prompt_index)

    def undo(self) -> bool:
        """Undo the last edit (boxes, points, deletions, objects, accepts). Saved. False if nothing to undo."""
        return self._edit(self.state.undo)

    def save(self) -> Path:
        """Write ``prompts.json`` atomically (every edit already does)."""
        return self.state.save()

    def prompts_on_frame(self, frame: int | None = None) -> list[FramePrompt]:
        return self.state.prompts_on_frame(frame)

    # ------------------------------------------------------------------ tracked masks and review spans
    def reload_masks(self) -> bool:
        """(Re)read ``masks.json`` if it changed since last read; True if masks are there to draw.

        Checked before every frame is drawn (one ``stat``), so masks from a new run of 03 show up.
        Masks of another video, or a file that cannot be read, are not drawn; ``masks_note`` says why.
        """
        try:
            st = self.masks_path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._masks_stamp and (stamp is not None or self.masks_note):
            return self.mask_store is not None
        self._masks_stamp = stamp
        # A review table given (04's spans, the audit's leaks) holds without masks too.
        self.mask_store = None
        self.review_rows = list(self._review_given) if self._review_given is not None else []
        if stamp is None:
            self.masks_note = "no tracked masks yet (masks.json appears after 03)"
        else:
            try:
                store = MaskStore.load(self.masks_path)
                store.check_video(self.info)
            except (VidmaskError, KeyError, TypeError, ValueError) as exc:
                self.masks_note = f"tracked masks not shown: {exc}"
            else:
                from vidmask_nb.review.qa import review_frames

                self.mask_store = store
                table = self._review_given if self._review_given is not None else review_frames(store)
                self.review_rows = list(table)
                self.masks_note = ""
        self._sync_masks_widgets()
        return self.mask_store is not None

    def set_show_masks(self, show: bool) -> None:
        """Draw the tracked masks over the frame, or not."""
        self.show_masks = bool(show)
        self._sync_widgets()
        self._draw_frame()

    def goto_review(self, index: int | None) -> None:
        """Show review span ``index`` (of ``review_rows``): the frame it names (``ReviewRow.at``: its worst,
        else its first), its object picked."""
        if index is None:
            return
        index = int(index)
        if not 0 <= index < len(self.review_rows):
            raise VidmaskError(f"there is no review span {index}; there are {len(self.review_rows)}")
        row = self.review_rows[index]
        if any(o.id == row.obj_id for o in self.prompts.objects):
            self.obj_id = row.obj_id
        self.set_frame(row.at)
        self.set_status(f"review: {self._describe_review(row)} · {row.detail}")

    def masks_on_frame(self, frame: int | None = None) -> dict[int, np.ndarray]:
        """{object id: HxW bool} tracked on ``frame`` (default: the one shown); empty without masks."""
        if self.mask_store is None:
            return {}
        return self.mask_store[self.frame if frame is None else int(frame)].masks()

    def timeline_frame(self, x: float) -> int:
        """The frame under canvas pixel ``x`` of the timeline strip."""
        n = self.info.frame_count
        return min(max(int(x * n / TIMELINE_SIZE[0]), 0), n - 1)

    @staticmethod
    def _describe_review(row) -> str:
        frames = f"frame {row.first}" if row.first == row.last else f"frames {row.first}-{row.last}"
        return f"{frames} · {row.obj_id}: {row.label} · {row.reason}"

    def _sync_masks_widgets(self) -> None:
        self._syncing = True
        try:
            self.review_list.options = [(f"review spans: {len(self.review_rows) or 'none'}", None)] + [
                (self._describe_review(r), i) for i, r in enumerate(self.review_rows)]
            self.review_list.value = None
        finally:
            self._syncing = False

    def _tinted(self, rgb: np.ndarray) -> np.ndarray:
        """The frame with each tracked mask tinted in its object's colour (``MASK_ALPHA``)."""
        import cv2

        from vidmask_nb.review.timeline import labels_and_colors

        masks = self.masks_on_frame()
        if not masks:
            return rgb
        _, colors = labels_and_colors(self.mask_store)
        cw, ch = self.canvas_size
        out = rgb.astype(np.float32)
        for obj_id, mask in sorted(masks.items()):
            if mask.shape != (ch, cw):
                mask = cv2.resize(mask.astype(np.uint8) * 255, (cw, ch), interpolation=cv2.INTER_AREA) >= 128
            if mask.any():
                out[mask] = (1 - MASK_ALPHA) * out[mask] + MASK_ALPHA * np.array(colors[obj_id], np.float32)
        return np.rint(out).astype(np.uint8)

    def _draw_timeline(self) -> None:
        """The strip: review spans (orange), prompted frames (ticks in the object's colour), this frame."""
        tl = self.timeline
        tw, th = TIMELINE_SIZE
        per_frame = tw / self.info.frame_count
        with hold_canvas():
            tl.clear()
            tl.fill_style = "rgb(225,225,225)"
            tl.fill_rect(0, 0, tw, th)
            tl.fill_style = REVIEW_COLOR
            for r in self.review_rows:
                tl.fill_rect(r.first * per_frame, 0, max((r.last - r.first + 1) * per_frame, 2), th)
            for p in self.prompts.prompts:
                tl.fill_style = "rgb({},{},{})".format(*self.prompts.object(p.obj_id).color)
                tl.fill_rect(p.frame * per_frame, th * 0.25, max(per_frame, 3), th * 0.75)
            tl.fill_style = "rgb(0,0,0)"
            tl.fill_rect(self.frame * per_frame, 0, max(per_frame, 2), th)

    # ------------------------------------------------------------------ mouse and keys
    def on_dom_event(self, event: dict) -> FramePrompt | None:
        """A browser event from ``ipyevents`` (mousedown/move/up/leave with ``relativeX/Y`` in CSS
        pixels, ``button``, ``shiftKey``; keydown with ``key``)."""
        kind = event.get("type")
        if kind == "keydown":
            self.on_key(event.get("key", ""), bool(event.get("shiftKey")), bool(event.get("ctrlKey")),
                        bool(event.get("metaKey")))
            return None
        if kind not in ("mousedown", "mousemove", "mouseup", "mouseleave"):
            return None  # contextmenu: only its default (the browser's menu) matters, and it is prevented
        cw, ch = self.canvas_size
        if event.get("boundingRectWidth"):  # the size it is shown at now (the window may have changed)
            self.css_scale = float(event["boundingRectWidth"]) / cw
        x = float(event.get("relativeX", 0)) * cw / (float(event.get("boundingRectWidth") or 0) or cw)
        y = float(event.get("relativeY", 0)) * ch / (float(event.get("boundingRectHeight") or 0) or ch)
        shift, button = bool(event.get("shiftKey")), int(event.get("button") or 0)
        if kind == "mousedown":
            return self.on_mouse_down(x, y, shift=shift, button=button)
        if kind == "mousemove":
            return self.on_mouse_move(x, y)
        if kind == "mouseup":
            return self.on_mouse_up(x, y, shift=shift, button=button)
        return self.on_mouse_out(x, y)

    def on_mouse_down(self, x: float, y: float, shift: bool = False, button: int = 0) -> None:
        """Mouse pressed at canvas pixel (x, y); with Shift or the right button, a negative point."""
        right = button == RIGHT_BUTTON
        self._drag = _Drag(x, y, x, y, negative=bool(shift) or right, right=right)

    def on_mouse_move(self, x: float, y: float, shift: bool | None = None) -> None:
        if self._drag is None:
            return
        self._drag = replace(self._drag, x1=x, y1=y)
        if self.mode == "box":
            self._draw_overlay()

    def on_mouse_up(self, x: float, y: float, shift: bool = False, button: int = 0) -> FramePrompt | None:
        """Mouse released: a drag makes a box (box mode), a click a point, negative when pressed or
        released with Shift, pressed with the right button, or in the "- point" mode. Returns the
        new prompt."""
        drag = self._drag
        if drag is None:
            return None
        self._drag = None
        negative = drag.negative or bool(shift) or button == RIGHT_BUTTON
        moved = max(abs(x - drag.x0), abs(y - drag.y0)) * self.css_scale
        if moved < CLICK_CSS_PX:
            hit = self.proposal_at(x, y)
            if hit is not None:  # a click on a proposal picks it (for accept / reject), not a point
                self.select_proposal(hit)
                return None
        if self.mode == "box" and moved >= CLICK_CSS_PX and not drag.right:
            (sx0, sy0), (sx1, sy1) = self.to_source(drag.x0, drag.y0), self.to_source(x, y)
            return self.drag_box(sx0, sy0, sx1, sy1)  # a slip, a box, or one waiting for "replace box"
        px, py = self.to_source(drag.x0, drag.y0) if moved >= CLICK_CSS_PX else self.to_source(x, y)
        positive = self.mode != "negative" and not negative
        return self.add_point(px, py, positive=positive)

    def on_mouse_out(self, x: float, y: float) -> FramePrompt | None:
        """The pointer left the canvas mid-drag: finish the drag at the edge."""
        if self._drag is None:
            return None
        cw, ch = self.canvas_size
        return self.on_mouse_up(min(max(x, 0.0), cw), min(max(y, 0.0), ch))

    def on_key(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False) -> None:
        """A key pressed while the canvas has focus (see ``SHORTCUTS``)."""
        k = key.lower() if len(key) == 1 else key
        if k in ("ArrowRight", "d", "ArrowLeft", "a"):
            step = (10 if shift else 1) * (1 if k in ("ArrowRight", "d") else -1)
            self.step_frame(step)
        elif k == "b":
            self.set_mode("box")
        elif k == "p":
            self.set_mode("positive")
        elif k == "n":
            self.set_mode("negative")
        elif k == "o":
            self.new_object(self.label_text.value if not any(o.label == self.label_text.value.strip()
                                                             for o in self.prompts.objects) else "")
        elif k.isdigit() and k != "0":
            n = int(k)
            if n <= len(self.prompts.objects):
                self.select_object(self.prompts.objects[n - 1].id)
        elif k == "z":
            self.undo()
        elif k == "r":
            self.replace_box()
        elif k in ("Delete", "Backspace", "x"):
            self.delete()
        elif k == "v":
            self.preview(show=True)
        elif k == "f":
            self.find(self.find_kinds.value)
        elif k == "m":
            self.set_show_masks(not self.show_masks)
        elif key == "Escape":
            self._drag = None
            self._edit(self.state.drop_pending)

    # ------------------------------------------------------------------ find: detector proposals
    def find(self, kinds="face", frame: int | None = None) -> list[Proposal]:
        """The detectors (``"faces"``, ``"text"``, ``"faces,text"``) propose boxes on ``frame`` (default:
        the current one). They replace that frame's pending proposals of those kinds; a detection on
        a box prompt already there is left out. Nothing is saved until one is accepted."""
        kinds = parse_kinds(kinds)
        frame = self.frame if frame is None else int(frame)
        frame = self.state.check_frame(frame)
        with self._busy(f"finding {' and '.join(kinds)} on frame {frame}"):
            dets = self._detect_one(frame, kinds)
        masks = self.masks_on_frame(frame) if self.reload_masks() else None
        return self._edit(self.state.propose_on_frame, frame, kinds, dets, masks, redraw=True)

    def find_video(self, kinds="face", every: float = 0.5) -> list[Proposal]:
        """Detect on a frame every ``every`` seconds (and on prompted frames) through the whole video.

        Detections are grouped into objects as ``vidmask-nb run --find`` does (``find.find_objects``):
        each object's first detection, and each time it is found again after leaving the picture, is
        one proposal labelled with its group (``face 2``); accepted proposals of a group join one
        object. Replaces all pending proposals. The progress bar beside the button counts frames.
        """
        from vidmask_nb.detect.find import find_objects
        from vidmask_nb.detect.floor import detect_video

        kinds = parse_kinds(kinds)
        if not every or every <= 0:
            raise VidmaskError(f"find every must be a positive number of seconds, not {every}")
        step = max(1, int(round(float(self.info.fps) * every)))
        n = self.info.frame_count
        bar = self.find_progress
        bar.max, bar.value, bar.description = len(set(range(0, n, step)) | {n - 1}), 0, "find"
        bar.layout.visibility = "visible"
        dets: dict[int, Detections] = {}
        with self._busy(f"finding {' and '.join(kinds)} on every {step}th frame of {n}"):
            for index, frame_dets in detect_video(self.info.path, kinds, every=step, info=self.info,
                                                  desc=f"find {','.join(kinds)}", words=self.pii_words):
                dets[index] = frame_dets
                bar.value += 1

        # what belongs to an object already there (its box prompt or tracked mask on that frame, or its
        # detection followed from the frame searched before) is not proposed as a new object
        self.state.matched, carried = [], {}
        has_masks = self.reload_masks()

        def detections_at(frame: int) -> Detections:  # frames in order; a prompted frame between the samples
            if frame not in dets:
                dets[frame] = self._detect_one(frame, kinds)
            return self.state.claim_known(frame, dets[frame], self.masks_on_frame(frame) if has_masks else None,
                                          carried)

        _, log = find_objects(self.prompts, self.info, detections_at, every)
        self._edit(self.state.propose_objects, log, self.state.matched)
        bar.description = "done"
        groups = len({p.group for p in self.proposals})
        boxed = self.state.matched_line()
        self.set_status(f"{len(self.proposals)} proposal(s) for {groups} new object(s) on {len(dets)} frames searched "
                        f"({', '.join(kinds)}, every {every:g} s): pick one in the list, then accept or reject"
                        + (f"; {boxed}" if boxed else ""))
        return list(self.proposals)

    def select_proposal(self, index: int | None) -> None:
        """Pick a proposal (for accept / reject) and show its frame."""
        self._edit(self.state.select_proposal, index)

    def proposal_at(self, x: float, y: float) -> int | None:
        """The index of the (smallest) proposal on this frame under canvas pixel (x, y), if any."""
        return self.state.proposal_at(*self.to_source(x, y))

    def accept(self, index: int | None = None, into: int | None = None) -> FramePrompt:
        """Accept a proposal (default: the selected one) as a new object's box prompt, or ``into`` an
        object (``EditState.accept``). Saved; undo takes it back and returns the proposal."""
        return self._edit(self.state.accept, index, into=into)

    def accept_into_picked(self, index: int | None = None) -> FramePrompt:
        """Accept a proposal (default: the selected one) into the picked object. Saved."""
        return self._edit(self.state.accept_into_picked, index)

    def set_show_matched(self, show: bool) -> None:
        """Draw (dotted) the last Find's detections that were already boxed, or not."""
        self._edit(self.state.set_show_matched, show)

    def accept_all(self) -> list[FramePrompt]:
        """Accept every pending proposal (one undo step)."""
        return self._edit(self.state.accept_all)

    def reject(self, index: int | None = None) -> Proposal:
        """Drop a proposal (default: the selected one); nothing is saved."""
        return self._edit(self.state.reject, index)

    def reject_all(self) -> int:
        return self._edit(self.state.reject_all)

    def _detect_one(self, frame: int, kinds: tuple[str, ...]) -> Detections:
        from vidmask_nb.detect.detectors import detect_frame

        return detect_frame(self._source_rgb(frame), kinds, words=self.pii_words)

    def _source_rgb(self, frame: int) -> np.ndarray:
        """Frame ``frame`` at the source's own size (the canvas may show it downscaled)."""
        if self._reader.size is None:
            return self._reader[frame]
        if self._source_reader is None:
            self._source_reader = VideoReader(self.info.path, info=self.info, cache_frames=2)
        return self._source_reader[frame]

    # ------------------------------------------------------------------ preview
    @property
    def has_model(self) -> bool:
        """True when the editor was given a model to preview with (loaded or not yet)."""
        return self._predictor is not None or self._predictor_spec is not None

    def predictor(self):
        """The SAM 2 predictor for previews, loaded on first use."""
        if self._predictor is None:
            spec = self._predictor_spec
            if spec is None:
                raise VidmaskError("no model given to preview with: create the editor with "
                                   "predictor=dict(model='tiny') (or a loaded predictor)")
            if isinstance(spec, dict) or (callable(spec) and not hasattr(spec, "init_state")):
                start = time.monotonic()
                with self._busy("loading SAM 2"):
                    if isinstance(spec, dict):
                        from vidmask_nb.track.model import load_predictor

                        self._predictor = load_predictor(**spec)
                    else:
                        self._predictor = spec()
                self.set_status(f"SAM 2 loaded in {time.monotonic() - start:.1f} s")
            else:
                self._predictor = spec
        return self._predictor

    def preview(self, frame: int | None = None, show: bool = False):
        """Run SAM 2 on ``frame`` (default: the current one) alone; returns the matplotlib figure.

        With ``show``, the figure (as a PNG) replaces the widget's preview picture.
        """
        from vidmask_nb.notebook.preview import preview_figure

        frame = self.frame if frame is None else int(frame)
        if not self.prompts_on_frame(frame):
            raise VidmaskError(f"frame {frame} has no prompts to preview: draw a box first")
        predictor = self.predictor()
        with self._busy(f"running SAM 2 on frame {frame}"):
            fig = preview_figure(predictor, self.info, self.prompts, frame)
        if show:
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
            self.preview_image.value = png.getvalue()
            self.preview_image.layout.display = None
            self._preview_frame = frame
        self.set_status(f"preview of frame {frame} done")
        return fig

    # ------------------------------------------------------------------ drawing
    def _sync_widgets(self) -> None:
        """Make the controls show the editor's state (without re-triggering their callbacks)."""
        self._syncing = True
        try:
            self.slider.value = self.frame
            self.mode_buttons.value = self.mode
            self.object_dropdown.options = [(f"{o.id}: {o.label}", o.id) for o in self.prompts.objects]
            self.object_dropdown.value = self.obj_id
            picked = self.prompts.object(self.obj_id)
            if self._label_for != (picked.id, picked.label):  # a new pick: its label (typing in between stays)
                self.label_text.value = picked.label
                self._label_for = (picked.id, picked.label)
            self.accept_into_button.description = f"add to {self._short(picked.label)}"
            self.accept_into_button.tooltip = (f"the selected proposal's box becomes a prompt of "
                                               f"{picked.id}: {picked.label}")
            self.replace_button.disabled = self.state.pending_box is None
            self.show_found_button.value = self.state.show_matched
            self.show_found_button.disabled = not self.state.matched
            self.prompt_list.options = [(self.state.describe_prompt(i), i) for i in range(len(self.prompts.prompts))]
            self.prompt_list.value = self.selected
            n_here = len(self.prompts_on_frame())
            frames = self.prompts.prompt_frames
            listed = (", ".join(map(str, frames[:8])) + (f", … ({len(frames)})" if len(frames) > 8 else "")
                      if frames else "none")
            text = (f"frame {self.frame} · {self.info.seconds(self.frame):.3f} s · "
                    f"{n_here} prompt(s) here · prompted frames: {listed}")
            self.frame_label.value = (f"<div title='{html.escape(text)}' style='line-height:1.25;overflow:hidden;"
                                      f"display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical'>"
                                      f"{html.escape(text)}</div>")
            self.masks_toggle.value = self.show_masks
            self.masks_toggle.disabled = self.mask_store is None
            spans = [r for r in self.review_rows if r.first <= self.frame <= r.last]
            self.masks_info.value = html.escape(
                self.masks_note or (f"tracked masks of {len(self.mask_store.objects)} object(s)"
                                    + (f" · in review span: {'; '.join(self._describe_review(r) for r in spans)}"
                                       if spans else "")))
            self.preview_button.disabled = self._predictor_spec is None
            self.proposal_list.options = [(f"#{i} {p.describe()}", i) for i, p in enumerate(self.proposals)]
            self.proposal_list.value = self.selected_proposal
            self.accept_button.disabled = self.reject_button.disabled = self.selected_proposal is None
            self.accept_into_button.disabled = self.selected_proposal is None
            self.accept_all_button.disabled = self.reject_all_button.disabled = not self.proposals
        finally:
            self._syncing = False

    def _refresh_all(self) -> None:
        self._sync_widgets()
        self._draw_frame()

    def frame_image(self) -> np.ndarray:
        """The picture drawn under the prompts: the frame (canvas size), tracked masks tinted when shown."""
        rgb = self._reader[self.frame]
        if self.show_masks and self.reload_masks():
            rgb = self._tinted(rgb)
        return np.ascontiguousarray(rgb)

    def _draw_frame(self) -> None:
        rgb = self.frame_image()
        self._sync_widgets()
        self._draw_timeline()
        with hold_canvas():
            self.canvas[0].clear()
            self.canvas[0].put_image_data(rgb, 0, 0)
            self._draw_prompts()

    def _draw_overlay(self) -> None:
        with hold_canvas():
            self._draw_prompts()

    def _draw_prompts(self) -> None:
        layer = self.canvas[1]
        layer.clear()
        self.plates = [self._badge_rect()]  # label plates (x, y, w, h), the corner's badge first: none covers another
        cw, ch = self.canvas_size
        thin = max(1.5, max(cw, ch) / 400)
        font = max(10, round(ch / 28))
        layer.font = f"{font}px sans-serif"
        for i, p in enumerate(self.prompts.prompts):
            if p.frame != self.frame:
                continue
            obj = self.prompts.object(p.obj_id)
            color = "rgb({},{},{})".format(*obj.color)
            wide = 2.5 * thin if i == self.selected else thin
            if p.box is not None:
                (x0, y0), (x1, y1) = self.to_canvas(*p.box[:2]), self.to_canvas(*p.box[2:])
                layer.line_width = wide + 2 * thin  # a dark (or light) halo: the box shows over its own tint
                layer.stroke_style = halo_color(obj.color)
                layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
                layer.line_width = wide
                layer.stroke_style = color
                layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
                self._plate(layer, obj.label, x0, y0, font, obj.color)
            for (x, y), lab in zip(p.points, p.point_labels):
                cx, cy = self.to_canvas(x, y)
                r = 2.5 * thin + (thin if i == self.selected else 0)
                layer.fill_style = "rgb(40,220,40)" if lab else "rgb(230,30,30)"
                layer.fill_circle(cx, cy, r)
                layer.line_width = wide / 2
                layer.stroke_style = color
                layer.stroke_circle(cx, cy, r)
        for i, p in enumerate(self.proposals):
            if p.frame != self.frame:
                continue
            (x0, y0), (x1, y1) = self.to_canvas(*p.box[:2]), self.to_canvas(*p.box[2:])
            picked = i == self.selected_proposal
            layer.line_width = 2 * thin if picked else thin
            layer.stroke_style = PROPOSAL_COLOR
            layer.set_line_dash([6, 4])
            layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
            layer.set_line_dash([])
            if picked:
                layer.fill_style = "rgba(0,229,255,0.25)"
                layer.fill_rect(x0, y0, x1 - x0, y1 - y0)
            self._plate(layer, f"{'> ' if picked else ''}{p.group or p.kind} {p.score:.2f}?", x0, y0, font,
                        (0, 229, 255))
        if self.state.show_matched:  # what Find found on boxes already drawn: dotted, named by their object
            for p in self.state.matched:
                if p.frame != self.frame or not any(o.id == p.boxed_by for o in self.prompts.objects):
                    continue
                (x0, y0), (x1, y1) = self.to_canvas(*p.box[:2]), self.to_canvas(*p.box[2:])
                layer.line_width = thin
                layer.stroke_style = PROPOSAL_COLOR
                layer.set_line_dash([2, 3])
                layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
                layer.set_line_dash([])
                self._plate(layer, f"{p.kind} {p.score:.2f}: boxed as {self.prompts.object(p.boxed_by).label}",
                            x0, y1 + font + 4, font, (0, 229, 255))
        pending = self.state.pending_box
        if pending is not None and pending.frame == self.frame:  # a drag waiting for "replace box"
            obj = self.prompts.object(pending.obj_id)
            (x0, y0), (x1, y1) = self.to_canvas(*pending.box[:2]), self.to_canvas(*pending.box[2:])
            layer.line_width = 2 * thin
            layer.stroke_style = "rgb({},{},{})".format(*obj.color)
            layer.set_line_dash([8, 5])
            layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
            layer.set_line_dash([])
            self._plate(layer, f"replace {obj.label}'s box? (r)", x0, y0, font, obj.color)
        self._draw_mode_badge(layer)
        if self._drag is not None and self.mode == "box" and not self._drag.right:
            d = self._drag
            color = "rgb({},{},{})".format(*self.prompts.object(self.obj_id).color)
            layer.line_width = thin
            layer.stroke_style = color
            layer.set_line_dash([6, 4])
            layer.stroke_rect(min(d.x0, d.x1), min(d.y0, d.y1), abs(d.x1 - d.x0), abs(d.y1 - d.y0))
            layer.set_line_dash([])

    def _plate(self, layer, text: str, x: float, y: float, font: int, color) -> None:
        """``text`` on a plate of ``color`` just above (x, y) (inside the image at its top edge), in
        black or white by the plate's brightness: readable over any tint or picture. A plate that would
        cover one drawn before moves down clear of it (``place_plate``): labels never stack."""
        pad = max(1.0, font * 0.15)
        w, h = 0.6 * font * len(text) + 2 * pad, font + 2 * pad
        cw, ch = self.canvas_size
        x = min(max(x, 0.0), max(cw - w, 0.0))
        top = place_plate(self.plates, x, max(y - h, 0.0), w, h, ch)
        self.plates.append((x, top, w, h))
        r, g, b = color
        layer.fill_style = f"rgba({r},{g},{b},0.9)"
        layer.fill_rect(x, top, w, h)
        layer.fill_style = "rgb(0,0,0)" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "rgb(255,255,255)"
        layer.text_baseline = "top"
        layer.fill_text(text, x + pad, top + pad)
        layer.text_baseline = "alphabetic"

    @staticmethod
    def _short(label: str, n: int = 14) -> str:
        return label if len(label) <= n else label[:n - 1] + "…"

    def mode_badge(self) -> str:
        """What the image's corner says: the mode and the object a click adds to."""
        return self.state.mode_badge()

    def _badge_rect(self) -> tuple[float, float, float, float]:
        """Where the corner's mode badge is drawn (x, y, w, h)."""
        font = max(10, round(self.canvas_size[1] / 28))
        pad = font * 0.3
        return 0.0, 0.0, 0.62 * font * len(self.mode_badge()) + 2 * pad + font, font + 2 * pad

    def _draw_mode_badge(self, layer) -> None:
        font = max(10, round(self.canvas_size[1] / 28))
        text = self.mode_badge()
        pad = font * 0.3
        layer.fill_style = "rgba(0,0,0,0.6)"
        layer.fill_rect(*self._badge_rect())
        layer.fill_style = "rgb({},{},{})".format(*self.prompts.object(self.obj_id).color)
        layer.fill_rect(pad, pad + font * 0.15, font * 0.7, font * 0.7)
        layer.fill_style = "rgb(255,255,255)"
        layer.text_baseline = "top"
        layer.fill_text(text, pad + font, pad)
        layer.text_baseline = "alphabetic"

    def close(self) -> None:
        reader = self.__dict__.get("_reader")  # absent if the constructor failed (another video's prompts)
        if reader is not None:
            reader.close()
        if self.__dict__.get("_source_reader") is not None:
            self._source_reader.close()
        super().close()


def open_editor(video: str | os.PathLike | VideoInfo, workdir: str | os.PathLike, frame: int | None = None,
                **kwargs) -> PromptEditor:
    """The prompt editor on ``video`` and its run folder, showing ``frame`` (tracked masks drawn
    when ``masks.json`` is there). ``kwargs`` go to ``PromptEditor``.

    Example: ``open_editor("clip.mp4", "runs/clip", frame=120)``.
    """
    return PromptEditor(video, workdir, frame=frame, **kwargs)


class ReviewFixer(LiveWidget, widgets.VBox):
    """A review table with a "fix" button per row: it opens the prompt editor (below the table) at
    the frame the row names (its worst, else its first) with its object picked and the tracked masks drawn; a second "fix" moves
    the same editor. Draw the correction there, then run 03 and 04 again.

    ``table``: a ``qa.ReviewTable`` (04's, with its settings); ``max_rows``: rows listed (the rest
    stay reachable from the editor's "review" list). ``kwargs`` go to ``PromptEditor``.
    """

    live_what = "review table with its fix buttons"

    def __init__(self, video: str | os.PathLike | VideoInfo, workdir: str | os.PathLike, table,
                 max_rows: int = 30, **kwargs):
        self.video, self.workdir, self.table, self._kwargs = video, workdir, table, kwargs
        self.rows = list(table)
        self.editor: PromptEditor | None = None
        self.buttons: list[widgets.Button] = []
        lines = []
        for i, row in enumerate(self.rows[:max_rows]):
            button = widgets.Button(description="fix", icon="pencil", layout=widgets.Layout(width="70px"),
                                    tooltip=f"open the prompt editor at frame {row.at}")
            button.on_click(lambda _, i=i: self._click(i))
            button.add_class("vidmask-fix")
            self.buttons.append(button)
            line = _row([button, widgets.HTML(
                f"{html.escape(PromptEditor._describe_review(row))} · {html.escape(row.detail)}")])
            line.add_class("vidmask-review-row")
            lines.append(line)
        more = len(self.rows) - len(lines)
        self._status = widgets.HTML(
            (f"{more} more span(s) in the editor's review list · " if more > 0 else "")
            + "fix: opens the prompt editor at that frame, with the tracked masks drawn")
        self._status.add_class("vidmask-fix-status")
        self._slot = widgets.VBox()
        super().__init__(lines + [self._status, self._slot])

    def fix(self, index: int) -> PromptEditor:
        """Open the editor (or move it) to review row ``index``; returns it."""
        if not 0 <= int(index) < len(self.rows):
            raise VidmaskError(f"there is no review row {index}; there are {len(self.rows)}")
        if self.editor is None:
            # opened at the row's frame: its first picture is that frame (a picture of another frame sent just
            # before it could be decoded after it in the page, and stay shown)
            self.editor = PromptEditor(self.video, self.workdir, review=self.table,
                                       **{"frame": self.rows[int(index)].at, **self._kwargs})
            self._slot.children = [self.editor]
        self.editor.goto_review(int(index))
        return self.editor

    def _click(self, index: int) -> None:
        try:
            self.fix(index)
            self._status.value = html.escape(f"editing at frame {self.rows[index].at}: draw the fix below, "
                                             "then run 03 and 04 again")
        except Exception as exc:  # noqa: BLE001 - shown here, not lost in the log console
            self._status.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"

    def close(self) -> None:
        if self.editor is not None:
            self.editor.close()
        super().close()


def review_fixer(video: str | os.PathLike | VideoInfo, workdir: str | os.PathLike, table=None,
                 **kwargs) -> ReviewFixer | widgets.HTML:
    """04's review table, one "fix" button per row (see ``ReviewFixer``); ``table`` defaults to
    ``qa.review_frames`` of the run folder's masks. With nothing to review, a line saying so.

    Example (notebook 04): ``review_fixer(video, workdir, qa.review_frames(store, hold=3))``.
    """
    if table is None:
        from vidmask_nb.review.qa import review_frames

        table = review_frames(MaskStore.load(RunFolder(workdir).masks_json))
    if not len(table):
        return widgets.HTML("nothing to fix: no review spans")
    return ReviewFixer(video, workdir, table, **kwargs)
