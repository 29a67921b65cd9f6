"""Reading a Python package index's Simple API: PEP 691 JSON first, the PEP 503 HTML page as fallback.

(PyPI's ``/pypi/<name>/json`` API is not used: some mirrors and proxies do not serve it.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources.download import HttpStatusError, read_url

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT_JSON = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
ACCEPT_HTML = "application/vnd.pypi.simple.v1+html, text/html;q=0.5"


@dataclass(frozen=True)
class IndexFile:
    """One distribution file listed on a project page."""

    filename: str
    url: str
    sha256: str | None
    size: int | None = None
    yanked: bool = False


def normalize_project(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_url(index_url: str, project: str) -> str:
    return index_url.rstrip("/") + "/" + normalize_project(project) + "/"


def project_files(index_url: str, project: str) -> list[IndexFile]:
    """Every file on the project's page of ``index_url``, asking for JSON and accepting HTML."""
    url = project_url(index_url, project)
    try:
        page = read_url(url, accept=ACCEPT_JSON)
    except HttpStatusError as exc:
        if exc.code == 404:
            raise SourceError(
                f"the index {index_url} has no project {project!r} ({url}: HTTP 404)",
                hint="check --source-base-url / CVCUDA_SETUP_INDEX_URL",
            ) from None
        if exc.code != 406:
            raise
        page = read_url(url, accept=ACCEPT_HTML)  # a server that refuses to negotiate JSON
    body = page.body.decode("utf-8", "replace")
    if page.content_type in (JSON_TYPE, "application/json") or (
        not page.content_type and body.lstrip().startswith("{")
    ):
        return parse_json_page(body, page.url)
    return parse_html_page(body, page.url)


def parse_json_page(body: str, page_url: str) -> list[IndexFile]:
    """PEP 691: ``{"files": [{"filename", "url", "hashes": {"sha256"}, "size", "yanked"}, ...]}``."""
    try:
        data = json.loads(body)
        raw_files = data["files"]
        if not isinstance(raw_files, list):
            raise TypeError("'files' is not a list")
        files = [_json_file(entry, page_url) for entry in raw_files]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"the index page {page_url} is not valid PEP 691 JSON ({exc})") from None
    return files


def _json_file(entry: Any, page_url: str) -> IndexFile:
    hashes = entry.get("hashes") or {}
    sha = hashes.get("sha256")
    size = entry.get("size")
    return IndexFile(
        filename=str(entry["filename"]),
        url=urljoin(page_url, str(entry["url"])),
        sha256=str(sha).lower() if sha else None,
        size=int(size) if isinstance(size, int) else None,
        yanked=bool(entry.get("yanked", False)),
    )


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def parse_html_page(body: str, page_url: str) -> list[IndexFile]:
    """PEP 503: one ``<a href="...#sha256=...">filename</a>`` per file; ``data-yanked`` marks yanked ones."""
    parser = _Anchors()
    parser.feed(body)
    parser.close()
    files = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        absolute = urljoin(page_url, href)
        parts = urlsplit(absolute)
        sha = None
        match = re.fullmatch(r"sha256=([0-9a-fA-F]{64})", parts.fragment)
        if match:
            sha = match.group(1).lower()
        url = urlunsplit(parts._replace(fragment=""))
        filename = text or unquote(parts.path.rsplit("/", 1)[-1])
        files.append(IndexFile(filename=filename, url=url, sha256=sha, yanked="data-yanked" in attrs))
    return files
