"""Errors the engine reports to people: each names the field or thing at fault."""
from __future__ import annotations


class ValidationError(ValueError):
    """Bad input (API body, form, config, data file); ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"error": str(self), "field": self.field, "message": self.message}


class NotReady(RuntimeError):
    """The system cannot answer yet (e.g. no trained model); not a crash."""
