"""Reading the files a user points golden-path at: bounded, regular files only, strictly decoded.

Config files, policy files, ``.env``, secret files, credential files and request bodies all come
from paths someone typed. A FIFO or ``/dev/zero`` there must not hang the process, a 2 GB file
must not fill its memory, and UTF-16 or binary content must become a message naming the file,
never a traceback. Every reader here raises :class:`FileProblem` (message + fix); callers turn it
into a ``ConfigProblem`` with the field and source they know.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_SECRET_BYTES",
    "MAX_TOML_DEPTH",
    "FileProblem",
    "check_regular",
    "decode_text",
    "key_lines",
    "parse_toml",
    "read_bounded",
    "read_text",
]

# Far above any real config, policy or key file; far below what would hurt a container.
MAX_CONFIG_BYTES = 1 << 20
MAX_SECRET_BYTES = 64 << 10
# Deeper nesting than this is never configuration; tomllib recurses per level.
MAX_TOML_DEPTH = 16


class FileProblem(Exception):
    """A file cannot be used: ``message`` says why (never quoting content), ``fix`` what to do."""

    def __init__(self, message: str, fix: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.line = line


def _open_regular(path: Path) -> int:
    """An fd of ``path`` if it is a regular file; never blocks (FIFOs are opened non-blocking)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileProblem(
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist",
                "mount or create the target, or point at an existing file",
            ) from None
        raise FileProblem(
            f"{path} does not exist", "create it or point at an existing file"
        ) from None
    except PermissionError:
        raise FileProblem(
            f"{path} cannot be read (permission denied)",
            "make it readable by this user (chmod/chown) or point elsewhere",
        ) from None
    except OSError as exc:
        raise FileProblem(
            f"{path} cannot be opened ({exc.strerror})", "point at a readable file"
        ) from None
    try:
        check_regular(path, os.fstat(fd).st_mode)
    except FileProblem:
        os.close(fd)
        raise
    return fd


def check_regular(path: Path, mode: int) -> None:
    """FileProblem unless ``mode`` (from stat) is a regular file's."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        kind = "a directory"
    elif stat.S_ISFIFO(mode):
        kind = "a FIFO (named pipe)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a regular file"
    raise FileProblem(
        f"{path} is {kind}, not a regular file",
        "point at a regular file (reading pipes and devices could block or never end)",
    )


def read_bounded(path: Path, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of the regular file ``path``, refusing more than ``limit``."""
    fd = _open_regular(path)
    try:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileProblem(
                    f"{path} is larger than {limit} bytes",
                    "point at the intended file; configuration files are small",
                )
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"{path} cannot be read ({exc.strerror})", "check the file") from None
    finally:
        os.close(fd)


def decode_text(data: bytes, path: Path | str) -> str:
    """``data`` as UTF-8 text; FileProblem naming the file when it is UTF-16 or binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(
            f"{path} is UTF-16 encoded",
            "save it as UTF-8 (for example: iconv -f UTF-16 -t UTF-8)",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            f"{path} is not UTF-8 text (undecodable byte at offset {exc.start})",
            "save it as UTF-8 text; binary files cannot be configuration",
        ) from None
    if "\x00" in text:
        raise FileProblem(f"{path} contains NUL bytes (binary data)", "save it as UTF-8 text")
    return text.removeprefix("\ufeff")


def read_text(path: Path, limit: int = MAX_CONFIG_BYTES) -> str:
    """:func:`read_bounded` then :func:`decode_text`."""
    return decode_text(read_bounded(path, limit), path)


def parse_toml(text: str, path: Path | str) -> dict[str, Any]:
    """Parse TOML text; FileProblem with the line on a syntax error or excessive nesting."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else max(1, len(text.splitlines()))
        raise FileProblem(
            f"not valid TOML: {exc}",
            "fix the syntax (https://toml.io); strings need quotes, tables [brackets]",
            line,
        ) from None
    except RecursionError:
        raise FileProblem(
            f"{path} is nested too deeply to be configuration", "flatten the structure"
        ) from None
    if _depth(data) > MAX_TOML_DEPTH:
        raise FileProblem(
            f"{path} nests tables or arrays more than {MAX_TOML_DEPTH} levels deep",
            "flatten the structure; no golden-path setting is nested that deeply",
        )
    return data


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_TOML_DEPTH:
        return level
    if isinstance(value, Mapping):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_\-\"']+)\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Dotted key -> the line that sets it, following tables and [[arrays]] of tables.

    ``[[custom]]`` entries are numbered: ``custom[0].path``. Errors name ``file:line`` from this.
    """
    lines: dict[str, int] = {}
    table = ""
    arrays: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            name = _unquote_key(header.group(2))
            if header.group(1) == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                table = f"{name}[{arrays[name]}]"
            else:
                head, _, rest = name.partition(".")
                table = f"{head}[{arrays[head]}].{rest}" if head in arrays and rest else name
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            key = (
                f"{table}.{_unquote_key(assign.group(1))}"
                if table
                else _unquote_key(assign.group(1))
            )
            lines.setdefault(key, number)
            for inner in _INLINE_KEY.findall(line[assign.end() :]):
                lines.setdefault(f"{key}.{_unquote_key(inner)}", number)
    return lines


def _unquote_key(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))
