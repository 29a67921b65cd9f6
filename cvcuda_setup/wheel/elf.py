"""A small ELF reader: DT_NEEDED, DT_SONAME, DT_RPATH/DT_RUNPATH, and an in-place RUNPATH rewrite.

Enough to bundle OpenCV's shared libraries without pyelftools or readelf. The rewrite is what ``chrpath``
does: the new path overwrites the old one inside ``.dynstr`` and must not be longer. It is the fallback for
hosts without ``patchelf``; it refuses when another string of the table shares bytes with the old path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

ELF_MAGIC = b"\x7fELF"

PT_LOAD = 1
PT_DYNAMIC = 2

DT_NULL = 0
DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29

SHT_DYNSYM = 11
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE


class ElfError(ValueError):
    """Not an ELF file of a kind this reader handles, or a rewrite that cannot be done in place."""


@dataclass(frozen=True)
class DynamicInfo:
    """The dynamic-section facts of one ELF file."""

    path: Path
    machine: int
    needed: tuple[str, ...]
    soname: str | None
    #: DT_RUNPATH split on ``:`` (empty when absent).
    runpath: tuple[str, ...]
    #: DT_RPATH split on ``:`` (empty when absent).
    rpath: tuple[str, ...]

    @property
    def search_path(self) -> tuple[str, ...]:
        """The entries the loader uses for this object's own DT_NEEDED (RUNPATH wins over RPATH)."""
        return self.runpath or self.rpath


@dataclass(frozen=True)
class _Dyn:
    entries: tuple[tuple[int, int, int], ...]  # (tag, value, file offset of the entry)
    strtab_offset: int
    strtab_size: int


class _Elf:
    def __init__(self, data: bytes | bytearray, path: Path) -> None:
        if data[:4] != ELF_MAGIC:
            raise ElfError(f"{path} is not an ELF file")
        if data[4] != 2:
            raise ElfError(f"{path} is a 32-bit ELF file; only 64-bit objects are handled")
        self.data = data
        self.path = path
        self.end = "<" if data[5] == 1 else ">"
        (self.machine,) = self._unpack("H", 0x12)
        self.phoff, self.shoff = self._unpack("QQ", 0x20)
        self.phentsize, self.phnum, self.shentsize, self.shnum = self._unpack("HHHH", 0x36)

    def _unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        try:
            return struct.unpack_from(self.end + fmt, self.data, offset)
        except struct.error:
            raise ElfError(f"{self.path} is truncated or corrupt (read past the end at {offset})") from None

    def segments(self) -> list[tuple[int, int, int, int]]:
        """(type, offset, vaddr, filesz) of every program header."""
        out = []
        for i in range(self.phnum):
            base = self.phoff + i * self.phentsize
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = self._unpack("IIQQQQ", base)
            out.append((p_type, p_offset, p_vaddr, p_filesz))
        return out

    def sections(self) -> list[tuple[int, int, int, int, int]]:
        """(type, offset, size, link, entsize) of every section header."""
        out = []
        for i in range(self.shnum):
            base = self.shoff + i * self.shentsize
            _name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, _info, _align, sh_entsize = (
                self._unpack("IIQQQQIIQQ", base)
            )
            out.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
        return out

    def vaddr_to_offset(self, vaddr: int) -> int:
        for p_type, p_offset, p_vaddr, p_filesz in self.segments():
            if p_type == PT_LOAD and p_vaddr <= vaddr < p_vaddr + p_filesz:
                return vaddr - p_vaddr + p_offset
        raise ElfError(f"{self.path}: address {vaddr:#x} is in no loadable segment")

    def dynamic(self) -> _Dyn | None:
        dyn = [s for s in self.segments() if s[0] == PT_DYNAMIC]
        if not dyn:
            return None
        _type, offset, _vaddr, size = dyn[0]
        entries = []
        for pos in range(offset, offset + size, 16):
            tag, value = self._unpack("qQ", pos)
            if tag == DT_NULL:
                break
            entries.append((tag, value, pos))
        tags = {tag: value for tag, value, _ in entries}
        if DT_STRTAB not in tags:
            raise ElfError(f"{self.path}: dynamic section without a string table")
        return _Dyn(tuple(entries), self.vaddr_to_offset(tags[DT_STRTAB]), tags.get(DT_STRSZ, 0))

    def string(self, dyn: _Dyn, index: int) -> str:
        start = dyn.strtab_offset + index
        end = self.data.index(b"\0", start)
        return bytes(self.data[start:end]).decode("utf-8", "surrogateescape")


