"""Body of ``animerec recommend``: resolve titles, ask the engine, print a table or JSON."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import textwrap
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import IO, Iterator

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from animerec_tui.batch_workers import WorkerPool, can_fork, default_jobs
from animerec_tui.defaults import METADATA_ONLY, NEW_TAG, THREADS
from animerec_tui.engine import NEW_SINCE, Engine, Filters, FranchiseNews, Recommendation
from animerec_tui.favourites import counted, validate_ids
from animerec_tui.options import printable
from animerec_tui.short_lists import short_list_note
from animerec_tui.titles import check_titles, resolve_titles, say_resolved, title_index
from training.catalog import TYPES
from training.errors import UserError

MAX_LINE_BYTES = 16 << 20
"""A batch line longer than this (about two million ids) is refused and skipped piece by piece, so a file
without newlines (a binary named by mistake) is never held whole in memory."""
SHOWN_UNKNOWN = 5
BATCH_CHUNK = 128
"""Batch requests answered together (``Engine.recommend_many``), in one process or sent to one of the
workers (``--jobs``): the memory a batch holds is bounded by it, and the workers end a batch within
about a chunk's time of each other. The same chunks whatever ``--jobs`` says, so the answers are the
same to the last digit (a chunk's requests are grouped by length, which moves a score's last bit).
128 ran as fast as 512 in one process (346 against 356 users/s, medians of 5 interleaved runs)."""
BATCH_KEYS = frozenset({"id", "favourites", "exclude"})




def build_filters(
    types: list[str], hide_sequels: bool, show_adult: bool, genres: list[str], exclude_genres: list[str], exclude: list[int],
    year_from: int | None = None, year_to: int | None = None, novelty: float = Filters.novelty, every_entry: bool = False, new_share: float = Filters.new_share,
) -> Filters:
    """Filters from CLI options, with type names checked case-insensitively and the year range in order."""
    canonical = {t.lower(): t for t in TYPES}
    unknown = [t for t in types if t.lower() not in canonical]
    if unknown:
        raise UserError(f"unknown type '{unknown[0]}'; choose from {', '.join(TYPES)}")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise UserError(f"--year-from {year_from} is after --year-to {year_to}; no anime can pass (for one year, give both the same)")
    return Filters(
        types=frozenset(canonical[t.lower()] for t in types),
        hide_sequels=hide_sequels,
        hide_adult=not show_adult,
        include_genres=frozenset(genres),
        exclude_genres=frozenset(exclude_genres),
        exclude=frozenset(validate_ids(exclude)),
        year_from=year_from,
        year_to=year_to,
        novelty=novelty,
        one_per_franchise=not every_entry,
        new_share=new_share,
    )


def known_genres(engine: Engine, filters: Filters) -> Filters:
    """``filters`` with genre names spelt as the model's (matched case-insensitively, like types)."""
    canonical = {g.lower(): g for g in engine.genre_names}

    def spelt(genres: frozenset[str]) -> frozenset[str]:
        for genre in genres:
            if genre.lower() not in canonical:
                raise UserError(f"unknown genre '{genre}'; known genres: {', '.join(engine.genre_names)}")
        return frozenset(canonical[g.lower()] for g in genres)

    return replace(filters, include_genres=spelt(filters.include_genres), exclude_genres=spelt(filters.exclude_genres))


def _named(engine: Engine, ids: list[int]) -> str:
    names = ", ".join(engine.by_id.get(m, {}).get("title", str(m)) for m in ids[:SHOWN_UNKNOWN])
    return names + (f" (and {len(ids) - SHOWN_UNKNOWN:,} more)" if len(ids) > SHOWN_UNKNOWN else "")


def _missing_from(engine: Engine, unknown: list[int]) -> str:
    """Where favourites the model cannot use are missing: the catalogue lacks them all, or only the model."""
    return "in the catalogue" if all(m not in engine.by_id for m in unknown) else "known to the model"


