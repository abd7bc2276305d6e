"""Rooms: appliances in one home elect which of them answers a wake word heard in several rooms."""
