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
    "an XML parser other than defusedxml": re.compile(r"^\s*(from|import)\s+(xml\.(etree|dom|sax|parsers)|lxml)\b"),
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
    assert FORBIDDEN["an XML parser other than defusedxml"].search("import xml.etree.ElementTree as ET")
    assert FORBIDDEN["an XML parser other than defusedxml"].search("    from xml.parsers import expat")
    assert not FORBIDDEN["an XML parser other than defusedxml"].search("import defusedxml.ElementTree as SafeET")


def test_the_mal_import_refuses_dtds_through_defusedxml():
    """The streaming import keeps defusedxml's refusals: a DTD, entities, external references."""
    import gzip
    import tempfile

    import pytest

    from animerec_tui.malimport import read_mal_export
    from training.errors import UserError

    documents = [
        '<!DOCTYPE m [<!ENTITY a "b">]><myanimelist>&a;</myanimelist>',
        '<!DOCTYPE myanimelist SYSTEM "http://example.invalid/x.dtd"><myanimelist/>',
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><myanimelist><anime>&x;</anime></myanimelist>',
    ]
    with tempfile.TemporaryDirectory() as folder:
        for n, document in enumerate(documents):
            for data in (document.encode(), gzip.compress(document.encode())):
                path = Path(folder) / f"{n}.xml"
                path.write_bytes(data)
                with pytest.raises(UserError, match="DTD or entities"):
                    read_mal_export(path, progress=lambda count: None)
