"""How long a function package takes to build, and how the same build fares with `sam build`.

Run from the repository root: `.venv/bin/python bench/build.py` (add `--skip-sam` to leave SAM
out). It prints, for the default Lambda target (arm64, Python 3.12):

- this project's builder: time from clean (empty package cache; pip's own download cache as it
  is), time with a warm cache (a no-op rebuild) in a fresh process, as each `pulumi up` is, so it
  includes finding the Python that byte-compiles (the same call repeated in one process, where
  that search is cached, is printed beside it), zip size and unpacked size, whether the zip
  carries byte code and from which Python, and whether two clean builds give the same bytes;
- `sam build` of the same code and requirements: time from clean, time of a no-op rebuild (plain
  and with `--cached`), and whether two clean builds give identical zips. SAM CLI is installed
  from PyPI into its own virtualenv under `.build/bench/`, never into the project's. `sam
  package` needs an S3 bucket, so the build folder is zipped here the way a deploy zips it:
  with SAM's own `make_zip` when it can be imported (its failure is printed), and naively (walk
  order, file times) too. SAM keeps all of botocore's data and compiles no byte code, so its
  sizes and times are not like for like with this project's;
- the time to run each stack under the mock runtime in one process, after a first run has warmed
  the package cache, the imports and the interpreter search (a `pulumi up` pays those again).

Figures are printed, not asserted: they depend on the machine, its load and the network.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.packaging import Package, build_package, find_interpreter  # noqa: E402

FUNCTIONS = ROOT / "functions"
BENCH = ROOT / ".build" / "bench"
SAM_VERSION = "1.170.0"
PLATFORM = "manylinux2014_aarch64"
PYTHON = "3.12"
HANDLER = "vetroi_api.handlers.lambda_handler"
T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def sha256_b64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def mb(size: int) -> str:
    return f"{size / 1048576:.1f} MB"


def ours() -> dict[str, Any]:
    def build(out: Path) -> Package:
        return build_package(
            FUNCTIONS,
            FUNCTIONS / "requirements.txt",
            platform=PLATFORM,
            python_version=PYTHON,
            out_dir=out,
        )

    first_dir, second_dir = BENCH / "ours-1", BENCH / "ours-2"
    for folder in (first_dir, second_dir):
        shutil.rmtree(folder, ignore_errors=True)

    package, clean = timed(lambda: build(first_dir))
    fresh = [warm_in_fresh_process(first_dir) for _ in range(3)]
    in_process = statistics.median(timed(lambda: build(first_dir))[1] for _ in range(5))
    again, clean_2 = timed(lambda: build(second_dir))
    return {
        "clean": clean,
        "clean_2": clean_2,
        "warm_build": statistics.median(build for build, _ in fresh),
        "warm_process": statistics.median(process for _, process in fresh),
        "warm_in_process": in_process,
        "bytecode": package.bytecode,
        "size": package.size,
        "unpacked": package.unpacked_size,
        "identical": package.path.read_bytes() == again.path.read_bytes(),
        "hash": package.sha256_b64,
    }


# A no-op rebuild as a `pulumi up` makes it: a new interpreter, nothing cached in memory.
WARM_BUILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from components.packaging import build_package
started = time.perf_counter()
build_package(sys.argv[2], sys.argv[3], platform=sys.argv[4], python_version=sys.argv[5],
              out_dir=sys.argv[6])
print(time.perf_counter() - started)
"""


