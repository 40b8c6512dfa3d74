"""The kit's one error type: a plain message saying what is wrong and what to do."""


class VidmaskError(Exception):
    """Raised for bad input or a failed stage. ``str(err)`` is meant for a person.

    The CLI prints it without a traceback and exits non-zero.
    """


def check_number(value, flag: str, integer: bool = False, minimum: float | None = None,
                 positive: bool = False) -> None:
    """Raise ``VidmaskError`` naming ``flag`` unless ``value`` is a finite number (an integer when
    ``integer``), at least ``minimum``, above 0 when ``positive``: the one check every options
    class runs on its numbers (``inf`` and ``nan`` fail here, before any work)."""
    import math
    import numbers

    kind = "a finite whole number" if integer else "a finite number"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        raise VidmaskError(f"{flag} must be {kind}, not {value!r}")
    if positive and not value > 0:
        raise VidmaskError(f"{flag} must be positive, not {value!r}")
    if minimum is not None and value < minimum:
        raise VidmaskError(f"{flag} must be {minimum:g} or more, not {value!r}")


def show_errors_as_one_line() -> None:
    """In IPython (a notebook's kernel), show a ``VidmaskError`` as ``VidmaskError: <message>``, no traceback:
    what is wrong and what to do, naming the notebook's parameter. Outside IPython, nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def one_line(shell, etype, value, tb, tb_offset=None):
        stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
        shell._showtraceback(etype, value, stb)  # an error output (papermill still stops there)
        return stb

    shell.set_custom_exc((VidmaskError,), one_line)


# A word list or span list is a few kilobytes; anything far larger is not one (a video given by mistake).
TEXT_FILE_LIMIT = 4 << 20


def check_input_file(path, flag: str, what: str = "file"):
    """``path`` as an absolute ``Path`` when it is a plain file; else ``VidmaskError`` naming ``flag`` in one
    line: missing, a folder, a FIFO or a device (never opened, so never waited on)."""
    import os
    import stat
    from pathlib import Path

    p = Path(path).expanduser()
    try:
        st = os.stat(p)
    except OSError as exc:
        raise VidmaskError(f"{flag} {path}: {'no such file' if not p.exists() else exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise VidmaskError(f"{flag} {path} is a folder; give a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise VidmaskError(f"{flag} {path} is not a plain file (a FIFO or a device); give a {what}")
    return p.resolve()


def check_text_file(path, flag: str, limit: int = TEXT_FILE_LIMIT):
    """``path`` as an absolute ``Path`` when it is a readable, small UTF-8 text file; else ``VidmaskError``
    naming ``flag``, in one line and at once: not a plain file (``check_input_file``), too large, or binary
    (a NUL byte, or not UTF-8). The one check of every word-list argument."""
    what = "text file, one word or phrase a line"
    p = check_input_file(path, flag, what)
    st = p.stat()
    if st.st_size > limit:
        raise VidmaskError(f"{flag} {path} is {st.st_size / 1e6:.1f} MB, not a word list; give a text file "
                           f"under {limit >> 20} MiB")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise VidmaskError(f"{flag} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), data.index(b"\0") + 1, "NUL byte")
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VidmaskError(f"{flag} {path} is not UTF-8 text (byte {exc.start}); give a {what}") from None
    return p


def text_file_arg(flag: str):
    """An argparse ``type=`` for a word-list flag: ``check_text_file``, its path as a string. Its error is a
    ``VidmaskError``, which the CLI prints as one line (argparse would print its usage too)."""
    return lambda value: str(check_text_file(value, flag))
