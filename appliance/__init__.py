"""The appliance: an offline smart speaker for an edge board."""

__version__ = "0.1.0"