def _none_usable(engine: Engine, favourites: list[int]) -> tuple[str, list[int]] | None:
    """When the model can use none of ``favourites`` (the answer would be the popularity list,
    which is no answer to them): where they are missing, and which they are; else None.
    The command line and a ``--batch`` line refuse such a request alike."""
    if any(engine.knows(m) for m in favourites):  # the usual answer, at the first favourite
        return None
    _, unknown = engine.split_known(favourites)
    return _missing_from(engine, unknown), unknown


def unknown_note(engine: Engine, unknown: list[int]) -> str:
    """One line on the favourites the model cannot use, naming only the first few of however many.

    A whole-catalogue model knows every catalogue anime, so these are ids the catalogue lacks;
    a model trained on part of the catalogue also lacks some catalogue anime.
    """
    one = len(unknown) == 1
    where = _missing_from(engine, unknown)
    verbs = f"is not {where} and was" if one else f"are not {where} and were"
    return f"{counted(len(unknown))} {verbs} left out: {_named(engine, unknown)}"


def metadata_only_note(engine: Engine, favourites: list[int]) -> str | None:
    """One line on the favourites the model knows from their metadata alone; None when there are none."""
    unrated = [m for m in dict.fromkeys(favourites) if engine.knows(m) and not engine.rated(m)]
    if not unrated:
        return None
    if len(unrated) == 1:
        return f"1 favourite has {METADATA_ONLY}: {_named(engine, unrated)}"
    return f"{len(unrated):,} favourites have no ratings yet: known from their genres, studio and year: {_named(engine, unrated)}"


_OPTIONAL_COLUMNS = (("type", 8), ("year", 7), ("because", 17), ("eps", 6))
"""The columns a terminal of ``NARROW`` columns or more can do without, most wanted first, with the width
each takes (its narrowest content, padding and border). '#', the title (20) and the match always show."""
_NARROW_COLUMNS = (("because", 17), ("type", 8), ("year", 7), ("eps", 6))
"""The same below ``NARROW`` columns, where a row is one line: the reasons first, then the rest."""
NARROW = 100
"""Below this many columns each result is one line, its title and reasons cut short with '…'
(folded, every row of a 50-column table took four or five lines, and most of an 80-column
one's two or three). Where the reasons do not fit either (under 50), the title folds."""
NARROW_TITLE = 16


def _columns(width: int) -> set[str]:
    """The optional columns that fit ``width`` beside the title at its full 20 characters
    (16 below ``NARROW`` columns, where the reasons come before the type, year and episodes).

    Rich would otherwise squeeze every column to fit, down to a title column of no width at
    all (a 30-column pane showed ranks and scores without a single title), or crop the
    table's right edge (a 60-column one lost 'because you liked').
    """
    shown = {"genres"} if width >= 110 else set()
    narrow = width < NARROW
    used = 1 + 5 + (NARROW_TITLE if narrow else 20) + 3 + 8  # the left border, '#', the title and the match
    for name, cost in _NARROW_COLUMNS if narrow else _OPTIONAL_COLUMNS:
        if used + cost <= width:
            shown.add(name)
            used += cost
    return shown


def _narrow_widths(width: int, shown: set[str], longest_title: int, longest_reasons: int) -> tuple[int, int]:
    """The widths of the title and reasons columns below ``NARROW`` columns: what the other
    columns leave, the longer of the two cut first (rich would take it from '#' and the match,
    down to nothing)."""
    costs = dict(_NARROW_COLUMNS)
    free = width - (1 + 5 + NARROW_TITLE + 3 + 8 + sum(costs[name] for name in shown if name in costs))
    if "because" not in shown:
        return max(8, NARROW_TITLE + free), 0
    room = NARROW_TITLE + costs["because"] - 3 + free
    title, reasons = longest_title, longest_reasons
    while title + reasons > room and max(title, reasons) > 8:
        if title > reasons:
            title -= 1
        else:
            reasons -= 1
    return title, reasons


