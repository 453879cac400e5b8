"""The article's Table 2 as published, and checks of the model and of the table itself.

Kept as data (not derived) so the comparison is against what was printed,
including its totals row, which does not agree with its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Estimate, Volume

# The volume Table 2 is for: 3 million minutes a month, six years, no growth.
VOLUME = Volume(3_000_000, 6, 0.0)

# year: (total minutes, total storage TB, S3 Standard $, resampling $, resampled + Glacier IR $)
TABLE2 = {
    1: (36_000_000, 72, 10_764, 3_960, 4_813),
    2: (72_000_000, 108, 30_636, 3_960, 5_677),
    3: (108_000_000, 144, 50_508, 3_960, 6_541),
    4: (144_000_000, 180, 70_380, 3_960, 7_405),
    5: (180_000_000, 216, 90_252, 3_960, 8_269),
    6: (216_000_000, 252, 110_124, 3_960, 9_133),
}
TABLE2_TOTALS = (1_008_000_000, 972, 356_664, 23_760, 41_838)
COLUMNS = ("minutes", "storage_tb", "standard_cost", "processing_cost", "optimized_cost")
COST_COLUMNS = COLUMNS[2:]


@dataclass(frozen=True)
class Cell:
    year: int | str
    column: str
    article: float
    model: float

    @property
    def rel_error(self) -> float:
        return (self.model - self.article) / self.article if self.article else 0.0


def compare(est: Estimate) -> list[Cell]:
    """Every cell of Table 2's year rows next to the model's value."""
    cells = []
    for row in est.years:
        if row.year in TABLE2:
            for col, published in zip(COLUMNS, TABLE2[row.year], strict=True):
                cells.append(Cell(row.year, col, published, getattr(row, col)))
    return cells


def totals_discrepancies() -> list[str]:
    """Where the published totals row differs from the sum (or end value) of its own rows."""
    found = []
    for i, col in enumerate(COLUMNS):
        column = [TABLE2[y][i] for y in sorted(TABLE2)]
        printed, summed = TABLE2_TOTALS[i], sum(column)
        if col == "minutes":
            if printed not in (summed, column[-1]):
                found.append(
                    f"total minutes: printed {printed:,}, but the rows sum to {summed:,} and "
                    f"only {column[-1]:,} minutes are recorded in six years "
                    f"(the printed figure is the rows' sum plus {printed - summed:,}, as if a 7th year "
                    f"were added)"
                )
        elif col == "storage_tb":
            if printed == summed:
                found.append(
                    f"total storage: {printed:,} TB is the sum of the yearly figures, which are "
                    f"stocks, not flows; no more than {max(column):,} TB is ever stored"
                )
            else:
                found.append(f"total storage: printed {printed:,} TB, rows sum to {summed:,} TB")
        elif printed != summed:
            found.append(
                f"total {col.replace('_', ' ')}: printed ${printed:,}, but the rows sum to "
                f"${summed:,} (difference ${summed - printed:,})"
            )
    return found
