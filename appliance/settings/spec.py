"""The ``setting()`` field: a dataclass field with its documentation, unit and allowed range."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def setting(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    min: float | None = None,  # noqa: A002 - reads best at the call sites
    max: float | None = None,  # noqa: A002
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its documentation and validation rules."""
    meta = {"doc": doc, "unit": unit, "min": min, "max": max, "choices": choices}
    return field(default=default, metadata=meta)