def warm_in_fresh_process(out: Path) -> tuple[float, float]:
    """(build_package's own time, the whole process's time) of a no-op rebuild in a new process."""
    command = [sys.executable, "-c", WARM_BUILD, str(ROOT), str(FUNCTIONS)]
    command += [str(FUNCTIONS / "requirements.txt"), PLATFORM, PYTHON, str(out)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def sam_venv() -> Path:
    venv = BENCH / "sam-venv"
    sam = venv / "bin" / "sam"
    if not sam.exists():
        print(f"installing aws-sam-cli=={SAM_VERSION} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             f"aws-sam-cli=={SAM_VERSION}"],
            check=True,
        )  # fmt: skip
    return venv


TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/
      Handler: {HANDLER}
      Runtime: python{PYTHON}
      Architectures: [arm64]
"""

# SAM's own zipper for Lambda code, as `sam package` and `sam deploy` call it before uploading.
SAM_ZIP = """
import sys
from samcli.lib.package.utils import make_zip_with_lambda_permissions
print(make_zip_with_lambda_permissions(sys.argv[1], sys.argv[2]))
"""


def naive_zip(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, _, files in os.walk(folder):
            for file in files:
                path = Path(root, file)
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def sam(python: str) -> dict[str, Any]:
    venv = sam_venv()
    work = BENCH / "sam"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(
        FUNCTIONS, work / "functions", ignore=shutil.ignore_patterns("__pycache__", "tests")
    )
    (work / "template.yaml").write_text(TEMPLATE)
    env = {
        **os.environ,
        "PATH": f"{Path(python).parent}:{venv / 'bin'}:{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
    }
    built = work / ".aws-sam" / "build" / "Api"

    def run(*extra: str) -> float:
        command = [str(venv / "bin" / "sam"), "build", "--template", "template.yaml", *extra]
        started = time.perf_counter()
        result = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{result.stdout}\n{result.stderr}")
        return time.perf_counter() - started

    def zips(label: str) -> dict[str, str]:
        out = Path(tempfile.mkdtemp(prefix=f"sam-{label}-", dir=BENCH))
        hashes = {"naive": sha256_b64(naive_zip(built, out / "naive.zip"))}
        made = subprocess.run(
            [str(venv / "bin" / "python"), "-c", SAM_ZIP, str(out / "sam"), str(built)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode == 0:
            hashes["SAM's own zipper"] = sha256_b64(Path(made.stdout.strip().splitlines()[-1]))
        else:
            failure = (made.stderr.strip().splitlines() or ["no output"])[-1]
            hashes["SAM's own zipper"] = f"failed: {failure}"
        return hashes

    def from_clean() -> float:
        shutil.rmtree(work / ".aws-sam", ignore_errors=True)
        return run()

    clean = from_clean()
    first = zips("1")
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    debris = sorted(
        {p.name for p in built.rglob("*") if p.name in ("__pycache__", "RECORD", "INSTALLER")}
    )
    noop = run()
    time.sleep(1.1)  # let file times move on, as they would between two real builds
    clean_2 = from_clean()
    second = zips("2")
    run("--cached")
    cached_noop = run("--cached")
    return {
        "clean": clean,
        "clean_2": clean_2,
        "noop": noop,
        "cached_noop": cached_noop,
        "unpacked": size,
        "debris": debris,
        "identical": {
            kind: first[kind] if first[kind].startswith("failed:") else first[kind] == second[kind]
            for kind in first
        },
    }


def stacks() -> dict[str, float]:
    from tests.program import run_stack

    run_stack("prod")  # warms the package cache and the imports
    figures = {}
    for stack in ("prod", "backup"):
        started = time.perf_counter()
        run_stack(stack)
        figures[stack] = time.perf_counter() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-sam", action="store_true", help="leave sam build out")
    options = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)

    print(f"Target: Lambda {PLATFORM}, Python {PYTHON}; sources {FUNCTIONS}")
    mine = ours()
    print("\nthis project's builder (components/packaging.py)")
    print(f"  from clean (pip download cache warm):  {mine['clean']:.2f} s")
    print(f"  second build from clean:               {mine['clean_2']:.2f} s")
    print(
        f"  warm cache, no-op rebuild, new process (median/3): {mine['warm_build']:.2f} s in"
        f" build_package, {mine['warm_process']:.2f} s for the whole process"
    )
    print(
        f"  the same, repeated in one process (median/5, interpreter search cached):"
        f" {mine['warm_in_process'] * 1000:.1f} ms"
    )
    print(f"  zip size / unpacked:                   {mb(mine['size'])} / {mb(mine['unpacked'])}")
    bytecode = f"yes, by Python {mine['bytecode']}" if mine["bytecode"] else "no, sources only"
    print(f"  byte-compiled (.pyc in the zip):       {bytecode}")
    print(f"  two clean builds byte-identical:       {mine['identical']} ({mine['hash']})")

    if not options.skip_sam:
        # `sam build` insists on the runtime's version being on PATH: the builder's own search.
        found = find_interpreter(PYTHON)
        python = found.path if found else None
        if python is None:
            print("\nsam build: skipped, no Python 3.12 on this machine (sam build needs one)")
        else:
            theirs = sam(python)
            print(f"\nsam build (aws-sam-cli {SAM_VERSION}, Python from {python})")
            print(f"  from clean:                            {theirs['clean']:.2f} s")
            print(f"  second build from clean:               {theirs['clean_2']:.2f} s")
            print(f"  no-op rebuild, plain `sam build`:      {theirs['noop']:.2f} s")
            print(f"  no-op rebuild, `sam build --cached`:   {theirs['cached_noop']:.2f} s")
            print(f"  unpacked size:                         {mb(theirs['unpacked'])}")
            print(f"  build-folder debris:                   {theirs['debris'] or 'none'}")
            for kind, same in theirs["identical"].items():
                print(f"  two clean builds, identical zips ({kind}): {same}")

    figures = stacks()
    print(
        "\neach stack under the mock runtime, in one process after a warm-up run"
        " (package cache, imports and interpreter search already warm)"
    )
    for stack, seconds in figures.items():
        print(f"  {f'run_stack({stack!r})':<39}{seconds:.2f} s")


if __name__ == "__main__":
    main()
