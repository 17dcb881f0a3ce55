"""Cold start of the API functions against a handler that only imports boto3.

Run from the repository root: `.venv/bin/python bench/cold_start.py [--runs N]`.

Both zips are built by `components.packaging.build_package` for this machine ("host": the
functions' own requirements, pinned, installed by pip) and unzipped into temporary folders:

- the API zip: `functions/` with `functions/requirements.txt`;
- the baseline zip: one module, `import boto3` and a handler that returns `{"warm": true}`,
  with the same pinned boto3 and botocore; and beside it "base+ddb", the same handler whose
  warm-up also creates a DynamoDB client (what any handler reading a table pays once).

Each run is a fresh interpreter that sees only the unzipped folder (`-I -S`: no site-packages,
no user paths, no environment leaking in), imports the handler module and answers a warm-up
event; for the API that includes creating the clients the route's next request needs, as the
handler does. It prints the median and p90 of: the import, the warm-up answer, both together
(the figure the target is about), and the whole process as seen from outside (interpreter
start included). The target: the API within 1.3 times the baseline.

Two variants are measured, because the zip leaves out byte code (`.pyc` files depend on the
interpreter, and Lambda's `/var/task` is read-only, so nothing compiled there is kept):

- "as zipped": every run compiles what it imports from source (`-B`), as on Lambda;
- "with .pyc": the unzipped folder is compiled once first (this machine's Python), to show what
  shipping byte code for the runtime's exact Python version would save;
- "trimmed": as "with .pyc", with the baseline's botocore data reduced, as the API zip's already
  is, to the services in `functions/aws-services.txt`: like against like, since botocore lists
  every service folder when it loads the first service model.

The API zip ships with that trimming (components/packaging.py); the baseline, a plain boto3
zip, keeps all of botocore's data in the first two variants.

Figures are printed, not asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components import packaging  # noqa: E402
from components.packaging import build_package  # noqa: E402

BASELINE = """import boto3


def handler(event, context):
    return {"warm": True}
"""
# A fairer second baseline: the same import, and the warm-up creates a DynamoDB client with the
# settings the API uses, as any handler that reads a table must before its first request.
BASELINE_CLIENT = """import boto3
from botocore.config import Config


def handler(event, context):
    retries = {"mode": "standard", "total_max_attempts": 2}
    boto3.client("dynamodb", config=Config(retries=retries, connect_timeout=1, read_timeout=2))
    return {"warm": True}
"""
# Services the functions call; everything else in botocore/data is dead weight for them.

DRIVER = """
import json, sys, time
sys.path.insert(0, sys.argv[3])
t0 = time.perf_counter()
module = __import__(sys.argv[1], fromlist=["_"])
t1 = time.perf_counter()
answer = getattr(module, sys.argv[2])({"warmup": True}, None)
t2 = time.perf_counter()
assert answer == {"warm": True}, answer
print(json.dumps({"import": t1 - t0, "warm": t2 - t1, "modules": len(sys.modules)}))
"""

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "AWS_REGION": "us-east-2",
    "AWS_DEFAULT_REGION": "us-east-2",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "VETROI_TABLE": "vetroi-data",
    "VETROI_UPLOAD_BUCKET": "vetroi-bench-dd214",
    "VETROI_CORS_ORIGINS": "https://vetroi.example.com",
    "VETROI_ONET_SECRET": "vetroi/onet",
}


def unzip(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    return into


def trim_botocore(folder: Path) -> None:
    services = packaging.aws_services(ROOT / "functions") or frozenset()
    packaging.keep_botocore_services(folder.name, folder, services)


def run_once(folder: Path, module: str, handler: str, compiled: bool) -> dict[str, float]:
    flags = ["-I", "-S"] + ([] if compiled else ["-B"])
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *flags, "-c", DRIVER, module, handler, str(folder)],
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{module}.{handler} failed:\n{out.stderr}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "import": figures["import"],
        "warm": figures["warm"],
        "total": figures["import"] + figures["warm"],
        "process": elapsed,
    }


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(values) * 1000:7.1f} ms (p90 {p90 * 1000:6.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vetroi-cold-"))
    baseline_src = work / "baseline-src"
    baseline_src.mkdir()
    (baseline_src / "baseline_handler.py").write_text(BASELINE)
    (baseline_src / "baseline_client.py").write_text(BASELINE_CLIENT)
    baseline_req = work / "baseline-requirements.txt"
    pins = [
        line
        for line in (ROOT / "functions" / "requirements.txt").read_text().splitlines()
        if line.startswith(("boto3==", "botocore=="))
    ]
    baseline_req.write_text("\n".join(pins) + "\n")

    out_dir = ROOT / ".build"
    api = build_package(
        ROOT / "functions", ROOT / "functions" / "requirements.txt",
        platform="host", python_version=None, out_dir=out_dir, name="api",
    )  # fmt: skip
    base = build_package(
        baseline_src, baseline_req, platform="host", python_version=None, out_dir=out_dir,
        name="baseline",
    )  # fmt: skip
    for label, package in (("API zip", api), ("baseline zip", base)):
        zipped, unpacked = package.size / 1e6, package.unpacked_size / 1e6
        print(f"{label:12} {zipped:6.1f} MB zipped, {unpacked:6.1f} MB unzipped")
    print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters per line\n")

    targets = [
        ("baseline", base, "baseline_handler", "handler"),
        ("base+ddb", base, "baseline_client", "handler"),
        ("career", api, "vetroi_api.handlers", "career_handler"),
        ("recommend", api, "vetroi_api.handlers", "recommend_handler"),
        ("health", api, "vetroi_api.handlers", "health_handler"),
        ("uploads", api, "vetroi_api.handlers", "uploads_handler"),
        ("monolith", api, "vetroi_api.handlers", "lambda_handler"),
    ]
    variants = {
        "as zipped (no .pyc, -B)": (False, False),
        "with .pyc (compiled once first)": (True, False),
        "with .pyc, botocore/data trimmed to the services used": (True, True),
    }
    for title, (compiled, trimmed) in variants.items():
        print(f"== {title}")
        print(f"{'function':10} {'import':>22} {'warm-up':>22} {'import+warm-up':>22} "
              f"{'process':>22}  ratio  ratio to base+ddb")  # fmt: skip
        folders = {}
        for package in (base, api):
            folder = unzip(package.path, work / f"{package.key}-{compiled}-{trimmed}")
            if trimmed:
                trim_botocore(folder)
            if compiled:
                compileall.compile_dir(folder, quiet=1, workers=2)
            folders[package.key] = folder
        # Round-robin over the functions, so that a change in the machine's load during the
        # run affects every line alike instead of whichever was measuring at the time.
        samples: dict[str, dict[str, list[float]]] = {t[0]: {} for t in targets}
        for _ in range(args.runs):
            for label, package, module, handler in targets:
                figures = run_once(folders[package.key], module, handler, compiled)
                for name, value in figures.items():
                    samples[label].setdefault(name, []).append(value)
        baselines = {
            name: statistics.median(samples[name]["total"]) for name in ("baseline", "base+ddb")
        }
        for label, *_ in targets:
            got = samples[label]
            total = statistics.median(got["total"])
            print(
                f"{label:10} {summary(got['import'])} {summary(got['warm'])} "
                f"{summary(got['total'])} {summary(got['process'])}  "
                f"{total / baselines['baseline']:4.2f}x  {total / baselines['base+ddb']:4.2f}x"
            )
        print()
    print("ratio: median import+warm-up over the baseline's (target: 1.3x at most); the last")
    print("column compares with base+ddb, the baseline whose warm-up also creates its client.")


if __name__ == "__main__":
    main()
