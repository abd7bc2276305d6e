"""Announcing the ESPHome API port on the LAN as ``_esphomelib._tcp`` (mDNS, python-zeroconf).

Home Assistant's ``esphome`` integration discovers a device by this record: its host name is
the node name, and its TXT record carries the MAC (the device's unique id), the friendly name,
the ESPHome version and, when a key is set, ``api_encryption`` (so the set-up asks for the
key).  A port bound to loopback is not announced; a failure to announce is logged and the
port keeps serving (:mod:`appliance.integrations.zeroconf_service`).
"""

from __future__ import annotations

import logging

from appliance.integrations.esphome.device import ESPHOME_VERSION, Identity
from appliance.integrations.esphome.noise import PROTOCOL
from appliance.integrations.zeroconf_service import ZeroconfService

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


class Announcement(ZeroconfService):
    """The ``_esphomelib._tcp`` service record for one port, registered while the feature runs.

    Its host name is the node name (``<name>.local.``), as on a real ESPHome device.
    """

    def __init__(self, identity: Identity, host: str, port: int, *, encrypted: bool) -> None:
        super().__init__(
            "ESPHome",
            SERVICE_TYPE,
            identity.name,
            host,
            port,
            log=_LOGGER,
            server=f"{identity.name}.local.",
            properties=txt_record(identity, encrypted=encrypted),
        )
        self.identity = identity
        self.encrypted = encrypted
