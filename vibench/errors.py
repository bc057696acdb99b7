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


def closest(name: str, choices) -> str | None:
    """The choice closest to ``name`` (:func:`difflib.get_close_matches`), or ``None`` when none is close.

    Namespaced names (``posteriordb:eight_schools-...``) are compared within
    their namespace and by what follows it, so a shared prefix alone never
    makes two names look alike.

    Examples
    --------
    >>> closest("meanfeild", ["meanfield", "fullrank"])
    'meanfield'
    >>> closest("posteriordb:foo", ["posteriordb:arK-arK"]) is None
    True
    """
    name = str(name)
    prefix = name.split(":", 1)[0] + ":" if ":" in name else ""
    pool = sorted(c for c in choices if str(c).startswith(prefix)) if prefix else sorted(choices)
    close = difflib.get_close_matches(name[len(prefix):], [str(c)[len(prefix):] for c in pool], n=1)
    return prefix + close[0] if close else None


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
        suggestion, by :func:`closest`, only when one is close).
    """
    choices = sorted(choices)
    listed = ", ".join(choices) if choices else "(none installed)"
    close = closest(name, choices)
    hint = f"; did you mean {close!r}?" if close else ""
    return VibenchError(f"unknown {kind} {name!r}; choose from: {listed}{hint}")
