"""Favourites and recommendations as files to keep or share: Markdown (with MAL links), CSV, JSON.

Used by ``animerec recommend --format markdown|csv|json`` and the TUI's export. Never
imports Textual. ``write_export`` writes atomically: an existing file is replaced whole or
not at all.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from training.errors import UserError
from training.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from animerec_tui.engine import Recommendation

FORMATS = {".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".json": "json"}
"""File endings the TUI's export understands, and the format each one means."""
CSV_COLUMNS = ("list", "rank", "mal_id", "title", "title_english", "type", "year", "episodes", "mal_score", "match", "because", "url")


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _link(title: str, url: str) -> str:
    label = _cell(title).replace("[", "\\[").replace("]", "\\]")
    return f"[{label}]({url})" if url.startswith("https://myanimelist.net/") else label


def markdown(favourites: list[dict], items: list[Recommendation], heading: str) -> str:
    """A Markdown document: the favourites as a list, the recommendations as a table."""
    lines = [f"# {heading}", ""]
    if favourites:
        lines += [f"## Favourites ({len(favourites)})", ""]
        lines += [f"- {_link(e['title'], e.get('url', ''))}" + (f" ({e['year']})" if e.get("year") else "") for e in favourites]
        lines.append("")
    lines += [f"## Recommendations ({len(items)})", ""]
    if items:
        lines += ["| # | title | type | year | MAL | match | because you liked |", "|---|---|---|---|---|---|---|"]
        for rank, r in enumerate(items, start=1):
            title = _link(r.title, r.url) + ("" if r.rated else " *(no ratings yet)*")
            score = f"{r.mal_score:.2f}" if r.mal_score else "?"
            lines.append(f"| {rank} | {title} | {r.type or '?'} | {r.year or '?'} | {score} | {r.score:.2f} | {_cell(r.reasons())} |")
    else:
        lines.append("Nothing passes the filters.")
    return "\n".join(lines) + "\n"


def csv_text(favourites: list[dict], items: list[Recommendation]) -> str:
    """One CSV table: the favourites (list "favourite", in the order added), then the recommendations."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rank, e in enumerate(favourites, start=1):
        writer.writerow(["favourite", rank, e["mal_id"], e["title"], e.get("title_english") or "", e.get("type") or "", e.get("year") or "", e.get("episodes") or "", e.get("score") or "", "", "", e.get("url", "")])
    for rank, r in enumerate(items, start=1):
        writer.writerow(["recommendation", rank, r.mal_id, r.title, r.title_english or "", r.type or "", r.year or "", r.episodes or "", r.mal_score or "", f"{r.score:.4f}", r.reasons(), r.url])
    return out.getvalue()


def json_text(favourite_ids: list[int], unknown: list[int], items: list[Recommendation]) -> str:
    """The document ``animerec recommend --format json`` prints."""
    document = {"favourites": favourite_ids, "unknown": unknown, "recommendations": [r.to_dict() for r in items]}
    return json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n"


def render(form: str, favourites: list[dict], unknown: list[int], items: list[Recommendation], heading: str) -> str:
    """The export in ``form`` (markdown, csv or json); ``favourites``: catalogue entries (or {"mal_id", "title"})."""
    if form == "markdown":
        return markdown(favourites, items, heading)
    if form == "csv":
        return csv_text(favourites, items)
    return json_text([e["mal_id"] for e in favourites], unknown, items)


def format_of(path: Path) -> str:
    """The format a file name asks for, by its ending; UserError naming the endings known."""
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        raise UserError(f"{path.name}: end the name in .md, .csv or .json to choose the format")
    return form


def write_export(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (the folder must exist: a typo makes no folders)."""
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: no such folder")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    try:
        atomic_write_bytes(path, text.encode("utf-8"), mode=0o644)
    except OSError as error:
        raise UserError(f"{path}: cannot write the export ({error.strerror or error})") from None
