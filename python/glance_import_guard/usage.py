"""What the subcommands of ``glance-import-guard`` (``cli.py``) share: the
exit statuses, ``UsageError`` (bad input from the user, which ``cli.main``
prints and turns into ``EXIT_USAGE``), and reading the files named on the
command line so that an unreadable one is a usage error, not a traceback.

``cli.EXIT_CODES`` says what each exit status means, per subcommand.
"""

EXIT_ACCEPT, EXIT_REFUSE, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the user: printed, exit status 2."""


def open_or_fail(path, what):
    """``path`` opened for reading in binary; a ``UsageError`` naming it as
    ``what`` (key, image, ...) if it cannot be."""
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError("cannot read %s %s: %s" % (
            what, path, e.strerror)) from e


def read_file(path, what):
    """The bytes of ``path``; a ``UsageError`` if it cannot be read."""
    try:
        with open_or_fail(path, what) as f:
            return f.read()
    except OSError as e:
        raise UsageError("cannot read %s %s: %s" % (
            what, path, e.strerror)) from e
