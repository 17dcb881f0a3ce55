"""`python -m localdemo`: run the whole platform locally until interrupted (see README.md)."""

from __future__ import annotations

import asyncio
import logging
import sys

from .config import ConfigError, from_environment
from .environment import run


def main() -> int:
    try:
        config = from_environment()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING if config.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return asyncio.run(run(config))


if __name__ == "__main__":
    sys.exit(main())
