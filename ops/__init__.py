"""Operations commands for demo day.

`python -m ops probe|warmup|preflight|failover|failback|snapshot`; see the README.

The probe is the very code the synthetic-check function runs; it lives in `functions/vetroi_probe`
so that it ships in the Lambda zip, and the commands import it from there.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))
