"""The one user-facing error type.

A :class:`VibenchError` is a problem with what the user asked for (an unknown
name, an impossible size, a malformed suite file, a broken plugin).  The CLI
turns it into one line on stderr and exit code 2; everything else is a bug and
keeps its traceback (shown with ``--debug``).
"""

from __future__ import annotations

import difflib

__all__ = ["VibenchError", "did_you_mean"]


class VibenchError(Exception):
    """A user error: bad name, bad size, bad file.  Exit code 2 in the CLI."""


def did_you_mean(kind: str, name: str, choices) -> VibenchError:
    """Build a :class:`VibenchError` for an unknown ``name`` listing the valid choices.

    Parameters
    ----------
    kind : str
        What was looked up (``"task"``, ``"method"``, ``"suite"``).
    name : str
        The name that was not found.
    choices : iterable of str
        The valid names.

    Returns
    -------
    VibenchError
        ``unknown method 'meanfeild'; choose from: ...; did you mean 'meanfield'?`` (the
        suggestion, by :func:`difflib.get_close_matches`, only when one is close).
    """
    choices = sorted(choices)
    listed = ", ".join(choices) if choices else "(none installed)"
    close = difflib.get_close_matches(str(name), choices, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return VibenchError(f"unknown {kind} {name!r}; choose from: {listed}{hint}")
