"""How commands print: Rich tables on a terminal; when output is piped, the same tables at full
width (no id cut short, no text wrapped to 80 columns); `--json` for programs.

Errors and status text from outside (SQL errors, ledger messages) are printed without Rich
markup, so a `[` in them is shown as written.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

# Rich assumes 80 columns when stdout is not a terminal; a pipe or a file has no width, so
# tables are laid out this wide there (a table is only as wide as its content).
PIPE_WIDTH = 10_000
# Characters of an error shown in a summary line (`--errors` shows it whole).
SHORT_ERROR_CHARS = 160


def make_console() -> Console:
    """The console of the `dayflow` command: the terminal's width, or PIPE_WIDTH when piped."""
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


def print_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout (datetimes as ISO 8601 strings)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_encode) + "\n")


def _encode(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    if isoformat is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return isoformat()


def one_line(text: str) -> str:
    """`text` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def shorten(text: str, limit: int = SHORT_ERROR_CHARS) -> str:
    """The first line-worth of `text`: one line, cut at `limit` characters with a marker."""
    flat = one_line(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plain(text: str, style: str = "") -> Text:
    """`text` as Rich shows it verbatim (no markup, no highlighting)."""
    return Text(text, style=style)