def read_dynamic(path: Path) -> DynamicInfo:
    """The dynamic-section facts of ``path``; an object without one (static) has empty lists."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ElfError(f"{path} cannot be read: {exc.strerror or exc}") from None
    elf = _Elf(data, path)
    dyn = elf.dynamic()
    if dyn is None:
        return DynamicInfo(path, elf.machine, (), None, (), ())
    needed: list[str] = []
    soname = None
    runpath: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    for tag, value, _ in dyn.entries:
        if tag == DT_NEEDED:
            needed.append(elf.string(dyn, value))
        elif tag == DT_SONAME:
            soname = elf.string(dyn, value)
        elif tag == DT_RUNPATH:
            runpath = tuple(p for p in elf.string(dyn, value).split(":") if p)
        elif tag == DT_RPATH:
            rpath = tuple(p for p in elf.string(dyn, value).split(":") if p)
    return DynamicInfo(path, elf.machine, tuple(needed), soname, runpath, rpath)


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


def _string_refs(elf: _Elf, dyn: _Dyn, skip_entry: int) -> list[int]:
    """Offsets into the dynamic string table used by anything other than the entry at ``skip_entry``."""
    refs = [value for tag, value, pos in dyn.entries if pos != skip_entry and tag in (DT_NEEDED, DT_SONAME)]
    refs += [value for tag, value, pos in dyn.entries if pos != skip_entry and tag in (DT_RPATH, DT_RUNPATH)]
    sections = elf.sections()
    if not sections:
        raise ElfError(f"{elf.path} has no section headers: cannot prove the path is not shared")
    for sh_type, offset, size, _link, entsize in sections:
        if sh_type == SHT_DYNSYM:
            step = entsize or 24
            refs += [elf._unpack("I", pos)[0] for pos in range(offset, offset + size, step)]
        elif sh_type == SHT_GNU_VERNEED:
            pos = offset
            while True:
                _ver, cnt, vn_file, vn_aux, vn_next = elf._unpack("HHIII", pos)
                refs.append(vn_file)
                aux = pos + vn_aux
                for _ in range(cnt):
                    _hash, _flags, _other, vna_name, vna_next = elf._unpack("IHHII", aux)
                    refs.append(vna_name)
                    if not vna_next:
                        break
                    aux += vna_next
                if not vn_next:
                    break
                pos += vn_next
        elif sh_type == SHT_GNU_VERDEF:
            pos = offset
            while True:
                _ver, _flags, _ndx, cnt, _hash, vd_aux, vd_next = elf._unpack("HHHHIII", pos)
                aux = pos + vd_aux
                for _ in range(cnt):
                    vda_name, vda_next = elf._unpack("II", aux)
                    refs.append(vda_name)
                    if not vda_next:
                        break
                    aux += vda_next
                if not vd_next:
                    break
                pos += vd_next
    return refs


def rewrite_runpath_in_place(path: Path, new: str) -> str:
    """Overwrite the DT_RUNPATH (or DT_RPATH) string of ``path`` with ``new``; returns the old value.

    Raises ``ElfError`` when the file has no run path to overwrite, ``new`` is longer than the old one, or
    another string of the table shares its bytes (the linker merges string tails).
    """
    data = bytearray(path.read_bytes())
    elf = _Elf(data, path)
    dyn = elf.dynamic()
    if dyn is None:
        raise ElfError(f"{path} has no dynamic section")
    target = [(tag, value, pos) for tag, value, pos in dyn.entries if tag == DT_RUNPATH]
    target = target or [(tag, value, pos) for tag, value, pos in dyn.entries if tag == DT_RPATH]
    if not target:
        raise ElfError(f"{path} has no RUNPATH or RPATH entry to overwrite (patchelf can add one)")
    _tag, index, entry_pos = target[0]
    old = elf.string(dyn, index)
    encoded = new.encode()
    old_len = len(old.encode("utf-8", "surrogateescape"))
    if len(encoded) > old_len:
        raise ElfError(
            f"{path}: new run path {new!r} is longer than the old one {old!r} (patchelf can do it)"
        )
    start, stop = index, index + old_len
    for ref in _string_refs(elf, dyn, entry_pos):
        if start < ref < stop:
            raise ElfError(f"{path}: the run path shares bytes with another string (patchelf can do it)")
    off = dyn.strtab_offset + index
    data[off : off + old_len + 1] = encoded + b"\0" * (old_len + 1 - len(encoded))
    path.write_bytes(bytes(data))
    return old
