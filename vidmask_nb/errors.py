"""The kit's one error type: a plain message saying what is wrong and what to do."""


class VidmaskError(Exception):
    """Raised for bad input or a failed stage. ``str(err)`` is meant for a person.

    The CLI prints it without a traceback and exits non-zero.
    """
