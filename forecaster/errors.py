"""The project's exception types: a user's mistake, said in one line."""


class ForecasterError(ValueError):
    """A user's mistake (bad data, config or path): the message names the problem and what is valid.

    It subclasses ``ValueError`` so that callers who catch ``ValueError`` keep working; the CLI
    prints it as one line and exits non-zero, without a traceback.
    """


class DataSourceError(ForecasterError):
    """A data source that cannot be read: missing file, unknown ticker, no network."""
