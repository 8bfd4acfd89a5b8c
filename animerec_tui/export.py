"""Favourites and recommendations as files to keep or share: Markdown (with MAL links), CSV, JSON.

Used by ``animerec recommend --format markdown|csv|json`` and the TUI's export. Never
imports Textual. ``write_export`` writes atomically: an existing file is replaced whole or
not at all, keeping its permissions.

What an export may not replace (:func:`check_export_target`): animerec's own state (its
favourites and settings files, their locks and set-aside copies, wherever a symlink puts
them, and anything inside the ``runs/`` and ``training-data/`` folders animerec manages
in its home; other files in the home are the user's), a folder, a pipe or device, a dangling symlink, or a file the user cannot
write. A symlink to a regular file is written through: the link stays, its target changes.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import stat
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


def markdown(favourites: list[dict], items: list[Recommendation], heading: str, plan: list[dict] | None = None) -> str:
    """A Markdown document: the favourites and the plan-to-watch list as lists, the recommendations as a table."""
    lines = [f"# {heading}", ""]
    for title, entries in (("Favourites", favourites), ("Plan to watch", plan or [])):
        if entries:
            lines += [f"## {title} ({len(entries)})", ""]
            lines += [f"- {_link(e['title'], e.get('url', ''))}" + (f" ({e['year']})" if e.get("year") else "") for e in entries]
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


def csv_text(favourites: list[dict], items: list[Recommendation], plan: list[dict] | None = None) -> str:
    """One CSV table: the favourites (list "favourite", in the order added), the plan-to-watch list ("plan"), then the recommendations."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for list_name, rank, e in [*(("favourite", n, e) for n, e in enumerate(favourites, start=1)), *(("plan", n, e) for n, e in enumerate(plan or [], start=1))]:
        writer.writerow([list_name, rank, e["mal_id"], e["title"], e.get("title_english") or "", e.get("type") or "", e.get("year") or "", e.get("episodes") or "", e.get("score") or "", "", "", e.get("url", "")])
    for rank, r in enumerate(items, start=1):
        writer.writerow(["recommendation", rank, r.mal_id, r.title, r.title_english or "", r.type or "", r.year or "", r.episodes or "", r.mal_score or "", f"{r.score:.4f}", r.reasons(), r.url])
    return out.getvalue()


def json_text(favourite_ids: list[int], unknown: list[int], items: list[Recommendation], plan_ids: list[int] | None = None) -> str:
    """The document ``animerec recommend --format json`` prints; the app's export adds ``plan_to_watch``."""
    document: dict = {"favourites": favourite_ids, "unknown": unknown, "recommendations": [r.to_dict() for r in items]}
    if plan_ids is not None:
        document["plan_to_watch"] = plan_ids
    return json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n"


def render(form: str, favourites: list[dict], unknown: list[int], items: list[Recommendation], heading: str, plan: list[dict] | None = None) -> str:
    """The export in ``form`` (markdown, csv or json); ``favourites`` and ``plan``: catalogue entries (or {"mal_id", "title"})."""
    if form == "markdown":
        return markdown(favourites, items, heading, plan)
    if form == "csv":
        return csv_text(favourites, items, plan)
    return json_text([e["mal_id"] for e in favourites], unknown, items, None if plan is None else [e["mal_id"] for e in plan])


def format_of(path: Path) -> str:
    """The format a file name asks for, by its ending; UserError naming the endings known."""
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        raise UserError(f"{path.name}: end the name in .md, .csv or .json to choose the format")
    return form


NAME_MAX = 255
"""The longest file name (in bytes) the usual file systems take."""
STATE_NAMES = ("favourites.json", "settings.json")
_STATE_FILE = re.compile(r"(favourites|settings)\.json(\.lock|\.corrupt-.*)?\Z", re.DOTALL)


def expand_user_path(text: str) -> Path:
    """The path the user typed, ``~`` expanded; UserError (one line) for what no file can be named.

    For the TUI's export and import boxes: ``~nosuchuser/x``, an empty name, a NUL byte or
    a name over 255 bytes would otherwise surface as RuntimeError, ValueError or OSError.
    """
    if not text.strip():
        raise UserError("give a file name")
    if "\0" in text:
        raise UserError("a file name cannot contain a NUL character")
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "Could not determine home directory": ~nosuchuser
        raise UserError(f"{text.split('/', 1)[0]}: no such user, so {text!r} names no folder") from None
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UserError(f"{part[:40]}...: name too long ({len(os.fsencode(part))} bytes; at most {NAME_MAX})")
    return path


