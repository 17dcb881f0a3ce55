"""Build each function's deployment zip: the code and every dependency, reproducibly, cached.

`build_package(source_dir, requirements, platform=..., python_version=...)` installs the pinned
requirements with pip (wheels only) for the Lambda platform, copies the application packages
next to them, strips what pip leaves behind that differs from one install to the next,
byte-compiles everything with the target's Python, and writes a zip whose bytes depend only on
its inputs: sorted entries, one fixed timestamp, fixed permissions, fixed compression. The same
sources and requirements therefore give the same base64 SHA-256 (`Package.sha256_b64`), which
the function passes as `source_code_hash`: the provider compares it with the one in the state to
decide whether the code changed, so an `up` without a change redeploys nothing.

What reaches Lambda is not this file byte for byte: the function hands it over as a
`pulumi.FileArchive`, and Pulumi reads the zip's entries and writes them into a zip of its own
(its own deflate, its own fixed time, no Unix modes) before the provider uploads it. So Lambda's
`CodeSha256` is the hash of Pulumi's zip, not `sha256_b64`, and the 0644 modes written here do
not reach Lambda. Change detection is unaffected: `source_code_hash` is compared as given, and
Pulumi's archive hash is the hash of this zip's bytes, stable for the same inputs.

No `__pycache__` is stripped: the `.pyc` files in it are built here on purpose (see "Byte code"),
for the target's Python only, and are part of what the zip's hash covers. The build debris that is
stripped is what pip leaves (install records, scripts) and tests.

Byte code. The zip carries the dependencies, so nothing in it comes precompiled as the runtime's
own boto3 does, and `/var/task` is read-only: without `.pyc` files in the zip, every cold start
compiles boto3, botocore, requests and the rest from source again (0.3 s of the 0.5 s that a
handler importing boto3 alone takes to start, on `bench/cold_start.py`'s machine). The build
compiles every module with an interpreter of the target's Python version (`VETROI_BUILD_PYTHON`,
else `pythonX.Y` on the PATH, else a pyenv install), as checked-hash `.pyc` files: Python checks
each against its source before using it, so a source edited after the build (in the Lambda
console, say) is never shadowed by stale byte code, and nothing in them depends on file times.
Code objects name their files under `/var/task`, where Lambda unpacks the zip, rather than the
temporary build folder, whose name would otherwise change the bytes of every build. Without such
an interpreter the zip ships sources only (`Package.bytecode` is None) and works, only with
slower cold starts.

Builds are cached by content under `out_dir/packages/<key>.zip`. The key hashes every source file
(path and bytes), the requirements file, the platform, the Python version, the version of the
interpreter that compiles the byte code, the version of pip (the Makefile pins it) and
`BUILDER_VERSION`; a hit hashes only the sources and
never runs pip. Two processes building the same key at once take turns on a lock file and the
loser returns the winner's zip; files are written to a temporary name and renamed into place, so
a reader never sees half a zip. After each build the cache keeps the `CACHE_ENTRIES` packages
most recently built or used and deletes the rest.

No Pulumi import here: the local demo, the tests and the benchmark use it as plain Python.

Known limitations:
- The cache key covers the requirements file as written, not what pip resolves from it: a
  dependency that is not pinned there may resolve to a newer release on a fresh machine while an
  old cache entry keeps serving the previous one. Pin every transitive dependency to avoid it.
- Compressed bytes come from the interpreter's zlib: two machines with different zlib builds can
  produce different (equally valid) zips from the same inputs, and so a different hash.
- `"host"` builds for the running interpreter and this machine; they exist for tests and the
  local demo and must never be deployed.
- Byte code from two patch releases of the same Python (3.12.1 and 3.12.8) loads on either, but
  may differ in bytes: machines with different patch releases build different hashes.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

# Bump whenever the build changes what goes into a zip, so old cache entries stop matching.
BUILDER_VERSION = "3"

# Lambda's limits for a zip uploaded directly and for the function unzipped (layers included,
# and these functions have none).
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024

# Packages kept in the cache: enough for both architectures, the host build and a few recent
# versions of the code to switch back to without a rebuild.
CACHE_ENTRIES = 12

LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux2014_x86_64")
HOST = "host"

# Every Lambda Python runtime from 3.12 on runs on Amazon Linux 2023 (glibc 2.34), so wheels
# built for any glibc from 2.17 (manylinux2014) up to 2.34 load there.
_GLIBC_MINORS = range(34, 16, -1)

# Left out of the zip: caches and byte code differ between runs, tests and the requirements file
# are not run by Lambda.
_SKIPPED_NAMES = frozenset({"__pycache__", "tests", "requirements.txt"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# Files pip writes into a .dist-info that record this install (paths, hashes of generated
# scripts, the installer, where the wheel came from) rather than the package itself.
_INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})

# Beside the sources: the AWS services the code calls, one a line. botocore ships the data of
# every AWS service (most of its 20-odd MB) and lists all of it when a client is first created;
# with this file the zip keeps only the named services' data.
SERVICES_FILE = "aws-services.txt"

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
# Fixed so that the zip's bytes do not depend on the build machine's umask. Pulumi re-zips the
# archive before upload without modes, so these matter to the bytes and the hash, not to Lambda.
_FILE_MODE = 0o100644
_UNIX = 3  # zip "made by" system; makes the mode bits above meaningful to a reader of this zip

TASK_ROOT = "/var/task"  # where Lambda unpacks a zip package
BUILD_PYTHON_VARIABLE = "VETROI_BUILD_PYTHON"


class PackageError(Exception):
    """A function package could not be built; the message says which and why."""


class PackageTooLargeError(PackageError):
    """The package is over one of Lambda's size limits for a directly uploaded zip."""

    def __init__(self, name: str, source: Path, what: str, actual: int, limit: int) -> None:
        self.name = name
        self.actual = actual
        self.limit = limit
        super().__init__(
            f"function package {name!r} (the code in {source} and its requirements) is "
            f"{_mb(actual)} {what}, over Lambda's limit of {_mb(limit)}: drop dependencies "
            "from its requirements or split the function"
        )


