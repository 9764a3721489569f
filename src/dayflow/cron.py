"""Cron schedules as Cloud Scheduler reads them: five unix-cron fields, each checked on its own so
that a bad schedule is reported by the field that is wrong and the values it may hold.

The format (https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules): minute 0-59,
hour 0-23, day of the month 1-31, month 1-12 or JAN-DEC, day of the week 0-6 or SUN-SAT (7 is
Sunday too). A field is `*` or a comma-separated list of values and ranges `a-b`, each optionally
stepped (`*/15`, `8-18/2`). Cloud Scheduler does not support `L` (last day of the month); `?`
and `#` are not unix-cron either, so all three are refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CronField:
    """One field of a cron schedule: its name, its value range and the names it accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for value low + i

    @property
    def expected(self) -> str:
        named = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{named}"


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of the month", 1, 31),
    CronField("month", 1, 12, MONTHS),
    CronField("day of the week", 0, 7, WEEKDAYS),
)
_ITEM = re.compile(r"^(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")


def check_cron(schedule: str) -> str:
    """Return `schedule` if Cloud Scheduler accepts it; else raise ValueError naming the field.

    Example: `'70 * * * *'` gives `cron schedule '70 * * * *': minute 70 is out of range
    (expected 0-59)`.
    """
    parts = schedule.split()
    if len(parts) != len(FIELDS):
        raise ValueError(
            f"cron schedule {schedule!r} has {len(parts)} field(s) "
            "(expected 5: minute hour day-of-month month day-of-week)"
        )
    for text, field in zip(parts, FIELDS, strict=True):
        problem = _check_field(text, field)
        if problem:
            raise ValueError(f"cron schedule {schedule!r}: {problem}")
    return schedule


def _check_field(text: str, field: CronField) -> str | None:
    """What is wrong with one field's text, or None."""
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None:
            return (
                f"{field.name} {item!r} is not a value, range or step "
                f"(expected *, a value, a range a-b, or either with /step; values {field.expected})"
            )
        if match["step"] is not None and int(match["step"]) == 0:
            return f"{field.name} {item!r} has step 0 (expected a step of 1 or more)"
        if match["range"] == "*":
            continue
        bounds = []
        for value in match["range"].split("-"):
            number = _to_number(value, field)
            if number is None:
                return f"{field.name} {value!r} is not a value (expected {field.expected})"
            if not field.low <= number <= field.high:
                return f"{field.name} {value} is out of range (expected {field.expected})"
            bounds.append(number)
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            return (
                f"{field.name} range {match['range']!r} runs backwards (expected a-b with a <= b)"
            )
    return None


def _to_number(value: str, field: CronField) -> int | None:
    if value.isdigit():
        return int(value)
    if value in field.names:
        return field.low + field.names.index(value)
    return None
