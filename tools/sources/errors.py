"""The one error of real-data input: a file, a row and the problem, in one line."""

from __future__ import annotations

from ..output import one_line


class SourceError(ValueError):
    """Bad input in a source file: `FILE row N: problem` (or `FILE: problem` for the whole file)."""

    def __init__(self, file: str, problem: str, row: int | None = None) -> None:
        self.file, self.row = file, row
        self.problem = one_line(problem)
        where = f"{file} row {row}" if row is not None else file
        super().__init__(f"{where}: {self.problem}")


class LooseError(ValueError):
    """A problem whose place the caller knows (the row being judged): the message only."""