@dataclass(frozen=True)
class Package:
    """A built deployment zip and what Lambda will check about it."""

    path: Path
    # base64 of the SHA-256 of this zip: the function's source_code_hash (its change trigger).
    # Not Lambda's CodeSha256: Pulumi re-zips the archive before upload (module docstring).
    sha256_b64: str
    size: int
    unpacked_size: int
    key: str
    platform: str
    python_version: str
    bytecode: str | None  # the Python release that compiled the zip's .pyc files; None: none


@dataclass(frozen=True)
class Interpreter:
    """A Python that byte-compiles packages for one target version."""

    path: str
    release: str  # e.g. 3.12.1


def build_package(
    source_dir: str | os.PathLike[str],
    requirements: str | os.PathLike[str],
    *,
    platform: str,
    python_version: str | None,
    out_dir: str | os.PathLike[str] = ".build",
    name: str | None = None,
    max_zip_bytes: int = MAX_ZIP_BYTES,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    bytecode: bool = True,
) -> Package:
    """Build (or take from the cache) the zip of `source_dir` with `requirements` installed.

    `platform` is one of `LAMBDA_PLATFORMS`, or `"host"` for this machine's interpreter, in which
    case `python_version` must be None or the running version. `name` names the package in
    errors (the source folder's name by default). `bytecode=False` ships sources only, as a
    plain `pip install --target` and zip would. Raises `PackageTooLargeError` when the zip or
    its unpacked contents exceed the limits and `PackageError` when pip or the byte-compiling
    fails.
    """
    source = Path(source_dir).resolve()
    requirements_file = Path(requirements).resolve()
    name = name or source.name
    version = _check_target(platform, python_version)
    if not source.is_dir():
        raise PackageError(f"function package {name!r}: source folder {source} does not exist")
    if not requirements_file.is_file():
        raise PackageError(f"function package {name!r}: {requirements_file} does not exist")

    cache = Path(out_dir).resolve() / "packages"
    cache.mkdir(parents=True, exist_ok=True)
    compiler = find_interpreter(version) if bytecode else None
    release = compiler.release if compiler else ""
    key = cache_key(source, requirements_file, platform, version, release)

    package = _cached(cache, key)
    if package is None:
        with _locked(cache / f"{key}.lock"):
            # Another process may have finished the same build while this one waited.
            package = _cached(cache, key) or _build(
                name, source, requirements_file, platform, version, compiler, cache, key,
                max_unpacked_bytes,
            )  # fmt: skip
    # Checked on every call, so a cached package is held to the limits of this call too.
    if package.unpacked_size > max_unpacked_bytes:
        raise PackageTooLargeError(
            name, source, "unzipped", package.unpacked_size, max_unpacked_bytes
        )
    if package.size > max_zip_bytes:
        raise PackageTooLargeError(name, source, "zipped", package.size, max_zip_bytes)
    return package


