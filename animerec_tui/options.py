"""The CLI's shared option types and checks, in one place (as the Typer-era hf CLI's ``_cli_utils``).

Nothing here imports more than Typer, so ``animerec --help`` stays instant.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from animerec_tui.defaults import THREADS_LIMIT, YEAR_MAX, YEAR_MIN
from training.config import THREADS as TORCH_THREADS
from training.model_config import Range, setting_of  # the configurations' modules are light: no numpy, no torch

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Control characters (ESC, CR, BEL, ...), line separators, bidi overrides and lone surrogates."""


def _escaped(match: re.Match) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8, kept by surrogateescape: shown as that byte
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """``text`` as it may be echoed to a terminal: what could drive it (an escape sequence, a carriage
    return, a bidi override) or break the line is written as its escape (``\\x1b``, ``\\r``, ``\\u202e``).

    A title or a path the user typed is shown as typed, never as a command to the terminal.
    """
    return _UNPRINTABLE.sub(_escaped, text)


def number_in(low: float = -math.inf, high: float = math.inf, above: bool = False) -> Callable[[float | None], float | None]:
    """Option callback: a finite number in [low, high] (above ``low`` when ``above``).

    Click's own ranges let NaN through (or name the wrong bound for it), hence one check here.
    """

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        inside = math.isfinite(value) and (value > low if above else value >= low) and value <= high
        if not inside:
            bounds = [f"above {low:g}" if above else f"at least {low:g}"] if low > -math.inf else []
            bounds += [f"at most {high:g}"] if high < math.inf else []
            raise typer.BadParameter(f"{value} is not a number {', '.join(bounds)}" if bounds else f"{value} is not a finite number")
        return value

    return check


def _notation(bounds: Range) -> str:
    """A float's range as click writes an int's: '0<=x<=1', 'x>0'."""
    low = f"{bounds.low:g}{'<' if bounds.above else '<='}" if math.isfinite(bounds.low) else ""
    high = f"<={bounds.high:g}" if math.isfinite(bounds.high) else ""
    if not high:
        return f"x{'>' if bounds.above else '>='}{bounds.low:g}"
    return f"{low}x{high}"


def config_option(config: type, name: str, *flags: str, default_note: str | None = None, **kwargs) -> typer.models.OptionInfo:
    """A Typer option made from ``config``'s field ``name`` (``training.model_config.setting``):
    its help, and its range as the option's bounds, so the flag and the dataclass share one rule.

    A whole number gets click's ``min``/``max`` (shown as ``[1<=x<=1048576]``), any other number
    a checked callback (``number_in``: click's float ranges let NaN through) and its range in
    the help. ``default_note``: the default in words when it is not one value (it depends on
    the data, or on another flag); the option's default is then None.
    """
    item = setting_of(config, name)
    text = item.metadata.get("help", "")
    bounds = item.metadata.get("range")
    if bounds is not None and bounds.whole:
        kwargs.setdefault("min", int(bounds.low) if math.isfinite(bounds.low) else None)
        kwargs.setdefault("max", int(bounds.high) if math.isfinite(bounds.high) else None)
    elif bounds is not None:
        kwargs.setdefault("callback", number_in(bounds.low, bounds.high, above=bounds.above))
        if math.isfinite(bounds.low) or math.isfinite(bounds.high):
            text += f" [{_notation(bounds)}]"
    if default_note is not None:
        text += f" [default: {default_note}]"
        kwargs.setdefault("show_default", False)
    return typer.Option(*flags, help=text, **kwargs)


class InputFormat(str, Enum):
    auto = "auto"
    cooperunion = "cooperunion"
    caserec = "caserec"
    mal2020 = "mal2020"
    reference = "reference"
    sequence = "sequence"


class Holdout(str, Enum):
    auto = "auto"
    random = "random"
    last = "last"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Readout(str, Enum):
    items = "items"
    mask = "mask"


class Crop(str, Enum):
    latest = "latest"
    random = "random"


class Loss(str, Enum):
    full = "full"
    sampled = "sampled"


class Sampler(str, Enum):
    uniform = "uniform"
    popularity = "popularity"


class Split(str, Enum):
    test = "test"
    val = "val"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


def year_option(flag: str, help_text: str):
    """A --year-from/--year-to option: a whole year from YEAR_MIN to YEAR_MAX."""
    return typer.Option(flag, min=YEAR_MIN, max=YEAR_MAX, help=help_text, show_default=False)


MalIds = Annotated[Optional[list[int]], typer.Option("--mal-id", help="A MAL id (repeatable).", show_default=False)]
Titles = Annotated[Optional[list[str]], typer.Argument(help="Titles, as typed in the app's search: a title, a franchise's name, an abbreviation (aot) or a season (jjk 2); one taken for another anime's title is said on stderr, an ambiguous one refused.", show_default=False)]
ModelDir = Annotated[Optional[Path], typer.Option("--model", help="Run or model folder, or latest (the newest run under the animerec home's runs/) [default: the shipped model].", show_default=False)]

Threads = Annotated[
    int,
    typer.Option(
        "--threads", min=1, max=THREADS_LIMIT,
        help="How many CPU threads compute the scores (numpy's BLAS; torch's for a model numpy cannot run). "
        "One is best on a shared or busy machine.",
    ),
]
"""The default is ``defaults.THREADS``, whose docstring says why."""

TorchThreads = Annotated[
    Optional[int],
    typer.Option(
        "--threads", min=1, max=THREADS_LIMIT, show_default=False,
        help="How many CPU threads torch computes with (training steps, validation, scoring). "
        "One is best on a shared or busy machine: a step is many small products that each wait for every thread "
        f"[default: {TORCH_THREADS}, or OMP_NUM_THREADS when it is set].",
    ),
]
"""``animerec train`` and ``eval``'s: None lets ``training.config.THREADS`` or the user's ``OMP_NUM_THREADS`` decide."""
