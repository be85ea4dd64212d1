"""Exceptions the operator sees; the CLI turns each into a short paragraph ending in the fix."""

from __future__ import annotations


class UserError(Exception):
    """Something the operator can fix; the message says how."""

    exit_code = 1


class ConfigError(UserError):
    """The configuration is invalid. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in the configuration:\n{lines}")


class MailboxUnavailable(UserError):
    """An IMAP or SMTP server could not be reached or refused us."""


class SecretUnavailable(UserError):
    """A password reference (env var, file, command) did not yield a password."""