MANAGED_FOLDERS = ("runs", "training-data")
"""Folders of the home that animerec fills and prunes itself: an export inside one could be swept away."""


def _protected(home: Path) -> tuple[list[Path], list[Path]]:
    """The resolved state files of ``home`` (their locks and copies live beside them) and the
    resolved folders animerec manages there. Other files in the home are the user's to
    write: an ``ANIMEREC_HOME`` is often a folder of the user's own choosing."""
    files = [Path(os.path.realpath(home / name)) for name in STATE_NAMES]
    folders = [Path(os.path.realpath(home / name)) for name in MANAGED_FOLDERS]
    return files, folders


def _is_state(real: Path, home: Path) -> bool:
    files, folders = _protected(home)
    if any(real == folder or folder in real.parents for folder in folders):
        return True
    for state in files:
        if real == state or (real.parent == state.parent and real.name.startswith(state.name + ".") and (
                real.name == state.name + ".lock" or real.name.startswith(state.name + ".corrupt-"))):
            return True
    return _STATE_FILE.match(real.name) is not None and real.parent == Path(os.path.realpath(home))


def _same_file_as_state(target: os.stat_result, home: Path) -> bool:
    for state in _protected(home)[0]:
        try:
            found = os.stat(state)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def check_export_target(path: Path, home: Path) -> str | None:
    """Why an export must not be written to ``path``, in one line, or None when it may.

    ``home`` is the animerec home (:func:`animerec_tui.paths.home_dir`). The TUI calls this
    before asking whether to replace an existing file; :func:`write_export` calls it again.
    """
    path = Path(path)
    try:
        for part in path.parts:
            if len(os.fsencode(part)) > NAME_MAX:
                return f"{part[:40]}...: name too long ({len(os.fsencode(part))} bytes; at most {NAME_MAX})"
        real = Path(os.path.realpath(path))
        if _is_state(real, home):
            return f"{path}: that is animerec's own state ({real}); export to another file"
        try:
            link = os.lstat(path)
        except FileNotFoundError:
            link = None
        except NotADirectoryError:
            return f"{path.parent}: not a folder"
        if link is None:
            return None if path.parent.is_dir() else f"{path.parent}: no such folder"
        if stat.S_ISLNK(link.st_mode):
            try:
                target = os.stat(path)
            except FileNotFoundError:
                return f"{path}: a symlink to {os.readlink(path)}, which does not exist; give the file itself"
        else:
            target = link
        if stat.S_ISDIR(target.st_mode):
            return f"{path}: is a folder; give a file name"
        if _same_file_as_state(target, home):  # a hard link (or a bind mount) to a state file
            return f"{path}: that is animerec's own state (the same file as one in {home}); export to another file"
        if not stat.S_ISREG(target.st_mode):
            return f"{path}: not a regular file (a pipe, socket or device); give a file name"
        if not target.st_mode & 0o222 or not os.access(real, os.W_OK):
            return f"{path}: read-only; not replacing it (make it writable first, or export to another file)"
        return None
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return f"{path}: name too long"
        return f"{path}: cannot check it ({error.strerror or error})"


def write_export(path: Path, text: str, home: Path | None = None) -> None:
    """Write ``text`` to ``path`` atomically (the folder must exist: a typo makes no folders).

    Refused with UserError where :func:`check_export_target` gives a reason (``home``
    defaults to the animerec home). A symlink is written through to its target; a file
    replaced keeps its permissions (a new one is 0644).
    """
    if home is None:
        from animerec_tui.paths import home_dir

        try:
            home = home_dir()
        except RuntimeError as error:  # ANIMEREC_HOME=~nosuchuser/x
            raise UserError(f"cannot find the animerec home ({error})") from None
    reason = check_export_target(Path(path), home)
    if reason is not None:
        raise UserError(reason)
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode) & 0o777
    except FileNotFoundError:
        mode = 0o644
    except OSError as error:
        raise UserError(f"{path}: cannot write the export ({error.strerror or error})") from None
    try:
        atomic_write_bytes(target, text.encode("utf-8"), mode=mode)
    except OSError as error:
        raise UserError(f"{path}: cannot write the export ({error.strerror or error})") from None
