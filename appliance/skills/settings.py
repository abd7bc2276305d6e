"""``[skills]`` settings (defined with the others in :mod:`appliance.settings`)."""

from __future__ import annotations

from ..settings import SkillsSettings

__all__ = ["SkillsSettings"]
