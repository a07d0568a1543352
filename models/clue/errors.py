"""Errors that reach the user as one clear line (from the CLI), never as a traceback."""


class UserFacingError(Exception):
    """Caused by the user's input (a file, a folder, a flag). The message must name the file
    or option and say what is wrong with it."""
