"""HTTP(S) and file downloads: sha256-verified, written to a temp file beside the target, then renamed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cvcuda_setup import __version__
from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources.cache import publish_mode
from cvcuda_setup.sources.checksum import sha256_file

USER_AGENT = f"cvcuda-setup/{__version__}"
TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class HttpStatusError(SourceError):
    """An HTTP error status from a server; ``code`` is the status."""

    def __init__(self, message: str, *, code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


@dataclass(frozen=True)
class Fetched:
    """A small document read from a URL (an index page)."""

    url: str
    content_type: str
    body: bytes


def _request(url: str, accept: str | None) -> urllib.request.Request:
    if url.startswith("file:") and url.endswith("/"):
        url += "index.html"  # a file:// simple index is a directory tree of index.html pages
    headers = {"User-Agent": USER_AGENT}
    if accept:
        headers["Accept"] = accept
    return urllib.request.Request(url, headers=headers)


@contextlib.contextmanager
def open_url(url: str, *, accept: str | None = None) -> Iterator[IO[bytes]]:
    """Open a URL for reading; HTTP and network failures become one-line SourceErrors naming the URL."""
    try:
        response = urllib.request.urlopen(_request(url, accept), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise HttpStatusError(f"{url}: HTTP {exc.code} {exc.reason}", code=exc.code) from None
    except urllib.error.URLError as exc:
        raise SourceError(
            f"cannot reach {url}: {exc.reason}", hint="check the network or the mirror URL"
        ) from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot open {url}: {exc}") from None
    with response:
        yield response


def read_url(url: str, *, accept: str | None = None) -> Fetched:
    """Read a small document whole (an index page), with its final URL and content type."""
    with open_url(url, accept=accept) as response:
        try:
            body = response.read()
        except OSError as exc:
            raise SourceError(f"reading {url} failed: {exc}") from None
        content_type = ""
        headers = getattr(response, "headers", None)
        if headers is not None:
            content_type = headers.get("Content-Type", "") or ""
        final = getattr(response, "url", None) or url
    return Fetched(url=str(final), content_type=content_type.split(";")[0].strip().lower(), body=body)


class _Meter:
    """Progress on stderr: a transient rich bar on a terminal, a few plain lines otherwise."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self._next_quarter = 1
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Meter:
        if console.interactive:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console.err,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total)
        else:
            size = f" ({_mb(self.total)})" if self.total else ""
            console.info(f"downloading {self.label}{size}")
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=n)
            return
        if self.total and self._next_quarter < 4 and self.done * 4 >= self.total * self._next_quarter:
            console.info(f"  {self.label}: {self._next_quarter * 25}% of {_mb(self.total)}")
            self._next_quarter += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        if exc_type is None:
            elapsed = time.monotonic() - self.start
            console.info(f"downloaded {self.label} ({_mb(self.done)} in {elapsed:.1f} s)")


def _mb(n: int | None) -> str:
    return f"{(n or 0) / 1e6:.1f} MB"


def download(url: str, dest: Path, sha256: str, *, size: int | None = None) -> Path:
    """Download ``url`` to ``dest``, verified against ``sha256``; an existing verified ``dest`` is reused.

    The data goes to a temp file in ``dest``'s directory and is renamed into place only after its sha256
    matched. On a mismatch the temp file (ours) is removed; the SourceError gives expected, got and the URL.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        if sha256_file(dest) == sha256:
            return dest
        dest.unlink()  # our own cached file, corrupted: fetch it again
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open_url(url) as response:
            length = size
            headers = getattr(response, "headers", None)
            if length is None and headers is not None and headers.get("Content-Length", "").isdigit():
                length = int(headers["Content-Length"])
            with _Meter(dest.name, length) as meter:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except OSError as exc:
                        raise SourceError(f"download of {url} failed: {exc}") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    meter.advance(len(chunk))
        got = digest.hexdigest()
        if got != sha256:
            raise SourceError(
                f"sha256 mismatch for {url}: expected {sha256}, got {got}",
                hint="the file was removed; check --sha256 or the mirror",
            )
        publish_mode(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
