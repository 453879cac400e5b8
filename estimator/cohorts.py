"""Exact storage accounting for a stream of recordings.

Recordings arrive at a constant rate within each month (the rate may change
from month to month). A version of a recording that exists from age ``a`` to
age ``b`` days is, at time t, held for every recording made in (t-b, t-a], so
the amount held is C(t-a) - C(t-b) with C the cumulative minutes recorded.
S3 bills the monthly *average*, so we integrate that over the month:
D(x) = integral of C, which is piecewise quadratic and exact. This avoids
both a daily loop and the end-of-month snapshot the article uses.
"""

from __future__ import annotations

from collections.abc import Sequence


class Cohorts:
    def __init__(self, monthly_minutes: Sequence[float], days_per_month: float) -> None:
        if not monthly_minutes:
            raise ValueError("at least one month is needed")
        self.days = days_per_month
        self.minutes = list(monthly_minutes)
        self._c = [0.0]  # C at month boundaries
        self._d = [0.0]  # D at month boundaries
        for v in self.minutes:
            self._d.append(self._d[-1] + self._c[-1] * days_per_month + v * days_per_month / 2)
            self._c.append(self._c[-1] + v)

    def _locate(self, x: float) -> tuple[int, float, float]:
        k = min(int(x // self.days), len(self.minutes) - 1)
        return k, x - k * self.days, self.minutes[k] / self.days

    def recorded(self, x: float) -> float:
        """C(x): minutes recorded in the first ``x`` days."""
        if x <= 0:
            return 0.0
        k, dx, rate = self._locate(x)
        return self._c[k] + rate * dx

    def _integral(self, x: float) -> float:
        if x <= 0:
            return 0.0
        k, dx, rate = self._locate(x)
        return self._d[k] + self._c[k] * dx + rate * dx * dx / 2

    def held(self, month: int, age_from: float, age_to: float | None) -> float:
        """Average minutes held during ``month`` (0-based) by versions aged [age_from, age_to).

        ``age_to`` None means the version is never deleted. The result is in
        minute-months: multiply by bytes per minute for byte-months.
        """
        t0, t1 = month * self.days, (month + 1) * self.days
        total = self._integral(t1 - age_from) - self._integral(t0 - age_from)
        if age_to is not None:
            total -= self._integral(t1 - age_to) - self._integral(t0 - age_to)
        return total / self.days

    def held_at(self, time: float, age_from: float, age_to: float | None) -> float:
        """Minutes held at one instant (``time`` in days) by versions aged [age_from, age_to)."""
        gone = 0.0 if age_to is None else self.recorded(time - age_to)
        return self.recorded(time - age_from) - gone

    def reaching(self, month: int, age: float) -> float:
        """Minutes of recordings that reach ``age`` days during ``month``."""
        t0, t1 = month * self.days, (month + 1) * self.days
        return self.recorded(t1 - age) - self.recorded(t0 - age)
