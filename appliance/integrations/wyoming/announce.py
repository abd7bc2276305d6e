"""Announcing the Wyoming port on the LAN as ``_wyoming._tcp`` (mDNS), so Home Assistant finds it.

How the address is chosen, and what happens on loopback or when mDNS fails, is
:mod:`appliance.integrations.zeroconf_service`'s.
"""

from __future__ import annotations

import logging

from appliance.integrations.zeroconf_service import ZeroconfService, announced_address

__all__ = ["SERVICE_TYPE", "Announcement", "announced_address"]

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."


class Announcement(ZeroconfService):
    """The ``_wyoming._tcp`` service record for one port, registered while the feature runs."""

    def __init__(self, name: str, host: str, port: int) -> None:
        super().__init__("Wyoming", SERVICE_TYPE, name, host, port, log=_LOGGER)
