"""The one exception type a user can cause; the CLI prints it as a single line."""


class TearsBenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""
