"""nvisy provider ``documents/partition``: objects → documents.

Extracts the text of plain text, Markdown, HTML, PDF and DOCX objects and keeps their
structure in metadata: ``sections`` (heading title, level and the character range of the
section in ``text``) and, for PDF, ``pages`` (page number and character range). The format
comes from ``metadata.contentType`` or the path's extension. An object that cannot be read
(unsupported type, corrupt file) becomes, by ``on_error``: a document with empty text and
``metadata.error`` naming the file (``emit``, the default), nothing (``skip``), or a failed
call (``fail``) — never a crashed run.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from nvisy_plugin import Document, Object, PermanentError, Transform

__version__ = "0.1.0"
log = logging.getLogger("nvisy.documents")

FORMATS = {
    ".txt": "text", ".text": "text", ".log": "text", ".csv": "text",
    ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
CONTENT_TYPES = {
    "text/plain": "text", "text/markdown": "markdown", "text/html": "html", "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}


class PartitionConfig(BaseModel):
    on_error: Literal["emit", "skip", "fail"] = Field("emit", description="What an unreadable object becomes.")
    encoding: str = Field("utf-8", description="Text encoding of plain text, Markdown and HTML without a charset.")


class UnsupportedType(Exception):
    pass


class _Builder:
    """Accumulates text blocks and the sections they belong to."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[dict[str, Any]] = []

    def heading(self, title: str, level: int) -> None:
        self._close(level)
        start = self.length + (2 if self.parts else 0)
        self.sections.append({"title": title.strip(), "level": level, "start": start, "end": None})
        self.add(title)

    def add(self, block: str) -> None:
        block = block.strip()
        if not block:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.parts.append(block)
        self.length += len(block)

    def _close(self, level: int) -> None:
        for s in self.sections:
            if s["end"] is None and s["level"] >= level:
                s["end"] = self.length

    def finish(self) -> tuple[str, list[dict[str, Any]]]:
        self._close(0)
        return "".join(self.parts), self.sections


def detect(obj: Object) -> str:
    ct = str(obj.metadata.get("contentType") or "").split(";")[0].strip().lower()
    if ct in CONTENT_TYPES:
        return CONTENT_TYPES[ct]
    ext = os.path.splitext(obj.path)[1].lower()
    if ext in FORMATS:
        return FORMATS[ext]
    raise UnsupportedType(f"unsupported type ({ext or 'no extension'}{', ' + ct if ct else ''}); "
                          f"supported: {', '.join(sorted(set(FORMATS)))}")


def _text(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return data.decode("latin-1")


def plain(data: bytes, cfg: PartitionConfig) -> tuple[str, dict[str, Any]]:
    b = _Builder()
    for para in _text(data, cfg.encoding).replace("\r\n", "\n").split("\n\n"):
        b.add(para)
    text, sections = b.finish()
    return text, {"sections": sections}


def markdown(data: bytes, cfg: PartitionConfig) -> tuple[str, dict[str, Any]]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(_text(data, cfg.encoding))
    b = _Builder()
    level = 0
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            level = int(t.tag[1:])
        elif t.type == "inline" and level:
            b.heading(t.content, level)
            level = 0
        elif t.type == "inline":
            b.add(t.content)
        elif t.type in ("fence", "code_block"):
            b.add(t.content)
    text, sections = b.finish()
    return text, {"sections": sections}


def html(data: bytes, cfg: PartitionConfig) -> tuple[str, dict[str, Any]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser", from_encoding=None if data[:4096].lower().find(b"charset") >= 0 else cfg.encoding)
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    body = soup.body or soup
    b = _Builder()
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption"]
    for el in body.find_all(blocks):
        if el.find_parent(blocks) is not None:
            continue
        txt = " ".join(el.get_text().split())
        if el.name[0] == "h" and el.name[1:].isdigit():
            b.heading(txt, int(el.name[1:]))
        else:
            b.add(txt)
    text, sections = b.finish()
    meta: dict[str, Any] = {"sections": sections}
    if title:
        meta["title"] = title
    return text, meta


def pdf(data: bytes, cfg: PartitionConfig) -> tuple[str, dict[str, Any]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    b = _Builder()
    pages = []
    for n, page in enumerate(reader.pages, start=1):
        start = b.length + (2 if b.parts else 0)
        before = b.length
        b.add(page.extract_text() or "")
        pages.append({"number": n, "start": start if b.length > before else b.length, "end": b.length})
    text, sections = b.finish()
    meta: dict[str, Any] = {"pages": pages, "pageCount": len(pages), "sections": sections}
    info = reader.metadata
    if info and info.title:
        meta["title"] = str(info.title)
    return text, meta


def docx(data: bytes, cfg: PartitionConfig) -> tuple[str, dict[str, Any]]:
    import docx as python_docx

    d = python_docx.Document(io.BytesIO(data))
    b = _Builder()
    for p in d.paragraphs:
        style = (p.style.name if p.style is not None else "") or ""
        if style == "Title":
            b.heading(p.text, 0 + 1)
        elif style.startswith("Heading") and style[7:].strip().isdigit():
            b.heading(p.text, int(style[7:].strip()))
        else:
            b.add(p.text)
    for table in d.tables:
        for row in table.rows:
            b.add(" | ".join(c.text.strip() for c in row.cells))
    text, sections = b.finish()
    meta: dict[str, Any] = {"sections": sections}
    if d.core_properties.title:
        meta["title"] = d.core_properties.title
    return text, meta


EXTRACTORS = {"text": plain, "markdown": markdown, "html": html, "pdf": pdf, "docx": docx}


class Partition(Transform[PartitionConfig]):
    """Objects → documents: text and structure of text, Markdown, HTML, PDF and DOCX."""

    name = "partition"
    data_type = "document"
    input_data_type = "object"
    config_model = PartitionConfig

    async def transform(self, items: list[Object]) -> AsyncIterator[Document]:
        for obj in items:
            try:
                fmt = detect(obj)
                text, meta = EXTRACTORS[fmt](bytes(obj.data), self.config)
            except Exception as e:
                why = f"{obj.path}: {e}" if isinstance(e, UnsupportedType) else f"{obj.path}: cannot read as {_safe_detect(obj)}: {type(e).__name__}: {e}"
                if self.config.on_error == "fail":
                    raise PermanentError(why) from e
                if self.config.on_error == "skip":
                    log.warning("skipped %s", why)
                    continue
                yield Document("", {"path": obj.path, "error": {"type": type(e).__name__, "message": why}},
                               resume_token=obj.resume_token)
                continue
            meta.update({"path": obj.path, "format": fmt, "chars": len(text)})
            if obj.metadata:
                meta["source"] = dict(obj.metadata)
            yield Document(text, meta, resume_token=obj.resume_token)


def _safe_detect(obj: Object) -> str:
    try:
        return detect(obj)
    except UnsupportedType:
        return "?"


PROVIDERS = [Partition]
