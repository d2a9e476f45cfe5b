"""The one exception type for user errors: bad config keys, unknown names, unreadable files.

The CLI prints its message as one line and exits with code 2. Raise it with a message that names the key or file
and says how to fix it.
"""


class BenchError(Exception):
    """A user error the user can fix; the message names what is wrong and how to fix it."""

    exit_code = 2
