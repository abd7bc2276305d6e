"""``[skills]`` settings (defined with the others in :mod:`appliance.settings`)."""

from __future__ import annotations

from appliance.settings import SkillsSettings

__all__ = ["SkillsSettings"]
