"""Daily FX rates, generated from the date alone: the same day always gives the same rates.

The example has no internet, so this stands in for a call to a rates provider. A real extractor
would fetch the day's published rates here; everything else (the request, the idempotent write,
the answer) stays as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

QUOTE_CURRENCY = "SEK"
# Rough levels around which the generated rates move (SEK per unit of the base currency).
BASE_LEVELS = {"EUR": 11.45, "USD": 10.60, "NOK": 0.99, "DKK": 1.54}


@dataclass(frozen=True)
class Rate:
    rate_date: date
    base_currency: str
    quote_currency: str
    rate: float


def get_daily_rates(day: date) -> list[Rate]:
    """One rate per base currency for `day`, within 2 % of its level, to 4 decimals."""
    n = day.toordinal()
    return [
        Rate(
            day,
            base,
            QUOTE_CURRENCY,
            round(level * (1 + 0.015 * math.sin(n / 7 + i) + 0.005 * math.cos(n / 3)), 4),
        )
        for i, (base, level) in enumerate(BASE_LEVELS.items())
    ]
