"""moto's server as a child of the local environment: `python -m localdemo.motoserver PORT PID`.

The same server as `moto_server`, with two differences: it dies with the supervisor whose pid
it is given (see gateway.die_with_parent), and it does not log every request, which at
benchmark rates would fill its log file with nothing anyone reads.
"""

from __future__ import annotations

import logging
import sys

from moto.server import main

from localdemo.gateway import die_with_parent

if __name__ == "__main__":
    port, parent = sys.argv[1], int(sys.argv[2])
    die_with_parent(parent)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    main(["--host", "127.0.0.1", "--port", port])
