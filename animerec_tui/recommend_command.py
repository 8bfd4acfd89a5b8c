"""Body of ``animerec recommend``: resolve titles, ask the engine, print a table or JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table

from animerec_tui.engine import TYPES, Engine, Filters, Recommendation
from animerec_tui.errors import UserError
from animerec_tui.search import TitleIndex


def build_filters(types: list[str], hide_sequels: bool, show_adult: bool, genres: list[str], exclude_genres: list[str], exclude: list[int]) -> Filters:
    """Filters from CLI options, with type names checked case-insensitively."""
    canonical = {t.lower(): t for t in TYPES}
    unknown = [t for t in types if t.lower() not in canonical]
    if unknown:
        raise UserError(f"unknown type '{unknown[0]}'; choose from {', '.join(TYPES)}")
    return Filters(
        types=frozenset(canonical[t.lower()] for t in types),
        hide_sequels=hide_sequels,
        hide_adult=not show_adult,
        include_genres=frozenset(genres),
        exclude_genres=frozenset(exclude_genres),
        exclude=frozenset(exclude),
    )


def check_genres(engine: Engine, filters: Filters) -> None:
    for genre in filters.include_genres | filters.exclude_genres:
        if genre not in engine.genre_names:
            raise UserError(f"unknown genre '{genre}'; known genres: {', '.join(engine.genre_names)}")


def resolve_favourites(engine: Engine, titles: list[str], mal_ids: list[int]) -> list[int]:
    """MAL ids for the given titles (fuzzy, refusing ambiguity) and ids."""
    index = TitleIndex(engine.catalog)
    err = Console(stderr=True, highlight=False)
    resolved = []
    for title in titles:
        match = index.resolve(title)
        if match.score < 200:
            err.print(f"'{title}' → {match.title} (MAL id {match.mal_id})")
        resolved.append(match.mal_id)
    for mal_id in mal_ids:
        if mal_id not in engine.by_id:
            raise UserError(f"MAL id {mal_id} is not in the catalogue")
        resolved.append(mal_id)
    return resolved


def print_table(engine: Engine, favourites: list[int], items: list[Recommendation], unknown: list[int], title: str) -> None:
    console = Console(highlight=False)
    if unknown:
        names = ", ".join(engine.by_id.get(m, {}).get("title", str(m)) for m in unknown)
        Console(stderr=True, highlight=False).print(f"[yellow]the model does not know {len(unknown)} favourite(s), ignored: {names}[/]")
    if not items:
        console.print("nothing passes these filters")
        return
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("#", justify="right", min_width=2, no_wrap=True)
    table.add_column("title", min_width=20, overflow="fold")
    table.add_column("type", no_wrap=True, min_width=5)
    table.add_column("eps", justify="right", no_wrap=True, min_width=3)
    wide = console.width >= 110
    if wide:  # on narrow terminals the title matters more than the genres
        table.add_column("genres", max_width=30, overflow="fold")
    table.add_column("match", justify="right", no_wrap=True, min_width=5)
    table.add_column("because you liked", max_width=32, overflow="fold")
    for rank, rec in enumerate(items, start=1):
        genres = [", ".join(rec.genres[:3])] if wide else []
        table.add_row(str(rank), rec.title, rec.type or "?", str(rec.episodes or "?"), *genres, f"{rec.score:.2f}", "; ".join(rec.because))
    console.print(table)


def run_recommend(opts: dict) -> None:
    """Wire options to the engine; one of batch, similar, or a favourites list."""
    # Cheap checks first: a typo in a flag or a missing batch file should not wait for the model.
    filters = build_filters(opts["type"], opts["hide_sequels"], opts["show_adult"], opts["genre"], opts["exclude_genre"], opts["exclude"])
    source = None
    if opts["batch"] is not None:
        source = sys.stdin.buffer if str(opts["batch"]) == "-" else _open(opts["batch"])
    engine = Engine(opts["model"])
    check_genres(engine, filters)
    if source is not None:
        bad = run_batch(engine, source, sys.stdout, opts["top"], filters)
        if bad:
            Console(stderr=True, highlight=False).print(f"[yellow]{bad} line(s) could not be answered (see their error objects)[/]")
            raise UserError(f"{bad} bad line(s) in the batch", exit_code=1)
        return
    if opts["similar"]:
        if opts["titles"]:
            raise UserError("--similar takes one title (or MAL id) on its own; leave out the other titles")
        target = opts["similar"].strip()
        mal_id = int(target) if target.isdigit() and int(target) in engine.by_id else TitleIndex(engine.catalog).resolve(target).mal_id
        items = engine.similar(mal_id, opts["top"], filters)
        _emit(engine, opts, [mal_id], items, [], f"anime like {engine.by_id[mal_id]['title']}")
        return
    favourites = resolve_favourites(engine, opts["titles"], opts["mal_id"])
    if not favourites:
        from animerec_tui.favourites import FavouritesStore

        store = FavouritesStore()
        saved = store.load()
        if store.last_warning:
            Console(stderr=True, highlight=False).print(f"[yellow]{store.last_warning}[/]")
        favourites = saved.favourites
        filters = replace(filters, exclude=filters.exclude | frozenset(saved.excluded))
        if not favourites:
            raise UserError("no favourites: name some titles, pass --mal-id, or add some with 'animerec favourites add'")
    result = engine.recommend(favourites, opts["top"], filters)
    _emit(engine, opts, favourites, result.items, result.unknown, f"top {len(result.items)} for {len(favourites)} favourite(s)")


def _open(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the batch file ({exc.strerror})") from None


def _emit(engine: Engine, opts: dict, favourites: list[int], items: list[Recommendation], unknown: list[int], title: str) -> None:
    if opts["format"] == "json":
        document = {"favourites": favourites, "unknown": unknown, "recommendations": [r.to_dict() for r in items]}
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    else:
        print_table(engine, favourites, items, unknown, title)


def run_batch(engine: Engine, source: IO[bytes], sink: IO[str], k: int, filters: Filters, chunk: int = 512) -> int:
    """Answer a JSONL stream, one line per request; a bad line gets an error object. Returns bad lines."""
    bad = 0
    pending: list[tuple[object, list[int], Filters]] = []

    def flush() -> None:
        results = engine.recommend_many([(favs, f) for _, favs, f in pending], k)
        for (rid, _, _), result in zip(pending, results):
            recs = [{"mal_id": r.mal_id, "title": r.title, "score": r.score} for r in result.items]
            sink.write(json.dumps({"id": rid, "recommendations": recs, "unknown": result.unknown}, ensure_ascii=False) + "\n")
        pending.clear()

    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        request = None
        try:
            request = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
            if not isinstance(request, dict):
                raise ValueError("a line must be a JSON object")
            favourites = _id_list(request.get("favourites"), "favourites")
            exclude = _id_list(request.get("exclude", []), "exclude")
            # An id with a lone surrogate ("\ud800") cannot be written as UTF-8: refuse it here,
            # not with a UnicodeEncodeError halfway through the answers.
            json.dumps(request.get("id"), ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested too deep
            flush()
            bad += 1
            rid = request.get("id") if isinstance(request, dict) else None
            sink.write(json.dumps({"id": rid, "line": number, "error": str(exc).splitlines()[0]}) + "\n")
            continue
        pending.append((request.get("id"), favourites, replace(filters, exclude=filters.exclude | frozenset(exclude))))
        if len(pending) >= chunk:
            flush()
    flush()
    return bad


def _id_list(value, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"'{name}' must be a list of MAL ids (non-negative integers)")
    return value
