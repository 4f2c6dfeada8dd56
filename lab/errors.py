"""The lab's error type: one clear line that names the file, field, line or clause at fault."""


class LabError(Exception):
    """A user-facing error; the CLI prints its message as one line and exits non-zero."""


class QueryError(LabError):
    """A query body the engine cannot execute exactly (unknown clause, bad parameter, bad field)."""


class DataError(LabError):
    """Bad input data: missing columns, wrong encoding, empty files, dangling ids."""


class TemplateError(LabError):
    """A strategy template that cannot be loaded or rendered."""
