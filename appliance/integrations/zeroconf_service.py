"""Announcing a port on the LAN over mDNS (python-zeroconf), so Home Assistant finds it.

A port bound to loopback is not announced (no one else could reach it).  Bound to every
interface (``0.0.0.0`` or ``::``), the address announced is the one the host would use to
reach the mDNS group.  A failure to announce is logged; the port keeps serving.  The
Wyoming and ESPHome ports each announce one of these records.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import Any

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


class ZeroconfService:
    """One service record (``type``, instance ``name``) for one port, registered while the port serves.

    ``log_name`` starts the log lines ("Wyoming", "ESPHome"), which go to ``log``, the owning
    integration's logger; ``server`` is the host name the record names (python-zeroconf's
    default when None); ``properties`` its TXT record.
    """

    def __init__(
        self,
        log_name: str,
        service_type: str,
        name: str,
        host: str,
        port: int,
        *,
        log: logging.Logger,
        server: str | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        self.log_name = log_name
        self.log = log
        self.service_type = service_type
        self.name = name
        self.host = host
        self.port = port
        self.server = server
        self.properties = dict(properties) if properties is not None else None
        self.address: str | None = None
        """The address announced, None while not announced."""
        self._zeroconf: Any = None
        self._info: Any = None

    async def start(self) -> None:
        """Register the record; logged and left unannounced when the port is unreachable or mDNS fails."""
        address = await asyncio.to_thread(announced_address, self.host)  # a host name may need a DNS look-up
        if address is None:
            self.log.info(
                "%s: port %s is not announced (bound to %s, unreachable from the LAN)",
                self.log_name,
                self.port,
                self.host,
            )
            return
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        try:
            self._info = AsyncServiceInfo(
                self.service_type,
                f"{self.name}.{self.service_type}",
                port=self.port,
                parsed_addresses=[address],
                server=self.server,
                properties=self.properties,
            )
            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.All if ":" in address else IPVersion.V4Only)
            await self._zeroconf.async_register_service(self._info)
            self.address = address
            self.log.info("%s: announced as %s on %s:%d", self.log_name, self.name, address, self.port)
        except Exception as err:  # noqa: BLE001 - mDNS is a convenience: the port serves without it
            self.log.warning("%s: could not announce %s:%d over mDNS: %s", self.log_name, address, self.port, err)
            await self.stop()

    async def stop(self) -> None:
        """Withdraw the record (if announced) and close the mDNS socket."""
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is None:
            return
        try:
            if self.address is not None:
                await zeroconf.async_unregister_service(self._info)
            await zeroconf.async_close()
        except Exception as err:  # noqa: BLE001 - shutting down: log and go on
            self.log.warning("%s: could not withdraw the mDNS announcement: %s", self.log_name, err)
        self.address = None
