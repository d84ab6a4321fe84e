class UserError(Exception):
    """A mistake in input or config: the CLI prints it as one line, without a traceback."""
