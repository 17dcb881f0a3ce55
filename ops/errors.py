"""The one exception the commands raise for a problem the operator must fix."""


class OpsError(Exception):
    """A missing stack, missing credentials or a bad flag: printed as is, without a traceback."""
