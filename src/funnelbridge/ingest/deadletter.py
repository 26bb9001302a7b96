"""Rejected rows: what was wrong (row number, field, reason) and a dead-letter CSV to fix and re-import.

The dead-letter file has the columns ``row, field, reason`` followed by the original columns of the input, so the
rejected rows can be corrected in a spreadsheet and imported again (delete the first three columns before
re-importing). Row numbers count like a spreadsheet: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["DeadLetterWriter", "Problem", "Rejection", "default_rejects_path"]


@dataclass(frozen=True)
class Problem:
    """One reason a value was refused."""

    field: str
    reason: str


@dataclass(frozen=True)
class Rejection:
    """A rejected input row (or payload): where it was, which fields were wrong and why, and the raw values."""

    row: int
    problems: tuple[Problem, ...]
    raw: Sequence[Any] = ()

    @property
    def field(self) -> str:
        return ";".join(p.field for p in self.problems)

    @property
    def reason(self) -> str:
        return "; ".join(p.reason for p in self.problems)

    def __str__(self) -> str:
        return "; ".join(f"row {self.row} {p.field}: {p.reason}" for p in self.problems)


def default_rejects_path(source: str | Path) -> Path:
    """``contacts.csv`` → ``contacts.csv.rejected.csv`` next to the input."""
    source = Path(source)
    return source.with_name(source.name + ".rejected.csv")


class DeadLetterWriter:
    """Writes rejections to a CSV lazily: the file is created (and truncated) only when a first row is rejected."""

    def __init__(self, path: Path | None, headers: Sequence[str]) -> None:
        self.path = path
        self.headers = list(headers)
        self.count = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejection: Rejection) -> None:
        self.count += 1
        if self.path is None:
            return
        if self._writer is None:
            self._file = self.path.open("w", encoding="utf-8", newline="", errors="replace")
            self._writer = csv.writer(self._file)
            self._writer.writerow(["row", "field", "reason", *self.headers])
        raw = [_printable(v) for v in rejection.raw]
        self._writer.writerow([rejection.row, rejection.field, rejection.reason, *raw])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> DeadLetterWriter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def _printable(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")
