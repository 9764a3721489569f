"""The stack's notification channels, from Pulumi config `dayflow:notificationChannels`.

Each entry is one channel, by the name that pipelines' `alerts.notify` use:

    dayflow:notificationChannels:
      oncall: {email: data-oncall@acme.example}
      pager: {webhook: https://hooks.acme.example/dayflow}
      ops: {pubsub: dayflow-alerts}

Channels are per stack, so dev can notify a team inbox while prod pages. Webhooks must be https
(Cloud Monitoring's `webhook_tokenauth`; a URL carrying a token belongs in a secret config
value); a Pub/Sub channel publishes to a topic of the stack's project, which the Monitoring
notification agent may publish to (and nobody else is granted anything).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dayflow.errors import UserError
from dayflow.spec import Spec

ChannelKind = Literal["email", "webhook", "pubsub"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = ("email", "webhook", "pubsub")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC = re.compile(r"^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")


class ChannelConfigError(UserError):
    """`dayflow:notificationChannels` or a pipeline's `alerts.notify` is invalid."""


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    kind: ChannelKind
    target: str  # the email address, https URL, or Pub/Sub topic id


def parse_channels(raw: Any) -> tuple[ChannelConfig, ...]:
    """Check the config object; raise ChannelConfigError naming the bad entry."""
    where = "config notificationChannels"
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ChannelConfigError(f"{where}: {raw!r} is not a map (expected name -> channel)")
    channels = []
    for name, entry in raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ChannelConfigError(
                f"{where}: channel name {name!r} is not valid (expected lower case letters, "
                "digits, '-' or '_', starting with a letter)"
            )
        if not (isinstance(entry, Mapping) and len(entry) == 1):
            raise ChannelConfigError(
                f"{where}.{name}: {entry!r} is not one channel "
                f"(expected one of {{email: ...}}, {{webhook: https://...}}, {{pubsub: TOPIC}})"
            )
        [(kind, target)] = entry.items()
        if kind not in CHANNEL_KINDS or not isinstance(target, str):
            raise ChannelConfigError(
                f"{where}.{name}: {kind!r} is not a channel kind "
                f"(expected one of: {', '.join(CHANNEL_KINDS)})"
            )
        if kind == "email" and not _EMAIL.match(target):
            raise ChannelConfigError(f"{where}.{name}.email: {target!r} is not an email address")
        if kind == "webhook" and not target.startswith("https://"):
            raise ChannelConfigError(
                f"{where}.{name}.webhook: {target!r} is not an https URL (expected https://...: "
                "alerts name pipelines and partitions, never over plain http)"
            )
        if kind == "pubsub" and not _TOPIC.match(target):
            raise ChannelConfigError(
                f"{where}.{name}.pubsub: {target!r} is not a Pub/Sub topic id of this project"
            )
        channels.append(ChannelConfig(name, kind, target))
    return tuple(channels)


def check_notify(spec: Spec, channels: tuple[ChannelConfig, ...]) -> None:
    """Every channel a pipeline's `alerts.notify` names must be configured in this stack."""
    known = {c.name for c in channels}
    for name, pipeline in spec.pipelines.items():
        for channel in pipeline.alerts.notify if pipeline.alerts else []:
            if channel not in known:
                raise ChannelConfigError(
                    f"pipelines.{name}.alerts.notify: channel {channel!r} is not in this stack's "
                    f"config notificationChannels (expected one of: "
                    f"{', '.join(sorted(known)) or 'none configured'})"
                )