def plain_output(console: Console) -> bool:
    """Whether the table is written as plain lines (no box characters, no colour, no padding):
    with ``TERM=dumb``, and on a pipe or file unless ``COLUMNS`` gives it a width to draw for."""
    if os.environ.get("TERM", "").lower() == "dumb":
        return True
    return not console.is_terminal and not os.environ.get("COLUMNS")


def _plain_width(console: Console) -> int | None:
    """The width plain lines keep to: ``COLUMNS``, else a terminal's own (rich takes a dumb
    terminal for 80 columns whatever its size), else none (a pipe or file)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not console.is_terminal:
        return None
    try:
        return os.get_terminal_size(console.file.fileno()).columns
    except (OSError, ValueError, AttributeError):  # a file object without a descriptor
        return console.width


def _write_plain(console: Console, title: str, lines: list[str], notes: list[str]) -> None:
    """``title``, ``lines`` as they are, then ``notes``: the title and notes wrapped to the plain
    width (a pipe's: not wrapped), never inside an option's name."""
    width = _plain_width(console)

    def wrapped(texts: list[str]) -> list[str]:
        return [line for text in texts for line in (textwrap.wrap(text, width, break_on_hyphens=False) if width else [text])]

    console.file.write("\n".join([*wrapped([title]), *lines, *wrapped(notes)]) + "\n")


def _notes(items: list[Recommendation]) -> list[str]:
    notes = [f"({NEW_TAG}) = {METADATA_ONLY}"] if not all(rec.rated for rec in items) else []
    if any(rec.franchise_more for rec in items):
        notes.append("+N = more entries of its franchise, not in this list (--every-entry shows them)")
    return notes


def print_table(engine: Engine, items: list[Recommendation], title: str, console: Console | None = None) -> None:
    """The recommendations as a table on stdout: boxed for a terminal (one line a result when
    narrow), plain lines for a pipe or a dumb terminal (``plain_output``)."""
    console = console or Console(highlight=False)
    if not items:
        console.print("nothing passes these filters")
        return
    if plain_output(console):
        _write_plain(console, title, plain_table(items, _plain_width(console)), _notes(items))
        return
    table = Table(title=escape(title), title_justify="left", expand=False)
    shown = _columns(console.width)
    longest = [max(cell_len(_plain_title(rec)) for rec in items), max(cell_len(rec.reasons()) for rec in items)]
    title_width, because_width = (None, 32) if console.width >= NARROW else _narrow_widths(console.width, shown, *longest)
    cut = {"no_wrap": True, "overflow": "ellipsis"} if console.width < NARROW else {"overflow": "fold"}
    fold = {"overflow": "fold"} if "because" not in shown else cut  # too narrow for the reasons: titles cut that short are no titles
    table.add_column("#", justify="right", min_width=2, no_wrap=True)
    table.add_column("title", min_width=min(NARROW_TITLE if console.width < NARROW else 20, max(8, console.width - 17)), max_width=title_width, **fold)
    for name, width in (("type", 5), ("year", 4), ("eps", 3)):
        if name in shown:
            table.add_column(name, justify="left" if name == "type" else "right", no_wrap=True, min_width=width)
    if "genres" in shown:  # on narrow terminals the title matters more than the genres
        table.add_column("genres", max_width=30, overflow="fold")
    table.add_column("match", justify="right", no_wrap=True, min_width=5)
    if "because" in shown:
        table.add_column("because you liked" if because_width >= 17 else "because", min_width=min(because_width, 7), max_width=because_width, **cut)
    for rank, rec in enumerate(items, start=1):
        title = escape(rec.title) + ("" if rec.rated else f" [yellow]({NEW_TAG})[/]") + (f" [dim]+{rec.franchise_more}[/]" if rec.franchise_more else "")
        cells = {
            "type": rec.type or "?", "year": str(rec.year or "?"), "eps": str(rec.episodes or "?"),
            "genres": ", ".join(rec.genres[:3]), "because": escape(rec.reasons()),
        }
        optional = [cells[name] for name in ("type", "year", "eps", "genres") if name in shown]
        table.add_row(str(rank), title, *optional, f"{rec.score:.2f}", *([cells["because"]] if "because" in shown else []))
    notes = _notes(items)
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    console.print(table)


_PLAIN = (("#", True), ("title", False), ("type", False), ("year", True), ("eps", True), ("match", True), ("because you liked", False))
"""The plain table's columns and whether each is aligned right."""
PLAIN_GAP = 2
PLAIN_MIN = 12
"""The narrowest a plain title or reasons column is cut to before a column is dropped."""


def plain_table(items: list[Recommendation], width: int | None = None) -> list[str]:
    """The recommendations as lines of text, one a result, columns two spaces apart and no
    trailing spaces. Within ``width`` (None: no limit) the episodes, year and type go first,
    then the wider of the title and reasons is cut with '…', down to ``PLAIN_MIN`` each, then
    the reasons go."""
    rows = [[str(rank), _plain_title(rec), rec.type or "?", str(rec.year or "?"), str(rec.episodes or "?"), f"{rec.score:.2f}", rec.reasons()]
            for rank, rec in enumerate(items, start=1)]
    return plain_lines(_PLAIN, rows, width, drop=("eps", "year", "type"), cut=("title", "because you liked"))


def plain_lines(header: tuple[tuple[str, bool], ...], rows: list[list[str]], width: int | None, drop: tuple[str, ...], cut: tuple[str, str]) -> list[str]:
    """A header line and ``rows`` as lines of text, columns ``PLAIN_GAP`` spaces apart, each
    padded to its widest cell (aligned right where ``header`` says so), no trailing spaces.

    Within ``width`` (None: no limit) the columns named in ``drop`` go in turn, then the wider
    of the two named in ``cut`` is cut with '…', down to ``PLAIN_MIN`` each, then the second of
    them goes and the first is cut to fit (not below ``PLAIN_MIN``). Control characters in a
    cell are written as their escapes (``options.printable``), as rich drops them from a box.
    """
    names = [name for name, _ in header]
    columns = [[name, *(printable(row[n]) for row in rows)] for n, name in enumerate(names)]
    keep = list(range(len(header)))
    widths = [max(cell_len(cell) for cell in column) for column in columns]
    first, second = (names.index(name) for name in cut)

    def total() -> int:
        return sum(widths[n] for n in keep) + PLAIN_GAP * (len(keep) - 1)

    if width is not None:
        for name in drop:
            if total() > width:
                keep.remove(names.index(name))
        while total() > width and max(widths[first], widths[second]) > PLAIN_MIN:  # the wider of the two first
            widths[first if widths[first] > widths[second] else second] -= 1
        if total() > width:
            keep.remove(second)
            widths[first] = max(PLAIN_MIN, widths[first] - max(0, total() - width))
    lines = []
    for line in zip(*(columns[n] for n in keep)):
        cells = []
        for n, cell in zip(keep, line):
            cell = _cut(cell, widths[n])
            pad = " " * (widths[n] - cell_len(cell))
            cells.append(pad + cell if header[n][1] else cell + pad)
        lines.append((" " * PLAIN_GAP).join(cells).rstrip())
    return lines


def _plain_title(rec: Recommendation) -> str:
    return rec.title + ("" if rec.rated else f" ({NEW_TAG})") + (f" +{rec.franchise_more}" if rec.franchise_more else "")


def _cut(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    cut = Text(text)
    cut.truncate(width, overflow="ellipsis")
    return cut.plain


def run_recommend(opts: dict) -> None:
    """Wire options to the engine; one of batch, similar, or a favourites list."""
    # Cheap checks first: a typo in a flag or a missing batch file should not wait for the model.
    filters = build_filters(
        opts["type"], opts["hide_sequels"], opts["show_adult"], opts["genre"], opts["exclude_genre"], opts["exclude"], opts["year_from"], opts["year_to"],
        opts.get("novelty", Filters.novelty), opts.get("every_entry", False), opts.get("new_share", Filters.new_share),
    )
    check_sources(opts["titles"], opts["mal_id"], opts["similar"], opts["batch"])
    source = None
    if opts["batch"] is not None:
        source = _stdin() if str(opts["batch"]) == "-" else _open(opts["batch"])
    engine = Engine(opts["model"], threads=opts.get("threads", THREADS))
    filters = known_genres(engine, filters)
    if source is not None:
        try:
            jobs = opts.get("jobs") or default_jobs(opts.get("threads", THREADS))
            bad = run_batch(engine, source, sys.stdout, opts["top"], filters, jobs=jobs)
        except _ReadError as exc:
            name = "stdin" if str(opts["batch"]) == "-" else printable(str(opts["batch"]))
            raise UserError(f"{name}: cannot read the batch file ({exc.reason})") from None
        if bad:
            raise UserError(f"{bad:,} line{'s' if bad > 1 else ''} of the batch could not be answered (see the error objects on stdout)", exit_code=1)
        return
    if opts["similar"] is not None:
        target = opts["similar"].strip()
        # isascii: "²".isdigit() is true but int() refuses it; titles.MAX_TITLE keeps int() under its digit limit
        number = target.isascii() and target.isdigit() and int(target) in engine.by_id
        if number:
            mal_id = int(target)
        else:
            match = title_index(engine.catalog).resolve(target)
            say_resolved(target, match)
            mal_id = match.mal_id
            opts = {**opts, "resolved": [{"query": target, "mal_id": mal_id, "title": match.title, "how": match.how}]}
        items = engine.similar(mal_id, opts["top"], filters)
        alike = "" if engine.rated(mal_id) else f" ({METADATA_ONLY}, so alike in those too)"
        _emit(engine, opts, [mal_id], items, [], f"anime like {engine.by_id[mal_id]['title']}{alike}")
        return
    resolved: list[dict] = []
    favourites = resolve_titles(engine.catalog, opts["titles"], opts["mal_id"], resolved=resolved)
    opts = {**opts, "resolved": resolved}
    if not favourites:
        from animerec_tui.favourites_command import open_store

        saved = open_store().load()
        favourites = saved.favourites
        filters = replace(filters, exclude=filters.exclude | frozenset(saved.excluded))
        if not favourites:
            raise UserError("no favourites: name some titles, pass --mal-id, or add some with 'animerec favourites add'")
    if opts.get("new_in_franchises"):  # the catalogue's answer: it needs no favourite the model knows
        since = NEW_SINCE if opts["year_from"] is None else opts["year_from"]
        _emit_news(engine, opts, favourites, engine.new_in_franchises(favourites, since, filters), since)
        return
    unusable = _none_usable(engine, favourites)
    if unusable:
        where, unknown = unusable
        raise UserError(f"none of the favourites is {where}: {printable(_named(engine, unknown))}")
    result = engine.recommend(favourites, opts["top"], filters)
    _emit(engine, opts, favourites, result.items, result.unknown, f"top {len(result.items)} for {counted(len(favourites))}")


def check_sources(titles: list[str], mal_ids: list[int], similar: str | None, batch: Path | None) -> None:
    """Refuse empty or absurd titles and combinations where one source of favourites would be ignored."""
    if batch is not None and (titles or mal_ids or similar is not None):
        raise UserError("--batch reads its favourites from the file; leave out titles, --mal-id and --similar")
    if similar is not None and (titles or mal_ids):
        raise UserError("--similar takes one title (or MAL id) on its own; leave out the other titles and --mal-id")
    if similar is not None and not similar.strip():
        raise UserError("--similar needs a title or MAL id, not an empty string")
    check_titles([*titles, *([similar] if similar is not None else [])])  # an empty --similar was told apart above


def _open(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UserError(f"{printable(str(path))}: cannot read the batch file ({exc.strerror})") from None


def _stdin() -> IO[bytes]:
    if sys.stdin is None:  # `animerec recommend --batch - <&-`
        raise UserError("--batch - reads the requests from stdin, and stdin is closed; pipe them in or name a file")
    return sys.stdin.buffer


class _ReadError(Exception):
    """Reading the batch failed (EIO, EISDIR): not an OSError, so no write error is taken for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _emit(engine: Engine, opts: dict, favourites: list[int], items: list[Recommendation], unknown: list[int], title: str) -> None:
    # The notes on stderr are short; JSON keeps every unknown id, since there it is data for a program.
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if unknown:
        err.print(f"[yellow]{escape(unknown_note(engine, unknown))}[/]")
    if opts["similar"] is None and (note := metadata_only_note(engine, favourites)) is not None:
        err.print(escape(note))
    if opts["similar"] is None and sys.stderr.isatty() and (note := short_list_note(engine, favourites, opts.get("novelty") or 0.0)) is not None:
        err.print(escape(note))  # advice for a person at a terminal; a script reading stderr gets only what went wrong
    form = opts["format"]
    if form == "table":
        print_table(engine, items, title)
        return
    from animerec_tui.export import json_text, render

    if form == "json":
        text = json_text(favourites, unknown, items)
        if opts.get("resolved"):  # what each title typed was taken for, after the document's own keys
            document = json.loads(text)
            document["resolved"] = opts["resolved"]
            text = json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n"
        sys.stdout.write(text)
        return
    entries = [] if opts["similar"] is not None else [engine.by_id.get(m) or {"mal_id": m, "title": f"MAL id {m}"} for m in favourites]
    sys.stdout.write(render(form, entries, unknown, items, f"animerec: {title}"))


NEWS_ANNOUNCED = "announced = no air date and no MyAnimeList count in the catalogue: announced, or aired after its sources were taken"


def news_best_of(since: int) -> str:
    """The one line that points from the franchise view to the ranking of recent anime."""
    return (f"The best anime from {since} on for your taste: the same favourites with --year-from {since} (without --new-in-franchises). "
            "The ratings end in January 2023: newer anime are known from their genres, studio and year only, so their scores are less sure.")


_PLAIN_NEWS = (("continues", False), ("aired", False), ("type", False), ("title", False))
"""The plain franchise view's columns (none aligned right)."""


def print_news(news: list[FranchiseNews], since: int) -> None:
    """The franchise view as a table on stdout: per favourite franchise, its new entries by air date;
    boxed for a terminal, plain lines for a pipe or a dumb terminal (``plain_output``), as the
    recommendations."""
    console = Console(highlight=False)
    plain = plain_output(console)
    if not news:
        nothing = f"nothing new in your favourites' franchises from {since} on, and nothing announced"
        if plain:
            _write_plain(console, nothing, [], [news_best_of(since)])
        else:
            console.print(nothing, markup=False)
            console.print(news_best_of(since), style="dim", markup=False)
        return
    heading = f"new in your favourites' franchises: aired from {since} on, or announced"
    notes = [NEWS_ANNOUNCED] if any(e.announced for f in news for e in f.entries) else []
    if not all(e.rated for f in news for e in f.entries):
        notes.append(f"({NEW_TAG}) = {METADATA_ONLY}")
    notes.append(news_best_of(since))
    if plain:
        rows = [[", ".join(title for _, title in franchise.favourites) if n == 0 else "", entry.aired, entry.type or "?",
                 entry.title + ("" if entry.rated else f" ({NEW_TAG})")]
                for franchise in news for n, entry in enumerate(franchise.entries)]
        _write_plain(console, heading, plain_lines(_PLAIN_NEWS, rows, _plain_width(console), drop=("type",), cut=("title", "continues")), notes)
        return
    table = Table(title=heading, title_justify="left", expand=False)
    table.add_column("continues", max_width=max(12, min(28, console.width // 4)), overflow="fold")
    table.add_column("aired", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("title", min_width=min(20, max(8, console.width - 40)), overflow="fold")
    for franchise in news:
        continues = escape(", ".join(title for _, title in franchise.favourites))
        for n, entry in enumerate(franchise.entries):
            title = escape(entry.title) + ("" if entry.rated else f" [yellow]({NEW_TAG})[/]")
            table.add_row(continues if n == 0 else "", entry.aired, entry.type or "?", title, end_section=n == len(franchise.entries) - 1)
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    console.print(table)


def _emit_news(engine: Engine, opts: dict, favourites: list[int], news: list[FranchiseNews], since: int) -> None:
    unknown = [m for m in dict.fromkeys(favourites) if m not in engine.by_id]
    if unknown:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[yellow]{escape(unknown_note(engine, unknown))}[/]")
    if opts["format"] == "json":
        document = {"favourites": favourites, "unknown": unknown, "since": since, "franchises": [f.to_dict() for f in news]}
        sys.stdout.write(json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n")
        return
    print_news(news, since)


def run_batch(engine: Engine, source: IO[bytes], sink: IO[str], k: int, filters: Filters, chunk: int = BATCH_CHUNK, jobs: int | None = None) -> int:
    """Answer a JSONL stream, one line per request; a bad line gets an error object. Returns bad lines.

    Every line written is strict JSON (no NaN or Infinity, valid UTF-8), so any parser can read it.
    The lines go in chunks of ``chunk`` (blank lines skipped), each answered in one call of the
    engine. With ``jobs`` > 1 (None: this process alone), once a first full chunk is read, the
    chunks go to that many worker processes (``batch_workers``) in turn, as raw lines: the
    workers read, check and answer them, this process only passes lines on and writes the answers
    in order. The answers are the same whatever ``jobs`` says.
    """
    bad = 0
    answer = partial(_answer_lines, engine, k, filters)
    with contextlib.ExitStack() as stack:
        pool: WorkerPool | None = None

        def write(reply: bytes) -> None:
            nonlocal bad
            head, _, text = reply.partition(b"\n")
            bad += int(head)
            sink.write(text.decode("utf-8"))

        for lines in _chunks(_lines(source), chunk):
            if pool is None and jobs is not None and jobs > 1 and len(lines) == chunk and can_fork() and engine.forkable:
                pool = stack.enter_context(WorkerPool(jobs, lambda payload: _reply(*answer(_unpack(payload)))))
            if pool is None:
                text, wrong = answer(lines)
                sink.write(text)
                bad += wrong
                continue
            pool.submit(_pack(lines))
            while pool.outstanding > 2 * pool.jobs:  # two chunks queued for each worker: none waits for the next
                write(pool.result())
        while pool is not None and pool.outstanding:
            write(pool.result())
    return bad


def _chunks(lines: Iterator[bytes | None], size: int) -> Iterator[list[tuple[int, bytes | None]]]:
    """The lines that are not blank, numbered from 1, ``size`` at a time (the last chunk shorter)."""
    chunk: list[tuple[int, bytes | None]] = []
    for number, line in enumerate(lines, start=1):
        if line is not None and not line.strip():
            continue
        chunk.append((number, line))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pack(lines: list[tuple[int, bytes | None]]) -> bytes:
    """A chunk of lines as one message: a JSON line of their numbers and lengths (-1: too long), then the lines."""
    head = json.dumps([[number, -1 if line is None else len(line)] for number, line in lines])
    return head.encode("ascii") + b"\n" + b"".join(line for _, line in lines if line is not None)


def _unpack(payload: bytes) -> list[tuple[int, bytes | None]]:
    head, _, body = payload.partition(b"\n")
    lines: list[tuple[int, bytes | None]] = []
    at = 0
    for number, size in json.loads(head):
        lines.append((number, None if size < 0 else body[at : at + size]))
        at += max(size, 0)
    return lines


def _reply(text: str, bad: int) -> bytes:
    return f"{bad}\n{text}".encode("utf-8")


def _answer_lines(engine: Engine, k: int, filters: Filters, lines: list[tuple[int, bytes | None]]) -> tuple[str, int]:
    """A chunk of numbered lines' answer lines, in order, and how many were bad."""
    out: list[dict | None] = []
    requests: list[tuple[object, list[int], Filters]] = []
    for number, line in lines:
        rid = None
        try:
            if line is None:
                raise ValueError(f"the line is longer than {MAX_LINE_BYTES:,} bytes")
            # Notepad and PowerShell open a UTF-8 file with a byte order mark.
            request = json.loads(line.decode("utf-8-sig" if number == 1 else "utf-8"))
            if not isinstance(request, dict):
                raise ValueError("a line must be a JSON object")
            rid = _echoable(request.get("id"))
            unknown_keys = sorted(set(request) - BATCH_KEYS)
            if unknown_keys:  # a misspelt "exclude" would otherwise be ignored without a word
                raise ValueError(f"unknown key {unknown_keys[0][:40]!r}; a request has only {', '.join(sorted(BATCH_KEYS))}")
            favourites = _id_list(request.get("favourites"), "favourites")
            exclude = _id_list(request.get("exclude", []), "exclude")
            _usable(engine, favourites)
        except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested too deep
            out.append({"id": rid, "line": number, "error": str(exc).splitlines()[0]})
            continue
        out.append(None)
        requests.append((rid, favourites, replace(filters, exclude=filters.exclude | frozenset(exclude))))
    results = iter(engine.pick_many([(favourites, f) for _, favourites, f in requests], k)) if requests else iter(())  # the lines carry no reasons
    asked = iter(requests)
    text = []
    for document in out:
        if document is None:
            rid = next(asked)[0]
            result = next(results)
            document = {"id": rid, "recommendations": [{"mal_id": r.mal_id, "title": r.title, "score": r.score} for r in result.items], "unknown": result.unknown}
        text.append(json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n")
    return "".join(text), sum(1 for document in out if document is not None)


def _lines(source: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of ``source``; None for a line longer than MAX_LINE_BYTES, whose rest is skipped."""
    limit = MAX_LINE_BYTES

    def readline(size: int) -> bytes:
        try:
            return source.readline(size)
        except OSError as exc:
            raise _ReadError(exc.strerror or str(exc)) from None

    while line := readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = readline(limit)
            yield None
        else:
            yield line


def _echoable(rid):
    """The request's id, if it can be written back as strict UTF-8 JSON."""
    try:
        json.dumps(rid, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
        raise ValueError("the id cannot be echoed as strict JSON (NaN, Infinity, a lone surrogate, or nested too deep)") from None
    return rid


def _usable(engine: Engine, favourites: list[int]) -> None:
    """A request whose favourites the model cannot use at all is refused (``_none_usable``)."""
    if not favourites:
        raise ValueError("'favourites' is empty: a request needs at least one anime")
    unusable = _none_usable(engine, favourites)
    if unusable:
        where, unknown = unusable
        shown = ", ".join(str(m) for m in unknown[:SHOWN_UNKNOWN]) + (f" (and {len(unknown) - SHOWN_UNKNOWN:,} more)" if len(unknown) > SHOWN_UNKNOWN else "")
        raise ValueError(f"none of its favourites is {where}: MAL id{'s' if len(unknown) > 1 else ''} {shown}")


def _id_list(value, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"'{name}' must be a list of MAL ids (non-negative integers)")
    return value
