"""Function packages built for real with pip, then opened, compared, unpacked and imported."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from components import packaging
from components.packaging import Package, PackageError, PackageTooLargeError, build_package

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
HANDLERS = (
    "lambda_handler",
    "recommend_handler",
    "career_handler",
    "health_handler",
    "uploads_handler",
)
# A wheel for Lambda arm64 Python 3.12: pure Python, or CPython 3.12 (or the stable ABI) built
# for a manylinux aarch64 platform. py2-none-any is allowed beside py3-none-any in universal
# wheels (six, python-dateutil).
LAMBDA_TAG = re.compile(r"^(py3-none-any|py2-none-any|cp3\d*-(cp312|abi3)-manylinux\w*_aarch64)$")
DEBRIS = re.compile(
    r"\.pyo$|\.dist-info/(RECORD|INSTALLER|REQUESTED|direct_url\.json)$"
    r"|^bin/|^(vetroi_\w+/)?tests/|^requirements\.txt$"
)
CHECKED_HASH = 0b11  # .pyc flags: hash-based, and the source is checked against the hash


def pins(requirements: Path) -> dict[str, str]:
    found = {}
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if version:
            # As pip names the .dist-info folder: lower case, runs of - _ . as one _.
            found[re.sub(r"[-_.]+", "_", name).lower()] = version
    return found


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of functions/ taken once, so every build and rebuild sees the same sources."""
    copy = tmp_path_factory.mktemp("sources") / "functions"
    shutil.copytree(FUNCTIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture(scope="session")
def built(snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    """The real functions/ built from clean three times, at once (pip mostly waits on I/O):
    twice for this machine, each in its own folder, and once for Lambda arm64 Python 3.12."""
    functions = snapshot
    targets = {
        "host-a": ("host", None),
        "host-b": ("host", None),
        "lambda": ("manylinux2014_aarch64", "3.12"),
    }

    def build(label: str) -> Package:
        platform, version = targets[label]
        return build_package(
            functions,
            functions / "requirements.txt",
            platform=platform,
            python_version=version,
            out_dir=tmp_path_factory.mktemp(f"build-{label}"),
        )

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        return dict(zip(targets, pool.map(build, targets), strict=True))


@pytest.fixture(scope="session")
def host_builds(built: dict[str, Package]) -> tuple[Package, Package]:
    return built["host-a"], built["host-b"]


@pytest.fixture(scope="session")
def host_package(built: dict[str, Package]) -> Package:
    return built["host-a"]


@pytest.fixture(scope="session")
def lambda_package(built: dict[str, Package]) -> Package:
    return built["lambda"]


@pytest.fixture
def small_source(tmp_path: Path) -> tuple[Path, Path]:
    """A one-module source tree and a requirements file with nothing to install."""
    source = tmp_path / "src"
    (source / "app").mkdir(parents=True)
    (source / "app" / "__init__.py").write_text("def handler(event, context):\n    return 1\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing to install\n")
    return source, requirements


def names(package: Package) -> list[str]:
    with zipfile.ZipFile(package.path) as archive:
        return archive.namelist()


def test_zip_holds_the_code_and_every_pinned_dependency(
    snapshot: Path, host_package: Package
) -> None:
    """The application, its static data and each pinned dependency are inside the zip."""
    inside = set(names(host_package))

    for module in ("vetroi_api/handlers.py", "vetroi_api/static/careers.json"):
        assert module in inside, f"{module} missing from {host_package.path}"
    for package in ("boto3", "botocore", "requests", "urllib3", "s3transfer", "jmespath"):
        assert f"{package}/__init__.py" in inside, f"{package} missing from the zip"
    for name, version in pins(snapshot / "requirements.txt").items():
        assert f"{name}-{version}.dist-info/METADATA" in inside, f"{name}=={version} missing"


def test_zip_has_no_build_debris(host_package: Package, lambda_package: Package) -> None:
    """No install records, scripts, tests or requirements file in either zip.

    `__pycache__` is not debris here: its checked-hash `.pyc` files for the target's Python are
    built on purpose, so that cold starts do not compile the dependencies (the next test).
    """
    for package in (host_package, lambda_package):
        debris = [name for name in names(package) if DEBRIS.search(name)]
        assert debris == [], f"{package.platform} zip carries {debris[:10]}"


def byte_code(package: Package) -> dict[str, bytes]:
    with zipfile.ZipFile(package.path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.endswith(".pyc")}


def test_every_module_ships_checked_hash_byte_code_for_the_target_python(
    host_package: Package, lambda_package: Package
) -> None:
    """Each .py has its .pyc for the target's Python beside it, and no other .pyc is there."""
    if lambda_package.bytecode is None:
        pytest.skip("no CPython 3.12 on this machine to byte-compile the Lambda package with")
    running = f"{sys.version_info.major}{sys.version_info.minor}"
    for package, tag in ((host_package, running), (lambda_package, "312")):
        modules = [n for n in names(package) if n.endswith(".py")]
        expected = {
            f"{folder}__pycache__/{stem}.cpython-{tag}.pyc"
            for folder, stem in (re.match(r"(.*?)([^/]+)\.py$", n).groups() for n in modules)  # type: ignore[union-attr]
        }
        compiled = byte_code(package)

        assert set(compiled) == expected, f"{package.platform}: {set(compiled) ^ expected}"
        assert package.bytecode is not None
        assert package.bytecode.replace(".", "").startswith(tag)
        flags = {int.from_bytes(data[4:8], "little") for data in compiled.values()}
        assert flags == {CHECKED_HASH}, f"{package.platform}: flags {flags}"
    # 3.12's magic number (3531), which every 3.12.x release reads.
    magic = {data[:4] for data in byte_code(lambda_package).values()}
    assert magic == {(3531).to_bytes(2, "little") + b"\r\n"}


def test_unpacked_modules_load_from_the_byte_code_until_their_source_is_edited(
    host_package: Package, tmp_path: Path
) -> None:
    """Unpacked anywhere, modules load from the shipped .pyc; a source edited after the build
    (in the Lambda console, say) is what runs, never the stale byte code."""
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(host_package.path) as archive:
        archive.extractall(unpacked)
    script = (
        f"import sys; sys.path.insert(0, {str(unpacked)!r}); "
        "from vetroi_api import validation; import botocore.session; "
        "print(getattr(validation, 'EDITED', False))"
    )

    def run() -> tuple[str, dict[str, str]]:
        # -B writes nothing, as on Lambda's read-only /var/task; -v says where code came from.
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-v", "-c", script],
            capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
            env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-2"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", result.stderr, re.MULTILINE)
        origins = {
            module: next(Path(p).name for p in loaded if f"{module}." in Path(p).name)
            for module in ("validation", "session")
        }
        return result.stdout.strip(), origins

    tag = sys.implementation.cache_tag
    assert run() == (
        "False",
        {"validation": f"validation.{tag}.pyc", "session": f"session.{tag}.pyc"},
    )
    with (unpacked / "vetroi_api" / "validation.py").open("a") as source:
        source.write("\nEDITED = True\n")
    assert run() == ("True", {"validation": "validation.py", "session": f"session.{tag}.pyc"})


def test_without_an_interpreter_for_the_target_the_zip_ships_sources_only(
    small_source: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Python of the target's version here, or bytecode=False: a working zip of sources,
    recorded as such, and another package than the compiled one."""
    source, requirements = small_source

    def build(**options: bool) -> Package:
        return build_package(
            source, requirements, platform="host", python_version=None,
            out_dir=tmp_path / "out", **options,
        )  # fmt: skip

    compiled = build()
    plain = build(bytecode=False)
    monkeypatch.setattr(packaging, "find_interpreter", lambda version: None)
    missing = build()

    assert names(compiled) == ["app/__init__.py", byte_code_name("app/__init__.py")]
    assert names(plain) == names(missing) == ["app/__init__.py"]
    assert plain.bytecode is missing.bytecode is None
    assert plain.key == missing.key != compiled.key


def byte_code_name(module: str) -> str:
    folder, _, file = module.rpartition("/")
    return f"{folder}/__pycache__/{file.removesuffix('.py')}.{sys.implementation.cache_tag}.pyc"


def test_build_python_setting_must_name_a_python_of_the_target_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """VETROI_BUILD_PYTHON pointing at another version, or at nothing, stops the build."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    monkeypatch.setenv(packaging.BUILD_PYTHON_VARIABLE, sys.executable)

    assert packaging.find_interpreter(running) == packaging.Interpreter(
        sys.executable, ".".join(map(str, sys.version_info[:3]))
    )
    with pytest.raises(PackageError, match=r"VETROI_BUILD_PYTHON=.* is not a CPython 3\.99"):
        packaging.find_interpreter("3.99")
    monkeypatch.setenv(packaging.BUILD_PYTHON_VARIABLE, "/nonexistent/python3.12")
    with pytest.raises(PackageError, match="or unset it"):
        packaging.find_interpreter("3.12")


def test_zip_entries_are_sorted_dated_1980_with_fixed_modes(host_package: Package) -> None:
    """Entry order, time, permissions and compression depend on nothing but the inputs.

    The modes keep the zip's bytes independent of the umask; Pulumi re-zips before upload
    without them, so they are not what Lambda sees.
    """
    with zipfile.ZipFile(host_package.path) as archive:
        entries = archive.infolist()

    assert [e.filename for e in entries] == sorted(e.filename for e in entries)
    assert {e.date_time for e in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {e.external_attr >> 16 for e in entries} == {0o100644}
    assert {e.create_system for e in entries} == {3}
    assert {e.compress_type for e in entries} == {zipfile.ZIP_DEFLATED}


def test_two_clean_builds_are_byte_identical(host_builds: tuple[Package, Package]) -> None:
    """Two builds in separate folders give the same bytes, hash and key."""
    first, second = host_builds

    assert first.path != second.path
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_b64 == second.sha256_b64
    assert first.key == second.key


def test_hash_is_the_base64_sha256_of_the_zip(host_package: Package) -> None:
    """sha256_b64 is the base64 SHA-256 of the zip (source_code_hash's format), size its size.

    Not Lambda's CodeSha256: Pulumi re-zips a FileArchive before the upload.
    """
    data = host_package.path.read_bytes()

    assert host_package.sha256_b64 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert host_package.size == len(data)
    with zipfile.ZipFile(host_package.path) as archive:
        assert host_package.unpacked_size == sum(e.file_size for e in archive.infolist())


def test_unpacked_zip_imports_its_handlers_in_an_isolated_interpreter(
    host_package: Package, tmp_path: Path
) -> None:
    """With only the unzipped package on its path, Python imports and runs every handler."""
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(host_package.path) as archive:
        archive.extractall(unpacked)
    script = textwrap.dedent(
        f"""
        import json, sys
        # -I -S: no site-packages, no user site, no PYTHON* variables, no current folder.
        assert not [p for p in sys.path if "site-packages" in p], sys.path
        sys.path.insert(0, {str(unpacked)!r})
        from vetroi_api import handlers
        import boto3, botocore, requests
        modules = [handlers, boto3, botocore, requests]
        outside = [m.__name__ for m in modules if not m.__file__.startswith({str(unpacked)!r})]
        preflight = handlers.lambda_handler(
            {{"httpMethod": "OPTIONS", "path": "/health", "resource": "/health",
              "headers": {{"Origin": "https://app.example.com",
                          "Access-Control-Request-Method": "GET"}}}},
            None,
        )
        print(json.dumps({{
            "outside": outside,
            "callable": [n for n in {HANDLERS!r} if callable(getattr(handlers, n))],
            "warm": handlers.health_handler({{"warmup": True}}, None),
            "preflight": preflight["statusCode"],
            "origin": {{k.lower(): v for k, v in preflight["headers"].items()}}
                .get("access-control-allow-origin"),
        }}))
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-2",
        "AWS_DEFAULT_REGION": "us-east-2",
        "VETROI_TABLE": "vetroi-data",
        "VETROI_CORS_ORIGINS": "https://app.example.com",
    }

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outside"] == [], f"imported from outside the zip: {report['outside']}"
    assert report["callable"] == list(HANDLERS)
    assert report["warm"] == {"warm": True}
    assert report["preflight"] in (200, 204)
    assert report["origin"] == "https://app.example.com"


def test_zip_keeps_botocore_data_of_the_listed_services_only(
    host_package: Package, lambda_package: Package
) -> None:
    """botocore's data folders in the zip are exactly the services aws-services.txt names."""
    listed = packaging.aws_services(FUNCTIONS)
    assert listed and "dynamodb" in listed

    for package in (host_package, lambda_package):
        folders = {
            name.split("/")[2]
            for name in names(package)
            if name.startswith("botocore/data/") and name.count("/") > 2
        }
        assert folders == listed, package.platform
        assert "botocore/data/endpoints.json" in names(package)


def test_every_service_the_code_calls_is_listed() -> None:
    """Each client the function code creates names a service whose data the zip keeps."""
    called = re.compile(r"""(?:boto3\.client|aws\.client)\((?:[^,()]+, )?["']([a-z0-9-]+)["']""")
    services = {
        match.group(1)
        for path in FUNCTIONS.rglob("*.py")
        for match in called.finditer(path.read_text())
    }

    assert {"dynamodb", "s3", "secretsmanager", "cloudwatch"} <= services
    assert services <= packaging.aws_services(FUNCTIONS), "add them to aws-services.txt"


def test_trimmed_zip_creates_listed_clients_and_refuses_others(
    host_package: Package, tmp_path: Path
) -> None:
    """In an isolated interpreter, every listed client works; an unlisted one is unknown."""
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(host_package.path) as archive:
        archive.extractall(unpacked)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(unpacked)!r})
        import boto3
        from botocore.exceptions import UnknownServiceError
        made = [boto3.client(s).meta.service_model.service_name
                for s in {sorted(packaging.aws_services(FUNCTIONS) or ())!r}]
        try:
            boto3.client("ec2")
            refused = False
        except UnknownServiceError:
            refused = True
        print(json.dumps({{"made": made, "refused": refused}}))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-2"}

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["made"]) == len(packaging.aws_services(FUNCTIONS) or ())
    assert report["refused"] is True


def test_unknown_service_in_the_list_is_refused(tmp_path: Path) -> None:
    """A misspelt service fails the build with a message naming it, not a broken function."""
    source = tmp_path / "src"
    shutil.copytree(FUNCTIONS / "vetroi_api", source / "vetroi_api")
    (source / packaging.SERVICES_FILE).write_text("dynamodb\ndynamo-db\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("botocore==1.44.8\njmespath==1.1.0\npython-dateutil==2.9.0.post0\n")

    with pytest.raises(PackageError, match=r"\['dynamo-db'\], which this botocore does not know"):
        build_package(
            source, requirements, platform="host", python_version=None, out_dir=tmp_path / "out"
        )


def test_lambda_build_carries_only_lambda_wheels(snapshot: Path, lambda_package: Package) -> None:
    """Every wheel in the arm64 3.12 zip is pure Python or built for cp312 manylinux aarch64."""
    with zipfile.ZipFile(lambda_package.path) as archive:
        wheels = {
            name.split("/")[0]: re.findall(r"^Tag: (\S+)$", archive.read(name).decode(), re.M)
            for name in archive.namelist()
            if re.fullmatch(r"[^/]+\.dist-info/WHEEL", name)
        }
        libraries = [n for n in archive.namelist() if n.endswith(".so")]

    assert set(pins(snapshot / "requirements.txt")) <= {w.split("-")[0].lower() for w in wheels}
    for wheel, tags in wheels.items():
        assert tags, f"{wheel} has no Tag line"
        wrong = [tag for tag in tags if not LAMBDA_TAG.match(tag)]
        assert wrong == [], f"{wheel} is tagged {wrong}, not for Lambda arm64 Python 3.12"
    for library in libraries:
        assert re.search(r"cpython-312-aarch64-linux-gnu\.so$|\.abi3\.so$", library), library
    assert lambda_package.platform == "manylinux2014_aarch64"
    assert lambda_package.python_version == "3.12"


def test_warm_cache_returns_at_once_without_pip(
    snapshot: Path, host_builds: tuple[Package, Package], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged package is a cache hit: only the sources are hashed, pip never runs."""
    package = host_builds[0]

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"pip ran on a cache hit: {args}")

    monkeypatch.setattr(packaging.subprocess, "run", no_pip)
    started = time.perf_counter()
    again = build_package(
        snapshot,
        snapshot / "requirements.txt",
        platform="host",
        python_version=None,
        out_dir=package.path.parent.parent,
    )
    elapsed = time.perf_counter() - started

    assert again == package
    assert elapsed < 0.5, f"a cache hit took {elapsed:.2f} s"


def test_size_limit_on_the_zip_names_function_size_and_limit(
    snapshot: Path, host_package: Package
) -> None:
    """A zip over the limit fails with the function's name, its size and the limit."""
    limit = host_package.size - 1

    with pytest.raises(PackageTooLargeError) as raised:
        build_package(
            snapshot,
            snapshot / "requirements.txt",
            platform="host",
            python_version=None,
            out_dir=host_package.path.parent.parent,
            name="vetroi-api",
            max_zip_bytes=limit,
        )

    message = str(raised.value)
    assert "'vetroi-api'" in message
    assert f"the code in {snapshot.resolve()}" in message
    assert f"({host_package.size} bytes) zipped" in message
    assert f"limit of {limit / 1048576:.1f} MB ({limit} bytes)" in message


def test_size_limit_unpacked_stops_before_zipping(
    small_source: tuple[Path, Path], tmp_path: Path
) -> None:
    """A package over the unpacked limit fails and leaves nothing in the cache."""
    source, requirements = small_source

    too_large = r"'app-fn' \(the code in .*\) is .* unzipped, over Lambda"
    with pytest.raises(PackageTooLargeError, match=too_large):
        build_package(
            source,
            requirements,
            platform="host",
            python_version=None,
            out_dir=tmp_path / "out",
            name="app-fn",
            max_unpacked_bytes=10,
        )
    assert list((tmp_path / "out" / "packages").glob("*.zip")) == []


def test_real_limits_are_lambdas(host_package: Package) -> None:
    """The defaults are Lambda's direct-upload limits, and the real package is within them."""
    assert packaging.MAX_ZIP_BYTES == 50 * 1024 * 1024
    assert packaging.MAX_UNPACKED_BYTES == 250 * 1024 * 1024
    assert host_package.size < packaging.MAX_ZIP_BYTES


def test_source_change_is_a_new_package(small_source: tuple[Path, Path], tmp_path: Path) -> None:
    """Editing a shipped file changes the key and the hash; a test or cache file does not."""
    source, requirements = small_source
    out = tmp_path / "out"

    def build() -> Package:
        return build_package(
            source, requirements, platform="host", python_version=None, out_dir=out
        )

    first = build()
    (source / "tests").mkdir()
    (source / "tests" / "test_app.py").write_text("def test(): pass\n")
    (source / "app" / "__pycache__").mkdir()
    (source / "app" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    unchanged = build()
    (source / "app" / "__init__.py").write_text("def handler(event, context):\n    return 2\n")
    changed = build()

    assert unchanged == first
    assert changed.key != first.key
    assert changed.sha256_b64 != first.sha256_b64
    assert names(changed) == ["app/__init__.py", byte_code_name("app/__init__.py")]


def test_target_is_part_of_the_key(small_source: tuple[Path, Path]) -> None:
    """The same sources for another platform, Python version or compiling release are another
    package."""
    source, requirements = small_source
    keys = {
        packaging.cache_key(source, requirements, platform, version, release)
        for platform, version, release in [
            ("manylinux2014_aarch64", "3.12", "3.12.1"),
            ("manylinux2014_aarch64", "3.12", "3.12.8"),
            ("manylinux2014_aarch64", "3.12", ""),
            ("manylinux2014_aarch64", "3.13", "3.13.0"),
            ("manylinux2014_x86_64", "3.12", "3.12.1"),
        ]
    }

    assert len(keys) == 5


def test_pip_is_part_of_the_key(
    small_source: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another pip may install other files, so a build by it is another package."""
    source, requirements = small_source
    key = packaging.cache_key(source, requirements, "manylinux2014_aarch64", "3.12", "3.12.1")
    real_version = packaging.importlib.metadata.version

    def version(name: str) -> str:
        return "1.0" if name == "pip" else real_version(name)

    monkeypatch.setattr(packaging.importlib.metadata, "version", version)
    other = packaging.cache_key(source, requirements, "manylinux2014_aarch64", "3.12", "3.12.1")

    assert other != key


def test_concurrent_builds_agree(small_source: tuple[Path, Path], tmp_path: Path) -> None:
    """Two processes building the same package at once both get the same complete zip."""
    source, requirements = small_source
    out = tmp_path / "out"
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "from components.packaging import build_package;"
        "p = build_package(sys.argv[2], sys.argv[3], platform='host', python_version=None,"
        " out_dir=sys.argv[4]);"
        "print(json.dumps([p.sha256_b64, p.size]))"
    )
    command = [sys.executable, "-c", script, str(ROOT), str(source), str(requirements), str(out)]

    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [json.loads(run.communicate(timeout=60)[0]) for run in runs]

    assert all(run.returncode == 0 for run in runs)
    assert results[0] == results[1]
    zips = list((out / "packages").glob("*.zip"))
    assert len(zips) == 1
    assert (
        base64.b64encode(hashlib.sha256(zips[0].read_bytes()).digest()).decode() == (results[0][0])
    )
    assert list((out / "packages").glob("*.tmp")) == []


def test_host_build_refuses_another_python(small_source: tuple[Path, Path]) -> None:
    """A host build cannot pretend to be for another Python version."""
    source, requirements = small_source

    with pytest.raises(PackageError, match="host build uses the running Python"):
        build_package(source, requirements, platform="host", python_version="3.9")


def test_unknown_platform_is_refused(small_source: tuple[Path, Path]) -> None:
    """Only the host and the two Lambda platforms are known."""
    source, requirements = small_source

    with pytest.raises(PackageError, match="unknown platform 'win_amd64'"):
        build_package(source, requirements, platform="win_amd64", python_version="3.12")


def test_cache_keeps_the_most_recently_used_packages(
    small_source: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CACHE_ENTRIES packages the least recently used go; one in use stays."""
    source, requirements = small_source
    out = tmp_path / "out"
    monkeypatch.setattr(packaging, "CACHE_ENTRIES", 2)
    module = source / "app" / "__init__.py"

    def build(version: int) -> Package:
        module.write_text(f"VERSION = {version}\n")
        return build_package(
            source, requirements, platform="host", python_version=None, out_dir=out
        )

    first = build(1)
    second = build(2)
    os.utime(second.path, (1, 1))  # used long ago
    os.utime(first.path, (2, 2))
    assert build(1) == first  # a hit makes it the most recently used
    third = build(3)

    kept = sorted(p.name for p in (out / "packages").glob("*.zip"))
    assert kept == sorted([first.path.name, third.path.name])
    assert not second.path.with_suffix(".json").exists()


def test_pip_failure_names_the_package_and_shows_pips_error(
    small_source: tuple[Path, Path], tmp_path: Path
) -> None:
    """A requirement pip cannot install fails the build with pip's own message."""
    source, _ = small_source
    requirements = tmp_path / "broken.txt"
    requirements.write_text("./no-such-wheel-1.0-py3-none-any.whl\n")

    with pytest.raises(PackageError) as raised:
        build_package(
            source, requirements, platform="host", python_version=None, out_dir=tmp_path / "o",
            name="app-fn",
        )  # fmt: skip

    message = str(raised.value)
    assert "function package 'app-fn': pip could not install" in message
    assert "no-such-wheel" in message
    assert list((tmp_path / "o" / "packages").glob("*.zip")) == []
