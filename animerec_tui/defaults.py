"""The app's own defaults and labels, each declared once with its reason, for the command line
and the TUI alike. Imports nothing, so ``animerec --help`` can read it.

The model's and the training's defaults are not here: they are fields of
``training.config.TrainConfig`` and ``training.model_config.ModelConfig``. The engine's
``Filters``, the MAL import and the TUI take theirs from here (the engine needs numpy, which
``--help`` must not load, so the values cannot live there).
"""

from __future__ import annotations

RECOMMEND_TOP = 20
"""How many recommendations ``animerec recommend`` prints: a table that fits a terminal's screen."""
APP_TOP = 50
"""How many the TUI's results list holds: it scrolls, so it can hold more than a screen."""
SIMILAR_TOP = 10
"""How many similar anime a details view lists (and ``Engine.similar`` gives unless asked)."""
FRANCHISE_SPACING = 20
"""With one entry per franchise (the default), a franchise's next entry comes at least this
many places after its previous one: one per franchise on ``recommend``'s first 20, as before,
and a longer list (the TUI's 50, ``--top 100``) holds a franchise's later entries further down
instead of leaving them out. On the shipped model's 5,230 validation users, as the app ranks
(top 100): NDCG@10 0.2450 either way, Recall@50 / @100 0.5994 / 0.6989 with one per franchise
in the whole list, 0.6189 / 0.7272 spaced by 20, 0.6214 / 0.7275 by 10 (replayed on the lists; benchmarks/RESULTS.md,
"Franchises in long lists")."""
TOP_LIMIT = 1000
"""The most ``--top`` may ask for."""

THREADS = 1
"""Threads of the scoring arithmetic: with one core of two busy, one thread answered a
recommendation at p99 much faster than two, and on an idle machine two were no faster
(benchmarks/RESULTS.md, "Recommendations" under Speed, has the figures)."""
THREADS_LIMIT = 256
JOBS_LIMIT = 64
"""The most worker processes ``recommend --batch --jobs`` takes."""

YEAR_MIN, YEAR_MAX = 1900, 2100
"""The years the year filters accept (--year-from, --year-to, the TUI's and settings.json's):
every anime's, with room to spare."""

NEW_SHARE = 0.2
"""At most this share of a list are anime without ratings yet (``engine.Filters.new_share``,
which says why: benchmarks/RESULTS.md, "Anime without ratings")."""
NEW_SHARE_STEPS = (NEW_SHARE, 0.5, 1.0, 0.0)
"""The shares the TUI's F6 steps through, from the default and round."""
NOVELTY = 0.0
"""No lean away from the popularity prior: the model as trained (``engine.Filters.novelty``)."""
SHORT_LIST_BLEND = {1: 3.0, 2: 3.0}
"""The item-item blend's weight times this for a list of 1 or 2 favourites (``BlendedScorer.short``).
On the shipped model's 5,230 validation users cut to one favourite (benchmarks/short_lists.py,
the weights since 2026-12-07): NDCG@10 0.0513 at x1, 0.0509 at x3, 0.0480 at x10; results
whose first reason is the favourite, not "your whole list", 62%, 71%, 81%. At two: 0.0600 /
0.0593 / 0.0565 and 77% / 89% / 96%. x3 is the largest multiple within a standard error of
x1's NDCG@10 at both lengths (chosen on the previous weights, which said the same)."""
SIMILAR_BLEND = 30.0
"""The item-item blend's weight times this for "anime like this one" (``Engine.similar``): the
smallest multiple of those measured (3, 10, 30) whose top 10 for one favourite are at least 90%
that anime's own (94%, against 61% as a recommendation; NDCG@10 of a fan's held-out anime 0.0416
against 0.0511: a list about one title, not a guess at a whole taste; on the weights since
2026-12-07, 94% and 0.0422 against 0.0513)."""

SIMILAR_METADATA = 0.5
"""For an anime without ratings, "anime like this one" (``Engine.similar``) adds this many standard
deviations of the model's scores (over the rated anime) times how alike each candidate's vector
and that anime's metadata are (cosine, standardised over the rated anime): it has no item-item
weights, and the model's vote of one metadata-only favourite is mostly the popularity prior
("like Sousou no Frieren" gave Death Note, Shingeki no Kyojin, FMA:B). Rated anime made
metadata-only stand in (benchmarks/similar_metadata.py, 800 of them, their lists against their
own 10 largest item-item weights): NDCG@10 0.1012 with none, 0.1454 / 0.1503 / 0.1485 / 0.1471
at 0.25 / 0.5 / 0.75 / 1 on the first 400, which chose 0.5; on the other 400 0.1475 ± 0.0084
against 0.1025 ± 0.0068 (their lists with their ratings: 0.3534). Described as sparsely as
anime of 2023 on are (``--stripped``): 0.0691 against 0.0520 (benchmarks/RESULTS.md, "Anime like
one without ratings")."""

MAL_MIN_SCORE = 7
"""A MyAnimeList score at or above this makes a favourite on import (``malimport.liked``)."""

METADATA_ONLY = "no ratings yet: known from its genres, studio and year"
"""How an anime the model knows from its metadata alone is described in full."""
NEW_TAG = "new"
"""Its short mark in lists and tables, put first so a narrow pane's ellipsis keeps it."""
