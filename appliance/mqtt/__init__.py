"""MQTT control plane: state, events and commands on the home broker, Home Assistant discovery."""

from .bridge import MqttBridge
from .discovery import DeviceInfo

__all__ = ["DeviceInfo", "MqttBridge"]
