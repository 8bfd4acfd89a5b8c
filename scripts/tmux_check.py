"""Drive the real ``animerec tui`` in tmux, as a fan over SSH would, and check that every key lands.

    python scripts/tmux_check.py [--sizes 80x24,200x50] [--rounds 10]

For each terminal size: start the app in a detached tmux session (its own ANIMEREC_HOME),
then send "title, ↓, Enter" as one burst per title, ten titles in a row without waiting for
anything, and check the favourites file holds each title's second match (↓ moves the
highlight from the first). Then, as often, open the export dialog (F7), wait for it, and send
"ctrl+u, a path, Enter" as one burst: the file must be written at that path. Then the key
bursts of issue 30, each sent at once and checked on disk:

- a bracketed paste of two lines (``paste-buffer -p``): each line's top match is added;
- "Tab j x x x": the focus moves to the favourites before the j, and the three x remove the
  second, third and fourth favourite (not one of them twice);
- "j j k k k k x": the highlight stops at the top (no wrap to the last) and x removes the first;
- F2, then "Tab Tab Tab 1990 Tab 2005 Enter": each year lands in its own box;
- "Tab j n n n": three recommendations marked not interested, one after the other;
- "/ ctrl+u Esc": Esc on the empty query goes to the recommendations (their keys show in the
  footer), where n marks one more;
- F8 with a MyAnimeList export, then u: the favourites are as before the import.

Prints the screen as tmux shows it; exits 1 when any burst did not land.

Every wait polls for what the screen or the disk shows, with a deadline generous enough for
a machine busy with other work (the test suite runs this beside other tests on two cores): a
fast run never waits for a deadline, a slow one is not failed by it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

START_S = 180
"""How long the app may take to start (catalogue and model loads on a loaded machine)."""
STEP_S = 60
"""How long an add, a dialog opening or closing or an export may take to show."""

MAL_EXPORT = Path(__file__).resolve().parents[1] / "tests" / "data" / "mal_export_small.xml"
"""A small MyAnimeList export (tests/data): its anime scored 7 or more become favourites."""
PASTED = ("odd taxi", "bakemonogatari")
"""The lines of the bracketed paste."""

QUERIES = ["death note", "steins gate", "code geass", "fullmetal", "naruto", "gintama", "cowboy bebop", "monogatari", "evangelion", "haikyuu", "one piece", "bleach"]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-t", session, "-p")


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_until_still(session: str, seconds: float) -> None:
    """Wait until the screen stops changing (results drawn, spinners gone), or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    before = screen(session)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = screen(session)
        if now == before:
            return
        before = now


def expected_adds(count: int) -> tuple[list[str], list[int]]:
    """The first ``count`` queries with two matches or more, and each one's second match."""
    from animerec_tui.catalog import load_catalog
    from animerec_tui.search import TitleIndex

    index = TitleIndex(load_catalog())
    queries, ids = [], []
    for query in QUERIES:
        found = index.search(query, limit=30, hide_adult=True)
        if len(found) >= 2 and found[1].mal_id not in ids:
            queries.append(query)
            ids.append(found[1].mal_id)
        if len(queries) == count:
            break
    return queries, ids


def check(width: int, height: int, queries: list[str], expected: list[int], pasted: list[int], program: str) -> tuple[bool, str]:
    """Run the bursts at one size: (no add lost or wrong, the screen at the end)."""
    from animerec_tui.favourites import FavouritesStore

    home = Path(tempfile.mkdtemp(prefix="animerec-tmux-"))
    session = f"animerec-check-{os.getpid()}-{width}x{height}"
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), f"ANIMEREC_HOME={home} {program} tui")
    try:
        if not wait_for(lambda: "search anime" in screen(session), START_S):
            return False, f"the app did not start within {START_S} s:\n" + screen(session)
        for query in queries:  # one send-keys call each, no pause between them
            tmux("send-keys", "-t", session, query, "Down", "Enter")
        store = FavouritesStore(home / "favourites.json")
        wait_for(lambda: len(store.load().favourites) >= len(expected), STEP_S)
        wait_until_still(session, STEP_S)  # the results catch up for the screen shown below
        shown = screen(session)
        got = store.load().favourites
        ok = got == expected
        if not ok:
            shown += f"\nfavourites: {got}\nexpected:   {expected}"
        missing = export_bursts(session, home, len(queries))
        if missing:
            ok = False
            shown += f"\nexports not written: {missing}\n" + screen(session)
        failures = key_bursts(session, home, pasted)
        if failures:
            ok = False
            shown += "\n" + "\n".join(failures) + "\n" + screen(session)
        return ok, shown
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def export_bursts(session: str, home: Path, rounds: int) -> list[str]:
    """Open F7 and send "ctrl+u, path, Enter" as one burst ``rounds`` times: the paths not written."""
    missing = []

    def dialog_open() -> bool:
        return "The ending picks" in screen(session)

    for round_ in range(rounds):
        path = home / f"export-{round_}.{('md', 'csv', 'json')[round_ % 3]}"
        tmux("send-keys", "-t", session, "F7")
        if not wait_for(dialog_open, STEP_S):  # the path typed now would land in the search box
            return missing + [f"{path.name} and the rest (the export dialog did not open within {STEP_S} s)"]
        tmux("send-keys", "-t", session, "C-u", str(path), "Enter")
        if not wait_for(path.exists, STEP_S):
            missing.append(path.name)
            tmux("send-keys", "-t", session, "Escape")
        if not wait_for(lambda: not dialog_open(), STEP_S):
            return missing + [f"the rest after {path.name} (the export dialog did not close within {STEP_S} s)"]
    return missing


