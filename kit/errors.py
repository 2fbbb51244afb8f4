"""Errors a user can cause, each saying what is wrong and how to fix it."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class KitError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class ConfigError(KitError):
    """A run config that does not validate."""


class DataError(KitError):
    """Data that does not fit what a phase needs."""


class ArtifactError(KitError):
    """A phase artifact that is missing or unreadable."""


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """Return "; did you mean 'x'?" for the closest option, or "" when none is close."""
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not close:
        stripped = {o.strip().lower(): o for o in options}
        hit = stripped.get(str(word).strip().lower())
        close = [hit] if hit else []
    return f"; did you mean {close[0]!r}?" if close else ""
