"""What a pipeline declares about its alerts: `alerts: {freshness: 28h, notify: [oncall]}`.

`freshness` is the age its newest complete partition may reach (dayflow.freshness) before the
freshness alert fires; `notify` names notification channels, which each stack's config defines
(`notificationChannels`: email, webhook or Pub/Sub; dayflow.infra.config), so dev and prod can
page different people. Every pipeline gets the failed-run alert; `notify` routes it too.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> timedelta:
    """`30m`, `26h` or `2d` as a timedelta; ValueError naming the value otherwise."""
    match = _DURATION.match(value)
    if not match or int(match[1]) == 0:
        raise ValueError(
            f"duration {value!r} is not a positive whole number of minutes, hours or days "
            "(expected e.g. 90m, 28h or 2d)"
        )
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
ChannelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


class Alerts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    freshness: Duration | None = None
    notify: list[ChannelName] = Field(default_factory=list)
