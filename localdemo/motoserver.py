"""moto's server as a child of the local environment: `python -m localdemo.motoserver PORT PID`.

The same server as `moto_server`, with two differences: it dies with the supervisor whose pid
it is given (see gateway.die_with_parent), and it does not log every request, which at
benchmark rates would fill its log file with nothing anyone reads.
"""

from __future__ import annotations

import importlib
import logging
import sys

from moto.server import main

from localdemo.gateway import die_with_parent

# moto loads a service's code on its first request; the environment's first requests are
# DynamoDB and S3, and loading them here, while the regions start, shortens the demo's start.
PRELOADED = ("moto.dynamodb.responses", "moto.dynamodbstreams.responses", "moto.s3.responses")

if __name__ == "__main__":
    port, parent = sys.argv[1], int(sys.argv[2])
    die_with_parent(parent)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for module in PRELOADED:
        importlib.import_module(module)
    main(["--host", "127.0.0.1", "--port", port])