def cache_key(
    source: Path, requirements: Path, platform: str, python_version: str, bytecode: str = ""
) -> str:
    """The content hash that names a package: sources, requirements, target and builder.

    `bytecode` is the release of the Python that compiles the package ("" for none).
    """
    digest = hashlib.sha256()
    # pip decides which files an install writes, so another pip may build other bytes.
    pip = importlib.metadata.version("pip")
    for part in (BUILDER_VERSION, platform, python_version, _host_tag(platform), bytecode, pip):
        digest.update(part.encode() + b"\0")
    digest.update(requirements.read_bytes() + b"\0")
    for relative, path in _source_files(source):
        digest.update(relative.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def _check_target(platform: str, python_version: str | None) -> str:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if platform == HOST:
        if python_version not in (None, running):
            raise PackageError(
                f"a host build uses the running Python {running}, not {python_version}; "
                f"build for {' or '.join(LAMBDA_PLATFORMS)} to target another version"
            )
        return running
    if platform not in LAMBDA_PLATFORMS:
        raise PackageError(
            f"unknown platform {platform!r}: expected {HOST!r} or one of {LAMBDA_PLATFORMS}"
        )
    if python_version is None or not python_version.replace(".", "").isdigit():
        raise PackageError(f"python_version must look like 3.12, not {python_version!r}")
    return python_version


def find_interpreter(python_version: str) -> Interpreter | None:
    """A CPython of `python_version` ("3.12") to byte-compile with, or None when there is none.

    Looks at `VETROI_BUILD_PYTHON` (which must then be that version), the running interpreter,
    `python3.12` on the PATH, then pyenv's installs of 3.12.x, newest first. Each candidate is
    run once to ask its version: a pyenv shim on the PATH exists even where it cannot run.
    """
    return _find_interpreter(python_version, os.environ.get(BUILD_PYTHON_VARIABLE) or None)


@functools.cache
def _find_interpreter(python_version: str, explicit: str | None) -> Interpreter | None:
    if explicit:
        found = _interpreter(explicit, python_version)
        if found is None:
            raise PackageError(
                f"{BUILD_PYTHON_VARIABLE}={explicit} is not a CPython {python_version} that runs "
                f"here; point it at one (e.g. /usr/bin/python{python_version}) or unset it"
            )
        return found
    candidates = [sys.executable, shutil.which(f"python{python_version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv", "versions")
    releases = sorted(
        pyenv.glob(f"{python_version}.*/bin/python{python_version}"),
        key=lambda path: [int(p) if p.isdigit() else -1 for p in path.parts[-3].split(".")],
        reverse=True,
    )
    candidates += [str(path) for path in releases]
    for candidate in candidates:
        if candidate and (found := _interpreter(candidate, python_version)) is not None:
            return found
    return None


def _interpreter(path: str, python_version: str) -> Interpreter | None:
    if path == sys.executable:
        release = ".".join(map(str, sys.version_info[:3]))
        name = sys.implementation.name
    else:
        ask = "import sys; print(sys.implementation.name, '%d.%d.%d' % sys.version_info[:3])"
        try:
            result = subprocess.run(
                [path, "-I", "-c", ask], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        name, _, release = result.stdout.strip().partition(" ")
        if result.returncode != 0:
            return None
    if name != "cpython" or not release.startswith(f"{python_version}."):
        return None
    return Interpreter(path, release)


def _host_tag(platform: str) -> str:
    # A host build holds this machine's compiled wheels, so another machine must not share it.
    if platform != HOST:
        return ""
    return f"{sys.implementation.name}-{sysconfig.get_platform()}-{sys.version_info[:3]}"


def _source_files(source: Path) -> Iterator[tuple[str, Path]]:
    """Every file to ship from `source`, as (zip path, file), in a stable order."""
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        for file in sorted(files):
            if _skipped(file):
                continue
            path = Path(root, file)
            yield path.relative_to(source).as_posix(), path


def _skipped(name: str) -> bool:
    # Hidden names are tool caches (.pytest_cache, .mypy_cache) and editor files.
    return name in _SKIPPED_NAMES or name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES)


def _cached(cache: Path, key: str) -> Package | None:
    meta, archive = cache / f"{key}.json", cache / f"{key}.zip"
    try:
        recorded = json.loads(meta.read_text())
        size = archive.stat().st_size
        if recorded.get("size") != size:
            return None  # a zip that was changed or cut short after it was recorded
        package = Package(**{**recorded, "path": archive})
        # The newest use decides what pruning keeps, so a package in use is never pruned.
        os.utime(archive)
    except (OSError, ValueError, TypeError):
        return None
    return package


def _prune(cache: Path, keep: int) -> None:
    """Delete all but the `keep` most recently built or used packages."""
    used = {}
    for archive in cache.glob("*.zip"):
        with contextlib.suppress(OSError):  # another process pruned it first
            used[archive] = archive.stat().st_mtime
    for archive in sorted(used, key=used.__getitem__, reverse=True)[keep:]:
        # The record first: without it the entry is a miss, never a half-deleted hit. Lock files
        # stay, since another process may be waiting on one.
        archive.with_suffix(".json").unlink(missing_ok=True)
        archive.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no lock; concurrent builds still end in an atomic rename
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    name: str,
    source: Path,
    requirements: Path,
    platform: str,
    python_version: str,
    compiler: Interpreter | None,
    cache: Path,
    key: str,
    max_unpacked_bytes: int,
) -> Package:
    with tempfile.TemporaryDirectory(prefix=f"{key}-", dir=cache) as work:
        staging = Path(work, "staging")
        staging.mkdir()
        if _has_requirements(requirements):
            _pip_install(name, requirements, staging, platform, python_version)
        _strip_install_debris(staging)
        _copy_sources(name, source, staging)
        services = aws_services(source)
        if services is not None:
            keep_botocore_services(name, staging, services)
        if compiler is not None:
            _compile(name, staging, compiler)

        files = sorted(
            (path.relative_to(staging).as_posix(), path)
            for path in staging.rglob("*")
            if path.is_file()
        )
        unpacked = sum(path.stat().st_size for _, path in files)
        if unpacked > max_unpacked_bytes:
            # Stop before spending time on a zip that cannot be deployed.
            raise PackageTooLargeError(name, source, "unzipped", unpacked, max_unpacked_bytes)

        partial = Path(work, "package.zip")
        _write_zip(partial, files)
        size = partial.stat().st_size

        package = Package(
            path=cache / f"{key}.zip",
            sha256_b64=base64.b64encode(hashlib.sha256(partial.read_bytes()).digest()).decode(),
            size=size,
            unpacked_size=unpacked,
            key=key,
            platform=platform,
            python_version=python_version,
            bytecode=compiler.release if compiler else None,
        )
        # The zip first, then the record that makes it a cache hit: a crash in between leaves
        # only a zip that the next build overwrites.
        os.replace(partial, package.path)
        record = {k: v for k, v in asdict(package).items() if k != "path"}
        _write_atomically(cache / f"{key}.json", json.dumps(record, indent=2, sort_keys=True))
    _prune(cache, CACHE_ENTRIES)
    return package


def _has_requirements(requirements: Path) -> bool:
    # pip refuses a file without a single requirement; such a package is just its sources.
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return any(lines)


def _pip_install(
    name: str, requirements: Path, target: Path, platform: str, python_version: str
) -> None:
    command = [
        sys.executable, "-m", "pip", "install",
        "--requirement", str(requirements),
        "--target", str(target),
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--quiet",
    ]  # fmt: skip
    if platform != HOST:
        arch = platform.removeprefix("manylinux2014_")
        for minor in _GLIBC_MINORS:
            command += ["--platform", f"manylinux_2_{minor}_{arch}"]
        command += [
            "--platform", platform,
            "--implementation", "cp",
            "--python-version", python_version,
        ]  # fmt: skip
    # pip's own byte-compile switch is not the only source of .pyc: a build hook could import.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise PackageError(
            f"function package {name!r}: pip could not install {requirements} for {platform} "
            f"Python {python_version} (wheels only):\n{result.stderr.strip()}"
        )


