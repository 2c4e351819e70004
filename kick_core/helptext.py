"""Command-line help from docstrings.

The commands' descriptions are their modules' docstrings, written in reST for the API docs
(double-backquoted literals, ``:role:`target``` references); argparse prints text as it is, so
:func:`plain` takes that markup out first.
"""

from __future__ import annotations

import re

__all__ = ["plain"]

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)  # a literal may wrap onto the next line


def plain(doc: str | None) -> str:
    """``doc`` with reST literals and roles shown as their bare text (``:mod:`a.b``` -> a.b)."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", doc or ""))
