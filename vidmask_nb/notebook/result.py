"""04's result on screen: the redacted video playable in the notebook, and source | redacted at a
time the person picks.

- ``video_player(path)``: an HTML5 ``<video>`` whose bytes the kernel sends (an ipywidgets ``Video``),
  so it plays however JupyterLab was started, whatever folder its server serves; at most as wide as
  the cell and 70 % of the window's height. A file over ``EMBED_MAX_BYTES`` is linked instead (the
  server must serve its folder: start JupyterLab above the run folder).
- ``CompareView(video, redacted)``: a time slider (seconds) and the source and redacted frames side
  by side at that time (``review.compare.side_by_side``); ``CompareView.show_at(seconds)`` moves it.

Example (notebook 04)::

    display(video_player(out))
    CompareView(s.video, out, seconds=3.5)
"""
from __future__ import annotations

import html
import io
import os
from pathlib import Path

import ipywidgets as widgets

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.video import VideoInfo, probe
from vidmask_nb.notebook.live import LiveWidget
from vidmask_nb.review.compare import frame_at, side_by_side

PLAYER_MAX_WIDTH = 960  # CSS pixels; a narrower cell shrinks it
PLAYER_MIN_WIDTH = 480  # a small video is shown larger than its own size
# Bytes the kernel sends to the page for one player: a redacted clip of minutes; longer ones are linked.
EMBED_MAX_BYTES = 512 << 20


def video_player(path: str | os.PathLike, title: str | None = None, base: str | os.PathLike | None = None,
                 info: VideoInfo | None = None):
    """A player for ``path``: a widget box with ``title`` above the ``<video>`` and its size below.

    The kernel sends the file's bytes to the page (an ipywidgets ``Video``; nothing is saved in the
    notebook unless its widget state is), so it plays whichever folder JupyterLab serves. A file over
    ``EMBED_MAX_BYTES`` is linked relative to ``base`` (default: the kernel's folder) and needs a
    server whose root holds it. The file must exist.
    """
    from IPython.display import HTML

    path = Path(path).resolve()
    if not path.is_file():
        raise VidmaskError(f"{path} does not exist: there is no video to play")
    info = info or probe(path)
    width = min(max(info.width, PLAYER_MIN_WIDTH), PLAYER_MAX_WIDTH)
    head = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    about = (f"<div style='font-size:85%;color:#555'>{html.escape(str(path))} · {info.width}x{info.height} · "
             f"{info.frame_count} frames</div>")
    if path.stat().st_size <= EMBED_MAX_BYTES:
        player = widgets.Video(value=path.read_bytes(), format="mp4", autoplay=False, loop=False, controls=True,
                               width=str(width))
        player.add_class("vidmask-player")
        player.layout = widgets.Layout(max_width="100%", max_height="70vh")
        return widgets.VBox([widgets.HTML(head), player, widgets.HTML(about)])
    rel = Path(os.path.relpath(path, Path(base or os.getcwd()).resolve())).as_posix()
    src = "/".join(html.escape(part, quote=True) for part in rel.split("/"))
    return HTML(f"{head}<video class='vidmask-player' controls preload='metadata' src='{src}' "
                f"width='{width}' style='max-width:100%;max-height:70vh;height:auto;background:#000'></video>"
                f"{about}<div style='font-size:85%;color:#555'>(too large to send through the kernel: if the player "
                f"stays blank, start JupyterLab in a folder above {html.escape(str(path.parent))})</div>")


class CompareView(LiveWidget, widgets.VBox):
    """A time slider and the source | redacted frames at that time (as a PNG picture).

    ``seconds``: the time shown first (default: the middle of the video). ``max_side``: each side's
    longer side in pixels.
    """

    live_what = "source | redacted view"

    def __init__(self, video: str | os.PathLike, redacted: str | os.PathLike, seconds: float | None = None,
                 max_side: int = 640):
        self.video, self.redacted, self.max_side = Path(video), Path(redacted), max_side
        self.info = probe(video)
        end = self.info.seconds(self.info.frame_count - 1) - self.info.seconds(0)
        step = float(1 / self.info.fps) if self.info.fps else 0.04
        self.slider = widgets.FloatSlider(value=0.0, min=0.0, max=max(end, step), step=step, readout_format=".2f",
                                          description="time s", continuous_update=False,
                                          layout=widgets.Layout(width="min(640px, 100%)"))
        self.caption = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        for widget, name in ((self.slider, "compare-time"), (self.image, "compare"), (self.caption, "compare-info")):
            widget.add_class(f"vidmask-{name}")
        self.frame: int | None = None
        super().__init__([self.slider, self.caption, self.image])
        self.show_at(end / 2 if seconds is None else seconds)
        self.slider.observe(lambda ch: self._shown(ch["new"]), names="value")

    def show_at(self, seconds: float) -> int:
        """Show source | redacted at ``seconds``; returns the frame shown."""
        frame = frame_at(self.info, seconds)
        self.slider.value = min(max(float(seconds), self.slider.min), self.slider.max)
        return self._show_frame(frame)

    def _shown(self, seconds: float) -> None:
        try:
            self._show_frame(frame_at(self.info, seconds))
        except Exception as exc:  # noqa: BLE001 - shown here, not lost in the log console
            self.caption.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"

    def _show_frame(self, frame: int) -> int:
        from PIL import Image

        rgb = side_by_side(self.video, self.redacted, frame, self.max_side, info=self.info)
        png = io.BytesIO()
        Image.fromarray(rgb).save(png, format="PNG")
        self.image.value = png.getvalue()
        self.image.layout.width = f"{rgb.shape[1]}px"
        self.frame = frame
        self.caption.value = html.escape(f"frame {frame} · {self.info.seconds(frame) - self.info.seconds(0):.3f} s · "
                                         "source (left, SENSITIVE) | redacted (right)")
        return frame
