"""No code-executing loaders or shell strings anywhere in the shipped code."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("animerec_tui", "training", "scripts", "benchmarks") for p in (REPO / folder).rglob("*.py"))
FORBIDDEN = {
    "pickle": re.compile(r"\bimport pickle\b|\bpickle\.(load|loads)\b|allow_pickle=True"),
    "torch.load without weights_only=True": re.compile(r"torch\.load\((?![^)]*weights_only=True)"),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\("),
    "shell strings": re.compile(r"shell=True|os\.system\(|os\.popen\("),
}


def test_sources_were_found():
    assert len(SOURCES) > 20


def test_no_forbidden_calls():
    hits = [f"{path.relative_to(REPO)}:{n}: {name}" for path in SOURCES for n, line in enumerate(path.read_text().splitlines(), 1)
            for name, pattern in FORBIDDEN.items() if pattern.search(line)]
    assert not hits, "\n".join(hits)


def test_the_checker_catches_what_it_should():
    assert FORBIDDEN["torch.load without weights_only=True"].search("state = torch.load(path)")
    assert not FORBIDDEN["torch.load without weights_only=True"].search("torch.load(path, weights_only=True)")
    assert FORBIDDEN["eval/exec"].search("x = eval(text)")
    assert not FORBIDDEN["eval/exec"].search("model.eval()")
    assert FORBIDDEN["pickle"].search("np.load(f, allow_pickle=True)")
