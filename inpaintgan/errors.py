"""The user-error class every command reports as one line with exit code 2."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A mistake in the user's config or inputs: reported as one line, exit code 2."""
