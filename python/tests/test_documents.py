"""documents/partition on real files of each format (made by fixtures/make_documents.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from make_documents import write_all
from nvisy_documents import Partition

from nvisy_plugin import Document, Object, PermanentError


def _run(folder: Path, config: dict[str, str] | None = None) -> dict[str, Document]:
    write_all(folder)
    objs = [Object(f.name, f.read_bytes(), {"size": f.stat().st_size}, f.name) for f in sorted(folder.iterdir())]
    p = Partition.create(config or {})

    async def go() -> list[Document]:
        return [d async for d in p.transform(objs)]

    return {d.metadata["path"]: d for d in asyncio.run(go())}


def test_each_format(tmp_path: Path) -> None:
    docs = _run(tmp_path)
    txt = docs["notes.txt"]
    assert txt.text == "First paragraph.\n\nSecond paragraph, ünïcode ✓."
    assert txt.metadata["format"] == "text" and txt.metadata["source"]["size"] > 0

    md = docs["guide.md"]
    assert [s["title"] for s in md.metadata["sections"]] == ["Guide", "Install", "Use"]
    install = md.metadata["sections"][1]
    assert md.text[install["start"]:install["end"]].startswith("Install\n\nRun `make`.")
    assert "code block" in md.text

    html = docs["page.html"]
    assert html.metadata["title"] == "Sample Page"
    assert "var x" not in html.text and "Hello world." in html.text
    assert [(s["title"], s["level"]) for s in html.metadata["sections"]] == [("Welcome", 1), ("More", 2)]

    pdf = docs["report.pdf"]
    assert pdf.metadata["pageCount"] == 2 and pdf.metadata["title"] == "Sample PDF"
    p2 = pdf.metadata["pages"][1]
    assert pdf.text[p2["start"]:p2["end"]] == "Page two text"

    docx = docs["memo.docx"]
    assert docx.metadata["title"] == "Sample DOCX"
    assert [s["title"] for s in docx.metadata["sections"]] == ["Overview", "Details"]
    assert "key | value" in docx.text


def test_unsupported_is_a_per_item_error_naming_the_file(tmp_path: Path) -> None:
    docs = _run(tmp_path)
    bad = docs["data.xyz"]
    assert bad.text == "" and bad.metadata["error"]["message"].startswith("data.xyz: unsupported type (.xyz)")
    assert len(docs) == 6  # the others still came through
    assert "data.xyz" not in _run(tmp_path / "skip", {"on_error": "skip"})
    with pytest.raises(PermanentError, match="data.xyz"):
        _run(tmp_path / "fail", {"on_error": "fail"})


def test_corrupt_pdf_names_the_file(tmp_path: Path) -> None:
    p = Partition.create({})

    async def go() -> list[Document]:
        return [d async for d in p.transform([Object("broken.pdf", b"%PDF-1.4 garbage")])]

    (doc,) = asyncio.run(go())
    assert doc.metadata["error"]["message"].startswith("broken.pdf: cannot read as pdf")
