"""Models: the manifest, the registry that resolves and verifies them, and live swaps."""
