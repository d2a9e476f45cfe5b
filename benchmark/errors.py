"""The one exception type for user errors: bad config keys, unknown names, unreadable files.

The CLI prints its message as one line and exits with code 2. Raise it with a message that names the key or file
and says how to fix it.
"""


class BenchError(Exception):
    """A user error the user can fix; the message names what is wrong and how to fix it."""

    exit_code = 2


def read_text(path, what: str = "file") -> str:
    """A text file's contents as UTF-8, or a one-line BenchError naming the file (missing, unreadable, binary)."""
    from pathlib import Path
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise BenchError(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError as e:
        raise BenchError(f"{what} {path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    except OSError as e:
        raise BenchError(f"{what} {path} cannot be read ({e.strerror})") from None
