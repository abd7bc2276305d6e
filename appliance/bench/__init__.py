"""Benchmarks: every figure the README quotes. Nothing in the runtime imports this package."""