def _strip_install_debris(staging: Path) -> None:
    """Remove what differs between two installs of the same wheels."""
    # Console scripts carry this machine's interpreter path in their first line, and Lambda
    # never runs them.
    shutil.rmtree(staging / "bin", ignore_errors=True)
    for path in sorted(staging.rglob("*"), reverse=True):
        if path.name == "__pycache__" and path.is_dir():
            shutil.rmtree(path)
        elif path.suffix in _SKIPPED_SUFFIXES:
            path.unlink()
        elif path.parent.name.endswith(".dist-info") and path.name in _INSTALL_RECORDS:
            path.unlink()


def _compile(name: str, staging: Path, compiler: Interpreter) -> None:
    """Byte-compile every module in `staging` as checked-hash .pyc files named under TASK_ROOT."""
    command = [
        compiler.path, "-m", "compileall", "-q",
        "--invalidation-mode", "checked-hash",
        "-s", str(staging), "-p", TASK_ROOT,
        "-j", "0",
        str(staging),
    ]  # fmt: skip
    # No PYTHON* variable of this shell may reach the compiler: PYTHONPYCACHEPREFIX would write
    # the files elsewhere, PYTHONOPTIMIZE would name them .opt-1.pyc, which Lambda never reads.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"  # set and frozenset constants in one order, whatever the run
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise PackageError(
            f"function package {name!r}: Python {compiler.release} ({compiler.path}) could not "
            f"compile every module; a module that does not compile cannot be imported either:\n"
            f"{(result.stdout + result.stderr).strip()}"
        )


