"""Home control by voice: configured MQTT devices, a fast local matcher and the LLM's tool path."""

from appliance.home.control import HomeControl

__all__ = ["HomeControl"]
