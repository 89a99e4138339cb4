"""The one exception type for problems a user can fix."""

from __future__ import annotations


class ToolkitError(Exception):
    """A problem with the user's input: the message names the problem and the fix.

    The CLI prints it as one line and exits with code 2; anything else is a bug and
    keeps its traceback.
    """
