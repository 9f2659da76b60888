"""The one table type of the experiments, rendered as Markdown, plain text or CSV.

Example:

>>> table = Table(("method", "NRMSE (%)"), (("linear", "3.5 ± 1.1"),))
>>> print(table.markdown())
| method | NRMSE (%) |
|---|---|
| linear | 3.5 ± 1.1 |
>>> print(table.text())
method  NRMSE (%)
------  ---------
linear  3.5 ± 1.1
"""

from __future__ import annotations

import csv
import dataclasses
import io


@dataclasses.dataclass(frozen=True)
class Table:
    """A heading row and rows of cells (strings; numbers are written with `str`).

    Args:
        header: the column headings.
        rows: the rows, each as long as `header`.

    Raises:
        ValueError: if a row's length differs from the header's.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        header = tuple(str(c) for c in self.header)
        rows = tuple(tuple(str(c) for c in row) for row in self.rows)
        for i, row in enumerate(rows):
            if len(row) != len(header):
                raise ValueError(
                    f"table row {i} has {len(row)} cells, the header {len(header)}: {row}"
                )
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "rows", rows)

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def text(self) -> str:
        """Left-aligned columns two spaces apart, a dashed line under the heading."""
        everything = (self.header, *self.rows)
        widths = [max(len(row[i]) for row in everything) for i in range(len(self.header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in everything
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def csv(self) -> str:
        """Comma-separated values, one line per row, the heading first."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buffer.getvalue()
