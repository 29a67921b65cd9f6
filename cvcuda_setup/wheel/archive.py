"""Writing a wheel file: METADATA, WHEEL, top_level.txt, RECORD and the zip itself.

RECORD lists every file as ``path,sha256=<urlsafe base64 of the digest, no padding>,<size>``, and itself as
``path,,`` (the binary distribution format spec). Entries are written in sorted order with the .dist-info
files last and a fixed timestamp (``SOURCE_DATE_EPOCH`` when set), so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import stat
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup import __version__

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def record_hash(data: bytes) -> str:
    """``sha256=<urlsafe base64, no padding>`` as RECORD writes it."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def record_text(files: Mapping[str, bytes], record_path: str) -> str:
    """RECORD for ``files`` (archive path -> bytes), RECORD's own line last with empty hash and size."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for name in sorted(files):
        data = files[name]
        writer.writerow([name, record_hash(data), str(len(data))])
    writer.writerow([record_path, "", ""])
    return out.getvalue()


def parse_record(text: str) -> list[tuple[str, str, str]]:
    return [(row[0], row[1], row[2]) for row in csv.reader(io.StringIO(text)) if row]


@dataclass(frozen=True)
class Metadata:
    name: str
    version: str
    summary: str
    requires_python: str
    requires_dist: tuple[str, ...] = ()
    description: str = ""
    license: str = "Apache-2.0"
    home_page: str = "https://opencv.org"
    keywords: tuple[str, ...] = ()


def metadata_text(meta: Metadata) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {meta.name}",
        f"Version: {meta.version}",
        f"Summary: {meta.summary}",
        f"Home-page: {meta.home_page}",
        f"License: {meta.license}",
        f"Requires-Python: {meta.requires_python}",
    ]
    if meta.keywords:
        lines.append(f"Keywords: {','.join(meta.keywords)}")
    lines += [f"Requires-Dist: {req}" for req in meta.requires_dist]
    lines.append("Description-Content-Type: text/markdown")
    text = "\n".join(lines) + "\n"
    if meta.description:
        text += "\n" + meta.description.rstrip("\n") + "\n"
    return text


def wheel_text(tag: str) -> str:
    return "\n".join(
        [
            "Wheel-Version: 1.0",
            f"Generator: cvcuda-setup {__version__}",
            "Root-Is-Purelib: false",
            f"Tag: {tag}",
            "",
        ]
    )


def _date_time() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        t = time.gmtime(max(int(epoch), 315532800))  # zip cannot store dates before 1980
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return _ZIP_EPOCH


def write_wheel(path: Path, files: Mapping[str, bytes], executable: Iterable[str], dist_info: str) -> None:
    """Write ``files`` plus ``<dist_info>/RECORD`` to ``path``; ``executable`` names get mode 755."""
    record_path = f"{dist_info}/RECORD"
    if record_path in files:
        raise ValueError(f"{record_path} is written by write_wheel, not passed in")
    all_files = dict(files)
    all_files[record_path] = record_text(files, record_path).encode()
    exec_set = set(executable)
    order = sorted((n for n in all_files if not n.startswith(dist_info + "/")), key=str)
    order += sorted((n for n in all_files if n.startswith(dist_info + "/") and n != record_path), key=str)
    order.append(record_path)
    date_time = _date_time()
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=date_time)
            mode = 0o755 if name in exec_set else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, all_files[name])
    tmp.replace(path)


def check_wheel(path: Path) -> list[str]:
    """Problems with a wheel's RECORD (missing, extra or wrong entries); empty when it is right."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        records = [n for n in names if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            return [f"expected one .dist-info/RECORD, found {len(records)}"]
        rows = parse_record(zf.read(records[0]).decode())
        listed = {row[0] for row in rows}
        for name in names:
            if name.endswith("/"):
                continue
            if name not in listed:
                problems.append(f"{name} is not in RECORD")
        for name, digest, size in rows:
            if name == records[0]:
                if digest or size:
                    problems.append("RECORD's own line must have empty hash and size")
                continue
            if name not in names:
                problems.append(f"RECORD lists {name}, which is not in the wheel")
                continue
            data = zf.read(name)
            if digest != record_hash(data):
                problems.append(f"{name}: hash {digest} != {record_hash(data)}")
            if size != str(len(data)):
                problems.append(f"{name}: size {size} != {len(data)}")
    return problems
