"""The note a one- or two-favourite list gets on stderr: the list leans on what most fans loved."""

from __future__ import annotations

from types import SimpleNamespace

from animerec_tui.short_lists import short_list_note


def engine_knowing(*ids: int) -> SimpleNamespace:
    return SimpleNamespace(knows=lambda m: m in ids)


def test_one_or_two_known_favourites_get_the_note_and_say_how_to_lean():
    note = short_list_note(engine_knowing(1, 2, 3), [1], novelty=0.0)
    assert note is not None and note.startswith("With 1 favourite") and "--novelty" in note
    assert short_list_note(engine_knowing(1, 2, 3), [1, 2, 2], novelty=0.0).startswith("With 2 favourites")
    assert short_list_note(engine_knowing(1), [1], 0.0, lean="add a few more, or F5") == (
        "With 1 favourite the list leans on what most fans loved; add a few more, or F5 for picks nearer to yours"
    )


def test_longer_lists_a_lean_already_asked_for_and_unknown_favourites_get_none():
    assert short_list_note(engine_knowing(1, 2, 3), [1, 2, 3], novelty=0.0) is None
    assert short_list_note(engine_knowing(1), [1], novelty=0.5) is None
    assert short_list_note(engine_knowing(), [7], novelty=0.0) is None  # nothing known: other lines say so
    # unknown favourites do not count towards the length: two known of three typed is short
    assert short_list_note(engine_knowing(1, 2), [1, 2, 9], novelty=0.0) is not None
