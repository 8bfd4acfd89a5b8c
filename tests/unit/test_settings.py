"""settings.json: a bad field costs that field, a file that cannot be trusted is never
written over, and two terminals changing different settings keep both changes."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animerec_tui.engine import Filters
from animerec_tui.settings import Settings, SettingsStore
from training.errors import UserError

GOOD = {
    "version": 1,
    "filters": {"types": ["TV"], "hide_sequels": True, "novelty": 0.5, "year_from": 2000},
    "theme": "nord",
    "watched": [1, 5, 9],
    "hide_watched": True,
}
GOOD_FILTERS = Filters(types=frozenset({"TV"}), hide_sequels=True, novelty=0.5, year_from=2000)


def within_seconds(limit: float, call):
    """``call()``'s result, failing (not hanging the suite) when it blocks longer than ``limit``."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"blocked for over {limit} s"
    return result[0]


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("types", 5), ("types", [[1]]), ("types", [{}]), ("types", "TV"), ("include_genres", 5),
        ("include_genres", [{}]), ("exclude_genres", [["Drama"]]), ("exclude_genres", {"a": 1}),
        ("novelty", 10**400), ("novelty", -(10**400)), ("new_share", 10**400), ("novelty", "0.5"),
        ("novelty", True), ("hide_adult", 1), ("year_to", 10**400), ("year_from", 1.5e308), ("year_from", "2000"),
    ],
)
def test_a_filter_of_the_wrong_type_is_dropped_and_the_rest_kept(tmp_path, key, value):
    document = {**GOOD, "filters": {**GOOD["filters"], key: value}}
    loaded = SettingsStore(write(tmp_path / "settings.json", document)).load()
    expected = GOOD_FILTERS if key not in GOOD["filters"] else Filters(**{**GOOD_FILTERS.__dict__, key: getattr(Filters(), key)})
    assert loaded.filters == expected
    assert loaded.theme == "nord" and loaded.watched == (1, 5, 9) and loaded.hide_watched
    assert key in loaded.warning and "\n" not in loaded.warning
    assert loaded.writable, "a dropped field was reported; the rest may be written again"


@pytest.mark.parametrize(
    ("key", "value"),
    [("filters", 5), ("filters", [[1]]), ("theme", 3), ("theme", ["nord"]), ("watched", 5), ("watched", [True]),
     ("watched", [0]), ("watched", [[1]]), ("watched", [1.5]), ("hide_watched", "yes"),
     ("english_titles", "yes"), ("english_titles", 1), ("export_extension", ".exe"), ("export_extension", [".md"])],
)
def test_a_top_level_field_of_the_wrong_type_is_dropped(tmp_path, key, value):
    loaded = SettingsStore(write(tmp_path / "settings.json", {**GOOD, key: value})).load()
    assert key in loaded.warning and loaded.writable
    for other in ("filters", "theme", "watched", "hide_watched"):
        if other != key:
            assert getattr(loaded, other) == getattr(SettingsStore(write(tmp_path / "good.json", GOOD)).load(), other)


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=6)
    | st.sampled_from(["TV", "Movie", "Drama", "nord"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["types", "include_genres", "exclude_genres", "novelty", "new_share", "year_from", "year_to",
                         "hide_adult", "hide_sequels", "one_per_franchise", "x"]) | st.text(max_size=4), inner, max_size=5),
    max_leaves=16,
)
DOCUMENT = st.one_of(
    JSON_VALUE,
    st.fixed_dictionaries(
        {"version": st.sampled_from([1, 1, 1, 2, 0, "1", None, True, 10**400])},
        optional={"filters": JSON_VALUE, "theme": JSON_VALUE, "watched": JSON_VALUE, "hide_watched": JSON_VALUE, "other": JSON_VALUE},
    ),
)


