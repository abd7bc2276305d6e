"""What the appliances of one group say to each other: the topics they share and how a message is read.

```
<base>/rooms/<group>/hello      {"device_id", "area", "timers": [...]}   (feature, timers)
<base>/rooms/<group>/claim      an election claim                          (election)
<base>/rooms/<group>/cancel     {"to", "from", "id", "timer"}              (sharing)
<base>/rooms/<group>/cancelled  {"to", "from", "id", "ok", "code", "name"} (sharing)
<base>/rooms/<group>/broadcast  {"id", "from", "text", "area"}             (broadcaster)
```

All are QoS 0 and never retained: each matters now or not at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_TOPIC_UNSAFE = re.compile(r"[/+#\x00-\x1f]")
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A device id or a message id on the group's topics."""
PAYLOAD_MAX = 4096
"""Bytes: a hello with 20 timers or a 300-character broadcast is far smaller; anything bigger is refused unread."""


def group_root(base_topic: str, group: str) -> str:
    """``<base>/rooms/<group or home>``: the topics every appliance of the group shares (wildcards made plain)."""
    return f"{base_topic.strip('/')}/rooms/{_TOPIC_UNSAFE.sub('_', group) or 'home'}"


@dataclass(frozen=True)
class GroupTopics:
    """The group's topics under :func:`group_root`."""

    root: str

    @classmethod
    def of(cls, base_topic: str, group: str) -> GroupTopics:
        return cls(group_root(base_topic, group))

    @property
    def hello(self) -> str:
        return f"{self.root}/hello"

    @property
    def claim(self) -> str:
        return f"{self.root}/claim"

    @property
    def cancel(self) -> str:
        return f"{self.root}/cancel"

    @property
    def cancelled(self) -> str:
        return f"{self.root}/cancelled"

    @property
    def broadcast(self) -> str:
        return f"{self.root}/broadcast"


def decode(payload: bytes) -> object:
    """JSON, or None for anything else (which each reader counts as malformed)."""
    if len(payload) > PAYLOAD_MAX:
        return None
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def valid_id(value: object) -> bool:
    """True for a device or message id: 1-64 characters of ``A-Z a-z 0-9 _ -``."""
    return isinstance(value, str) and ID.fullmatch(value) is not None
