"""What an O*NET call can end in, apart from an answer.

Kept apart from `onet` so that the cache and the routes can name these without importing
requests, tenacity and pybreaker: the health and upload functions never call O*NET and should
not pay for those imports at cold start.
"""


class OnetError(Exception):
    """O*NET did not give a usable answer."""


class OnetUnavailable(OnetError):
    """O*NET is down, slow, refusing us, or the breaker is open: use a fallback."""


class OnetNotFound(OnetError):
    """O*NET answered that the thing asked for does not exist."""
