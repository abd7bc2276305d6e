"""The skills' coded errors: a code for machines, a message for logs, and what to say aloud."""

from __future__ import annotations

from appliance.core.errors import ApplianceError


class SkillError(ApplianceError):
    """A skill request refused or failed; ``speech`` is the spoken answer (it names the limit)."""

    def __init__(self, code: str, message: str, speech: str | None = None) -> None:
        super().__init__(code, message)
        self.speech = speech or message

    def as_dict(self) -> dict[str, str]:
        """The wire form: code and message (the spoken line is the message people get)."""
        return {"code": self.code, "message": self.speech}


class SkillStoreError(SkillError):
    """``skills.db`` cannot be opened or written (permissions, full disk); never a reason to move the file."""
