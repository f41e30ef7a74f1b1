"""A small error hierarchy: each error says what went wrong and how to fix it."""

from __future__ import annotations


class XiaoshenError(Exception):
    """Base for errors a user can act on; `hint` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class DocumentError(XiaoshenError):
    """A file could not be turned into a policy document (encrypted, truncated, empty, undecodable…)."""

    def __init__(self, source: str, reason: str, hint: str = "") -> None:
        super().__init__(f"{source}: {reason}", hint)
        self.source = source
        self.reason = reason


class IndexStoreError(XiaoshenError):
    """The index is missing, unreachable or built with a different embedding model."""

    exit_code = 3


class SettingsError(XiaoshenError):
    """The settings file or environment holds an invalid value."""

    exit_code = 2


class AuditLogError(XiaoshenError):
    """The audit log, its head, key or checkpoints cannot be read or trusted enough to append."""

    exit_code = 4
