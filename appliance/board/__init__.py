"""The board: GPIO buttons and LEDs, the indicator patterns, hardware profiles."""
