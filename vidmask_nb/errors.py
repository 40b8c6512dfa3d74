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