def top_matches(queries: tuple[str, ...]) -> list[int]:
    """Each query's first match, as Enter adds it."""
    from animerec_tui.catalog import load_catalog
    from animerec_tui.search import TitleIndex

    index = TitleIndex(load_catalog())
    return [index.search(query, limit=30, hide_adult=True)[0].mal_id for query in queries]


def key_bursts(session: str, home: Path, pasted: list[int]) -> list[str]:
    """Send the bursts of issue 30 ("Keys"), each at once, and check each on disk: what went wrong."""
    from animerec_tui.favourites import FavouritesStore
    from animerec_tui.settings import SettingsStore

    store = FavouritesStore(home / "favourites.json")
    settings = SettingsStore(home / "settings.json")

    def favourites() -> list[int]:
        return store.load().favourites

    def excluded() -> list[int]:
        return store.load().excluded

    def send(*keys: str) -> None:
        tmux("send-keys", "-t", session, *keys)

    def landed(what: str, got: Callable[[], object], want: object) -> str | None:
        if wait_for(lambda: got() == want, STEP_S):
            return None
        return f"{what}: got {got()}, expected {want}"

    failures: list[str] = []

    def step(result: str | None) -> bool:
        if result is not None:
            failures.append(result)
        return result is None

    before = favourites()
    tmux("set-buffer", "-b", "animerec-check", "\n".join(PASTED))  # the search box has the focus
    tmux("paste-buffer", "-p", "-b", "animerec-check", "-t", session)  # -p: bracketed, as a terminal pastes
    if not step(landed(f"paste of {PASTED}", favourites, before + [i for i in pasted if i not in before])):
        return failures

    before = favourites()
    send("Tab", "j", "x", "x", "x")  # Tab first: the j and the x go to the favourites, not the search box
    if not step(landed("Tab j x x x", favourites, before[:1] + before[4:])):
        return failures

    before = favourites()  # the highlight is on the second
    send("j", "j", "k", "k", "k", "k", "x")  # stops at the top: the first goes, not the last
    if not step(landed("j j k k k k x", favourites, before[1:])):
        return failures

    def filters_open() -> bool:
        return "Types (none = all)" in screen(session)

    send("F2")
    if not step(None if wait_for(filters_open, STEP_S) else f"F2: the filters did not open within {STEP_S} s"):
        return failures
    send("Tab", "Tab", "Tab", "1", "9", "9", "0", "Tab", "2", "0", "0", "5", "Enter")  # types, sequels, adult, from, to
    if not step(landed("F2 Tab Tab Tab 1990 Tab 2005 Enter", lambda: (settings.load().filters.year_from, settings.load().filters.year_to), (1990, 2005))):
        send("Escape")
        return failures
    wait_for(lambda: not filters_open(), STEP_S)
    wait_until_still(session, STEP_S)  # the recommendations for the years

    send("Tab", "j", "n", "n", "n")  # from the favourites to the results: three rows, one after the other
    step(landed("Tab j n n n (how many marked not interested)", lambda: len(set(excluded())), 3))
    # Esc on the empty query goes to the recommendations (their keys in the footer), where n
    # marks one more. Sent apart: ESC and a key after it at once read as alt+key.
    def footer_says(text: str) -> Callable[[], bool]:
        return lambda: text in screen(session).rstrip().splitlines()[-1]

    send("/", "C-u")
    if not step(None if wait_for(footer_says("Next match"), STEP_S) else "/ ctrl+u: the search box did not get the focus"):
        return failures
    send("Escape")
    if not step(None if wait_for(footer_says("Not interested"), STEP_S) else "Esc on an empty query: the recommendations did not get the focus"):
        return failures
    send("n")
    if not step(landed("/ ctrl+u Esc, n (how many marked not interested)", lambda: len(set(excluded())), 4)):
        return failures

    def import_open() -> bool:
        return "Hide what I have" in screen(session)

    before = favourites()
    send("F8")
    if not step(None if wait_for(import_open, STEP_S) else f"F8: the import dialog did not open within {STEP_S} s"):
        return failures
    send("C-u", str(MAL_EXPORT), "Enter")
    if not step(None if wait_for(lambda: favourites() != before and not import_open(), STEP_S) else "F8: the export was not imported"):
        send("Escape")
        return failures
    send("u")  # the focus is back on the results, where u is the app's
    step(landed("u after an import", favourites, before))
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="80x24,200x50")
    parser.add_argument("--rounds", type=int, default=10, help="Titles sent, each as one burst.")
    parser.add_argument("--program", default=str(Path(sys.executable).with_name("animerec")))
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux_check: tmux is not installed", file=sys.stderr)
        return 2
    queries, expected = expected_adds(args.rounds)
    pasted = top_matches(PASTED)
    failed = False
    for size in args.sizes.split(","):
        width, height = (int(n) for n in size.lower().split("x"))
        ok, screen = check(width, height, queries, expected, pasted, args.program)
        print(f"--- {width}x{height}: {'all ' + str(len(expected)) + ' adds and exports arrived, and every key burst landed' if ok else 'FAILED'}\n{screen}")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