def aws_services(source: Path) -> frozenset[str] | None:
    """The services named in `source`'s SERVICES_FILE, or None to keep every service."""
    listing = source / SERVICES_FILE
    if not listing.is_file():
        return None
    lines = (line.split("#", 1)[0].strip() for line in listing.read_text().splitlines())
    return frozenset(line for line in lines if line)


def keep_botocore_services(name: str, staging: Path, services: frozenset[str]) -> None:
    """Delete botocore's data for every service the code does not call.

    botocore finds a service's model by its folder, so a client of a removed service fails with
    UnknownServiceError: the list must name every service the code creates a client for.
    """
    data = staging / "botocore" / "data"
    if not data.is_dir():
        return  # no botocore in the requirements: nothing to trim
    shipped = {folder.name for folder in data.iterdir() if folder.is_dir()}
    unknown = services - shipped
    if unknown:
        raise PackageError(
            f"function package {name!r}: {SERVICES_FILE} names {sorted(unknown)}, which this "
            "botocore does not know; use the service names boto3.client() takes"
        )
    for service in sorted(shipped - services):
        shutil.rmtree(data / service)


def _copy_sources(name: str, source: Path, staging: Path) -> None:
    for relative, path in _source_files(source):
        destination = staging / relative
        if destination.exists():
            raise PackageError(
                f"function package {name!r}: {relative} in {source} has the same path as a "
                "file of an installed dependency; rename the module"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def _write_zip(path: Path, files: list[tuple[str, Path]]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for relative, file in files:
            entry = zipfile.ZipInfo(relative, date_time=_FIXED_TIME)
            entry.create_system = _UNIX
            entry.external_attr = _FILE_MODE << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, file.read_bytes(), compresslevel=6)


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB ({size} bytes)"