@settings(max_examples=150, deadline=None)
@given(DOCUMENT)
def test_any_json_document_loads_without_raising(document):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_text(json.dumps(document))
        loaded = SettingsStore(path).load()
        assert isinstance(loaded, Settings) and isinstance(loaded.filters, Filters)
        assert loaded.warning is None or "\n" not in loaded.warning
        if loaded.writable:  # writing it back must work and read back the same
            again = SettingsStore(path).update(theme=loaded.theme)
            assert SettingsStore(path).load() == again
        else:
            assert loaded.warning and path.read_text() == json.dumps(document)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_load_without_raising(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_bytes(data)
        loaded = SettingsStore(path).load()
        assert isinstance(loaded, Settings)


UNTRUSTED = {
    "not-json": ("{not json", "not JSON"),
    "control": ("\x00\x01", "not JSON"),
    "deep": ("[" * 100_000, "not JSON"),
    "not-an-object": ("[1, 2]", "not a settings file"),
    "newer": ({**GOOD, "version": 2, "sort": "year"}, "newer animerec"),
    "no-version": ({k: v for k, v in GOOD.items() if k != "version"}, "not a settings file"),
    "unknown-key": ({**GOOD, "sort": "year"}, "sort"),
    "unknown-filter": ({**GOOD, "filters": {**GOOD["filters"], "min_score": 7}}, "filters.min_score"),
}


@pytest.mark.parametrize("case", sorted(UNTRUSTED))
def test_a_file_that_cannot_be_trusted_is_never_written_over(tmp_path, case):
    content, reason = UNTRUSTED[case]
    path = write(tmp_path / "settings.json", content)
    before = path.read_bytes()
    store = SettingsStore(path)
    loaded = store.load()
    assert not loaded.writable and reason in loaded.warning and str(path) in loaded.warning
    for change in ({"filters": Filters(hide_adult=False)}, {"theme": "dark"}, {"watched": (3,)}, {"hide_watched": True}):
        with pytest.raises(UserError) as info:
            store.update(**change)
        assert str(path) in str(info.value) and reason in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["settings.json"]


def test_known_fields_of_a_file_with_unknown_ones_are_still_used(tmp_path):
    loaded = SettingsStore(write(tmp_path / "settings.json", {**GOOD, "sort": "year"})).load()
    assert loaded.filters == GOOD_FILTERS and loaded.watched == (1, 5, 9) and not loaded.writable


def test_a_folder_in_its_place_is_refused_not_written_over(tmp_path):
    (tmp_path / "settings.json").mkdir()
    (tmp_path / "settings.json" / "keep").write_text("x")
    store = SettingsStore(tmp_path / "settings.json")
    assert not store.load().writable and "folder" in store.load().warning
    with pytest.raises(UserError):
        store.update(theme="dark")
    assert (tmp_path / "settings.json" / "keep").read_text() == "x"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_in_its_place_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "settings.json")
    loaded = within_seconds(5, SettingsStore(tmp_path / "settings.json").load)  # blocked forever before
    assert not loaded.writable and "not a regular file" in loaded.warning


def test_a_dropped_field_is_written_again_with_its_default(tmp_path):
    path = write(tmp_path / "settings.json", {**GOOD, "theme": 3})
    store = SettingsStore(path)
    written = store.update(hide_watched=False)
    assert written.warning is None and written.theme is None and written.watched == (1, 5, 9)
    assert store.load() == written


def test_two_terminals_changing_different_fields_keep_both(tmp_path):
    path = tmp_path / "settings.json"
    a, b = SettingsStore(path), SettingsStore(path)
    a.update(filters=GOOD_FILTERS, theme="nord")
    seen_by_b = b.load()  # B's screen, before A imports
    a.update(watched=(1, 2, 3, 4, 5, 6, 7), hide_watched=True)  # A imports a MAL list
    written = b.update(filters=Filters(hide_adult=False))  # then B presses F3 with its old copy
    assert seen_by_b.watched == ()
    loaded = a.load()
    assert loaded == written
    assert loaded.watched == (1, 2, 3, 4, 5, 6, 7) and loaded.hide_watched, "A's import survived"
    assert loaded.filters == Filters(hide_adult=False) and loaded.theme == "nord"


def test_a_file_from_before_the_title_and_export_choices_loads_and_gains_them(tmp_path):
    store = SettingsStore(write(tmp_path / "settings.json", GOOD))  # no english_titles, no export_extension
    before = store.load()
    assert before.warning is None and (before.english_titles, before.export_extension) == (False, ".md")
    after = store.update(english_titles=True, export_extension=".csv")
    assert store.load() == after and (after.english_titles, after.export_extension, after.watched, after.filters) == (True, ".csv", before.watched, before.filters)
    with pytest.raises(TypeError):
        store.update(export_extension=".exe")


def test_update_returns_the_merged_settings_and_refuses_unknown_fields(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    assert store.update(theme="nord") == Settings(theme="nord")
    assert store.update(watched=[3, 3, 1]).watched == (3, 1)
    with pytest.raises(TypeError):
        store.update(colour="red")
    with pytest.raises(TypeError):
        store.update(watched=[0])
    assert store.load() == Settings(theme="nord", watched=(3, 1))


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_symlinked_file_stays_a_link_and_its_target_is_updated(tmp_path):
    (tmp_path / "dotfiles").mkdir()
    target = write(tmp_path / "dotfiles" / "animerec-settings.json", GOOD)
    link = tmp_path / "settings.json"
    link.symlink_to(Path("dotfiles") / "animerec-settings.json")
    SettingsStore(link).update(theme="dark")
    assert link.is_symlink() and json.loads(target.read_text())["theme"] == "dark"
    assert SettingsStore(link).load().watched == (1, 5, 9)
    assert (tmp_path / "dotfiles" / "animerec-settings.json.lock").exists(), "one lock for every link to the file"


def test_a_settings_file_made_read_only_is_not_replaced(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    store.update(theme="nord")
    (tmp_path / "settings.json").chmod(0o444)
    before = (tmp_path / "settings.json").read_bytes()
    with pytest.raises(UserError, match="is read-only, so the settings were not changed"):
        store.update(theme="dracula")
    assert (tmp_path / "settings.json").read_bytes() == before
