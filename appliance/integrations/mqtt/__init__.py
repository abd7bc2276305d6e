"""MQTT control plane: state, events and commands on the home broker, Home Assistant discovery."""

from appliance.integrations.mqtt.bridge import MqttBridge
from appliance.integrations.mqtt.discovery import DeviceInfo

__all__ = ["DeviceInfo", "MqttBridge"]
