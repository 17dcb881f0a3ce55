"""Cold start of the API functions against a handler that only imports boto3.

Run from the repository root: `.venv/bin/python bench/cold_start.py [--runs N]`.

Every zip is built by `components.packaging.build_package` for this machine ("host": the
functions' own requirements, pinned, installed by pip) and unzipped into a temporary folder:

- the API zip as shipped: `functions/` with `functions/requirements.txt`, botocore's data trimmed
  to `functions/aws-services.txt`, byte code compiled by the build;
- the same API zip without byte code (`bytecode=False`), to show what the byte code buys;
- the baseline of the target, a plain zip: one module, `import boto3` and a handler that
  returns `{"warm": true}`, the same pinned boto3 and botocore, sources only, as `pip install
  --target` and `zip` make it; beside it "base+ddb", the same handler whose warm-up also creates
  a DynamoDB client (what any handler reading a table pays once);
- the same two baselines packaged as the API is (byte code, botocore trimmed to DynamoDB): like
  against like, so that what is left is the cost of the API's own imports and clients.

Each run is a fresh interpreter that sees only the unzipped folder (`-I -S`: no site-packages,
no user paths, no environment leaking in; `-B`: nothing written, as on Lambda's read-only
`/var/task`), imports the handler module and answers a warm-up event; for the API that includes
creating the clients the route's next request needs, as the handler does. It prints the median
and p90 of: the import, the warm-up answer, both together (the figure the target is about), and
the whole process as seen from outside (interpreter start included). The target: the API within
1.3 times the baseline.

Figures are printed, not asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
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
from components.packaging import Package, build_package  # noqa: E402

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


def run_once(folder: Path, module: str, handler: str) -> dict[str, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", DRIVER, module, handler, str(folder)],
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
    baseline_req = work / "baseline-requirements.txt"
    pins = [
        line
        for line in (ROOT / "functions" / "requirements.txt").read_text().splitlines()
        if line.startswith(("boto3==", "botocore=="))
    ]
    baseline_req.write_text("\n".join(pins) + "\n")
    plain_src, packaged_src = work / "baseline-plain", work / "baseline-packaged"
    for folder in (plain_src, packaged_src):
        folder.mkdir()
        (folder / "baseline_handler.py").write_text(BASELINE)
        (folder / "baseline_client.py").write_text(BASELINE_CLIENT)
    (packaged_src / packaging.SERVICES_FILE).write_text("dynamodb\n")

    out_dir = ROOT / ".build"
    functions = ROOT / "functions"

    def build(source: Path, requirements: Path, name: str, bytecode: bool) -> Package:
        return build_package(
            source, requirements, platform="host", python_version=None, out_dir=out_dir,
            name=name, bytecode=bytecode,
        )  # fmt: skip

    packages = {
        "API zip": build(functions, functions / "requirements.txt", "api", True),
        "API zip, no byte code": build(functions, functions / "requirements.txt", "api", False),
        "baseline, plain zip": build(plain_src, baseline_req, "baseline", False),
        "baseline, packaged": build(packaged_src, baseline_req, "baseline", True),
    }
    for label, package in packages.items():
        zipped, unpacked = package.size / 1e6, package.unpacked_size / 1e6
        print(f"{label:22} {zipped:6.1f} MB zipped, {unpacked:6.1f} MB unzipped")
    print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters per line\n")
    folders = {
        label: unzip(package.path, work / f"unzipped-{package.key}")
        for label, package in packages.items()
    }

    api, bare = folders["API zip"], folders["API zip, no byte code"]
    plain, packaged = folders["baseline, plain zip"], folders["baseline, packaged"]
    targets = [
        ("baseline", plain, "baseline_handler", "handler"),
        ("base+ddb", plain, "baseline_client", "handler"),
        ("baseline, packaged", packaged, "baseline_handler", "handler"),
        ("base+ddb, packaged", packaged, "baseline_client", "handler"),
        ("career", api, "vetroi_api.handlers", "career_handler"),
        ("recommend", api, "vetroi_api.handlers", "recommend_handler"),
        ("health", api, "vetroi_api.handlers", "health_handler"),
        ("uploads", api, "vetroi_api.handlers", "uploads_handler"),
        ("monolith", api, "vetroi_api.handlers", "lambda_handler"),
        ("career, no byte code", bare, "vetroi_api.handlers", "career_handler"),
        ("monolith, no byte code", bare, "vetroi_api.handlers", "lambda_handler"),
    ]
    # Round-robin over the functions, so that a change in the machine's load during the run
    # affects every line alike instead of whichever was measuring at the time.
    samples: dict[str, dict[str, list[float]]] = {t[0]: {} for t in targets}
    for _ in range(args.runs):
        for label, folder, module, handler in targets:
            for name, value in run_once(folder, module, handler).items():
                samples[label].setdefault(name, []).append(value)

    def total(label: str) -> float:
        return statistics.median(samples[label]["total"])

    print(f"{'function':22} {'import':>22} {'warm-up':>22} {'import+warm-up':>22} "
          f"{'process':>22}  ratio  packaged")  # fmt: skip
    for label, *_ in targets:
        got = samples[label]
        print(
            f"{label:22} {summary(got['import'])} {summary(got['warm'])} "
            f"{summary(got['total'])} {summary(got['process'])}  "
            f"{total(label) / total('baseline'):4.2f}x  "
            f"{total(label) / total('baseline, packaged'):5.2f}x"
        )
    print()
    print("ratio: median import+warm-up over the plain baseline's, the target's measure (1.3x at")
    print("most); packaged: over the baseline packaged as the API is, byte code included, which")
    print("leaves the cost of the API's own imports and of the clients its warm-up creates.")


if __name__ == "__main__":
    main()
