"""What every figure of the report shares.

Size and resolution, the Agg canvas, titles naming the session and area, the empty-state figure,
and atomic PNG writing.

Figures are built directly (no pyplot global state) and sized for a report: 6 x 4.5 inches at
150 dpi.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "FIGSIZE",
    "area_title",
    "count_label",
    "empty_figure",
    "new_figure",
    "save_figure",
    "set_titles",
]

FIGSIZE = (6.0, 4.5)
DPI = 150


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """A new figure with an Agg canvas and constrained layout."""
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def area_title(ranking: xr.Dataset) -> str:
    """'session 123, VISp' from the ranking's attributes."""
    session = ranking.attrs.get("session_id", "?")
    area = ranking.attrs.get("area", "?")
    return f"session {session}, {area}"


def empty_figure(title: str, ranking: xr.Dataset, message: str) -> Figure:
    """An empty-state figure: the title and a message saying why there is nothing to show."""
    fig = new_figure()
    fig.suptitle(f"{title}\n{area_title(ranking)}", fontsize=11)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        wrap=True,
        fontsize=11,
        color="0.3",
        transform=ax.transAxes,
    )
    return fig


def count_label(count: int, what: str = "unit") -> str:
    """'1 unit', '3 units', '2 valid units' (``what`` = 'valid unit')."""
    return f"{count} {what}{'s' * (count != 1)}"


def set_titles(fig: Figure, ax, title: str, ranking: xr.Dataset, note: str) -> None:
    """The figure's title, and the session, area and a note in two lines above the axes."""
    fig.suptitle(title, fontsize=11)
    ax.set_title(f"{area_title(ranking)}\n{note}", fontsize=9)


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and close it; returns the path.

    The image goes to a temporary file in the target's directory, then replaces the target, so
    a reader never sees a partial PNG. The figure is closed (and cleared) even on failure.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 honours the umask (mkstemp would leave the PNG at 0o600)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, "wb") as stream:
            fig.savefig(stream, format="png", dpi=DPI)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        if "matplotlib.pyplot" in sys.modules:  # only if the figure may be managed by pyplot
            sys.modules["matplotlib.pyplot"].close(fig)
        fig.clear()
    return path
