"""Benchmarks: every figure the README quotes. Nothing in the runtime imports this package.

``main`` runs the sections of ``appliance bench``, one module each (``latency``, ``baseline``,
``llm``, ``rss``, ``memory``, ``skills``, ``vision``, ``echo``, ``endpoint``, ``mqtt``, ``quality``,
``session``); what two or more of them share lives in ``harness``, which imports no benchmark.
``footprint``, ``swap``, ``turns`` and ``metrics_plot`` run on their own (``python -m``).
"""
