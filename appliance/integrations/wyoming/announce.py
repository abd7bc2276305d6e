"""Announcing the Wyoming port on the LAN as ``_wyoming._tcp`` (mDNS, python-zeroconf), so Home Assistant finds it.

A port bound to loopback is not announced (no one else could reach it).  Bound to every
interface (``0.0.0.0`` or ``::``), the address announced is the one the host would use to
reach the mDNS group.  A failure to announce is logged; the port keeps serving.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
MDNS_GROUP = "224.0.0.251"


def announced_address(host: str) -> str | None:
    """The address to announce for a bind address, or None when the port is reachable only from this host."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a host name: announce what it resolves to
        try:
            address = ipaddress.ip_address(socket.gethostbyname(host))
        except (OSError, ValueError):
            return None
    if address.is_loopback:
        return None
    if address.is_unspecified:
        return _lan_address()
    return str(address)


def _lan_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((MDNS_GROUP, 5353))  # no packet is sent: this only picks the outgoing interface
        return str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()


class Announcement:
    """The ``_wyoming._tcp`` service record for one port, registered while the feature runs."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.address: str | None = None
        """The address announced, None while not announced."""
        self._zeroconf: Any = None
        self._info: Any = None

    async def start(self) -> None:
        address = await asyncio.to_thread(announced_address, self.host)  # a host name may need a DNS look-up
        if address is None:
            _LOGGER.info("Wyoming: %s is not announced (bound to %s, unreachable from the LAN)", self.port, self.host)
            return
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        try:
            self._info = AsyncServiceInfo(
                SERVICE_TYPE, f"{self.name}.{SERVICE_TYPE}", port=self.port, parsed_addresses=[address]
            )
            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.All if ":" in address else IPVersion.V4Only)
            await self._zeroconf.async_register_service(self._info)
            self.address = address
            _LOGGER.info("Wyoming: announced as %s on %s:%d", self.name, address, self.port)
        except Exception as err:  # noqa: BLE001 - mDNS is a convenience: the port serves without it
            _LOGGER.warning("Wyoming: could not announce %s:%d over mDNS: %s", address, self.port, err)
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
            _LOGGER.warning("Wyoming: could not withdraw the mDNS announcement: %s", err)
        self.address = None
