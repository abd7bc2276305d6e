"""Announcing the ESPHome API port on the LAN as ``_esphomelib._tcp`` (mDNS, python-zeroconf).

Home Assistant's ``esphome`` integration discovers a device by this record: its host name is
the node name, and its TXT record carries the MAC (the device's unique id), the friendly name,
the ESPHome version and, when a key is set, ``api_encryption`` (so the set-up asks for the
key).  A port bound to loopback is not announced; a failure to announce is logged and the
port keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from appliance.integrations.esphome.device import ESPHOME_VERSION, Identity
from appliance.integrations.esphome.noise import PROTOCOL
from appliance.integrations.wyoming.announce import announced_address

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_esphomelib._tcp.local."


def txt_record(identity: Identity, *, encrypted: bool) -> dict[str, str]:
    """The TXT properties Home Assistant's discovery reads."""
    record = {
        "mac": identity.mac.replace(":", "").lower(),
        "friendly_name": identity.friendly_name,
        "version": ESPHOME_VERSION,
        "platform": "appliance",
        "board": "linux",
        "network": "ethernet",
    }
    if encrypted:
        record["api_encryption"] = PROTOCOL.decode()
    return record


class Announcement:
    """The ``_esphomelib._tcp`` service record for one port, registered while the feature runs."""

    def __init__(self, identity: Identity, host: str, port: int, *, encrypted: bool) -> None:
        self.identity = identity
        self.host = host
        self.port = port
        self.encrypted = encrypted
        self.address: str | None = None
        """The address announced, None while not announced."""
        self._zeroconf: Any = None
        self._info: Any = None

    async def start(self) -> None:
        address = await asyncio.to_thread(announced_address, self.host)
        if address is None:
            _LOGGER.info(
                "ESPHome: port %s is not announced (bound to %s, unreachable from the LAN)", self.port, self.host
            )
            return
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        name = self.identity.name
        try:
            self._info = AsyncServiceInfo(
                SERVICE_TYPE,
                f"{name}.{SERVICE_TYPE}",
                port=self.port,
                parsed_addresses=[address],
                server=f"{name}.local.",
                properties=txt_record(self.identity, encrypted=self.encrypted),
            )
            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.All if ":" in address else IPVersion.V4Only)
            await self._zeroconf.async_register_service(self._info)
            self.address = address
            _LOGGER.info("ESPHome: announced as %s on %s:%d", name, address, self.port)
        except Exception as err:  # noqa: BLE001 - mDNS is a convenience: the port serves without it
            _LOGGER.warning("ESPHome: could not announce %s:%d over mDNS: %s", address, self.port, err)
            await self.stop()

    async def stop(self) -> None:
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is None:
            return
        try:
            if self.address is not None:
                await zeroconf.async_unregister_service(self._info)
            await zeroconf.async_close()
        except Exception as err:  # noqa: BLE001 - shutting down: log and go on
            _LOGGER.warning("ESPHome: could not withdraw the mDNS announcement: %s", err)
        self.address = None
