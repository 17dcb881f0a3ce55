"""The stack settings: declared in Pulumi.yaml, read once, every mistake reported at once."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks

from components import settings as stack_settings
from tests.program import cli_config, declared_config, missing_keys, stack_config


class _NoResources(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        return {}, []


def load(stack: str = "prod", secrets: dict[str, str] | None = None, **changes: Any):
    """Load the settings of `stack`'s real config file with some keys changed or removed."""
    overrides: dict[str, Any] = {}
    remove = []
    for key, value in changes.items():
        full = key if ":" in key.replace("aws_", "aws:") else f"vetroi:{key}"
        full = full.replace("aws_", "aws:")
        if value is None:
            remove.append(full)
        else:
            overrides[full] = value
    # Removing a key the CLI requires is allowed here: the program must report it too.
    config, secret_keys = cli_config(stack, overrides, tuple(remove), secrets)
    pulumi.runtime.set_all_config(config, secret_keys=secret_keys)
    mocks.set_mocks(_NoResources(), project="vetroi", stack=stack)
    try:
        return stack_settings.load()
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])


def problems_of(error: pytest.ExceptionInfo[stack_settings.SettingsError]) -> dict[str, str]:
    return {p.key: p.expected for p in error.value.problems}


def test_load_prod_reads_the_real_stack_file():
    """The prod file gives a primary in us-east-2 whose other region is us-west-2."""
    settings = load("prod")

    assert settings.role == "primary" and settings.is_primary
    assert (settings.region, settings.other_region) == ("us-east-2", "us-west-2")
    assert settings.cors_origins == ("https://vetroi.example.com", "https://www.vetroi.example.com")
    assert settings.runtime == "python3.12"
    assert settings.package_platform == "manylinux2014_aarch64"


def test_load_backup_reads_the_real_stack_file():
    """The backup file gives a backup in us-west-2 whose primary is us-east-2."""
    settings = load("backup")

    assert settings.role == "backup" and not settings.is_primary
    assert (settings.primary_region, settings.backup_region) == ("us-east-2", "us-west-2")


def test_load_applies_declared_defaults():
    """Keys the stack file leaves out take the defaults declared in Pulumi.yaml."""
    settings = load("prod")
    declared = stack_settings.declared_keys()

    assert settings.function_layout == declared["functionLayout"]["default"] == "perRoute"
    assert settings.architecture == "arm64"
    assert settings.health_check_failure_threshold == 2
    assert settings.freeze_hours == 48
    assert settings.log_retention_days == declared["logRetentionDays"]["default"]


def test_load_all_mistakes_in_one_error():
    """Every bad key is named once, with its value and what is expected."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(
            role="secondary",
            otherRegion="us-east-2",
            corsOrigins=["vetroi.example.com", "https://ok.example.com"],
            functionLayout="microservices",
            logRetentionDays=10,
        )

    problems = problems_of(error)
    assert set(problems) == {
        "role",
        "otherRegion",
        "corsOrigins",
        "functionLayout",
        "logRetentionDays",
    }
    assert "primary, backup" in problems["role"]
    assert "other than aws:region" in problems["otherRegion"]
    message = str(error.value)
    assert "5 bad setting(s)" in message
    assert "'secondary'" in message and "'vetroi.example.com'" in message
    assert "pulumi config set vetroi:<key>" in message


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"role": "standby"}, "role", "one of primary, backup"),
        ({"otherRegion": "us-east-2"}, "otherRegion", "a region other than aws:region"),
        ({"otherRegion": "us-middle-1"}, "otherRegion", "an AWS region"),
        ({"otherRegion": None}, "otherRegion", "the other stack's AWS region"),
        ({"role": None}, "role", "one of primary, backup"),
        ({"aws_region": "mars-north-1"}, "aws:region", "an AWS region"),
        ({"aws_region": None}, "aws:region", "an AWS region"),
        ({"aws_region": "cn-north-1"}, "aws:region", "an AWS region"),
        ({"otherRegion": "us-gov-west-1"}, "otherRegion", "an AWS region"),
        ({"corsOrigins": ["not a url"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": ["https://app.example.com/path"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": "https://one.example.com"}, "corsOrigins", "JSON list"),
        ({"corsOrigins": ["https://*.example.com"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": ["https://app.example.com:99999"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": ["https://app.example.com:http"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": ["https://user@app.example.com"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": ["https://App.Example.com"]}, "corsOrigins", "an origin"),
        ({"corsOrigins": ["https://app.example.com/"]}, "corsOrigins", "an origin"),
        ({"functionLayout": "lambdalith"}, "functionLayout", "perRoute, monolith"),
        ({"architecture": "i386"}, "architecture", "arm64, x86_64"),
        ({"pythonVersion": "3.9"}, "pythonVersion", "3.12"),
        ({"functionTimeoutSeconds": 60}, "functionTimeoutSeconds", "from 1 to 29"),
        ({"throttleRateLimit": "fast"}, "throttleRateLimit", "a number"),
        ({"uploadBucketName": "Bad_Bucket"}, "uploadBucketName", "an S3 bucket name"),
        ({"onetBaseUrl": "http://plain.example.com"}, "onetBaseUrl", "https://"),
        ({"alertEmails": ["oncall"]}, "alertEmails", "an e-mail address"),
        ({"allowAnyOrigin": "sometimes"}, "allowAnyOrigin", "true or false"),
        ({"demoTime": "2026-12-10 15:00"}, "demoTime", "with its offset"),
        ({"demoTime": "next tuesday"}, "demoTime", "ISO 8601"),
        ({"hostedZoneId": "z0123456789example"}, "hostedZoneId", "Route53 hosted zone id"),
        ({"hostedZoneId": "/hostedzone/Z0123456789"}, "hostedZoneId", "without /hostedzone/"),
        ({"hostedZoneId": "Z" + "A" * 32}, "hostedZoneId", "up to 31"),
        ({"hostedZoneId": "Z0123-456"}, "hostedZoneId", "Route53 hosted zone id"),
    ],
)
def test_load_names_the_bad_key(changes: dict[str, Any], key: str, expected: str):
    """Each kind of mistake names its key and says what is expected."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(**changes)

    problems = problems_of(error)
    assert key in problems, problems
    assert expected in problems[key]


def test_load_malformed_zone_id_is_reported_once():
    """A zone id that is not one is named as such, not also as missing for the domain."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(hostedZoneId="vetroi.example.com")

    assert [p.key for p in error.value.problems] == ["hostedZoneId"], str(error.value)


def test_load_accepts_the_longest_zone_id():
    """32 characters, the most Route53's API allows for a hosted zone id."""
    assert load(hostedZoneId="Z" + "A1" * 15 + "B").hosted_zone_id == "Z" + "A1" * 15 + "B"


def test_load_bad_secret_is_not_printed():
    """A bad secret setting is named, but its value never appears in the error text."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(secrets={"vetroi:alertHttpsEndpoints": '["http://events.example.com/token-42"]'})
    assert "token-42" not in str(error.value)
    assert "alertHttpsEndpoints" in problems_of(error)


def test_load_secret_values_are_outputs():
    """Secrets are read as Outputs marked secret, so Pulumi encrypts them in state."""
    settings = load(
        secrets={"vetroi:onetUsername": "vetroi-user", "vetroi:onetPassword": "hunter2"}
    )

    assert isinstance(settings.onet_password, pulumi.Output)
    assert "hunter2" not in repr(settings)


def test_declared_keys_have_type_and_description():
    """Pulumi.yaml declares every key with a type and a description, defaults well-typed."""
    declared = stack_settings.declared_keys()
    kinds = {"string": str, "integer": int, "boolean": bool, "number": (int, float), "array": list}

    for key, spec in declared.items():
        assert spec.get("description"), f"{key} has no description"
        assert spec.get("type") in kinds, f"{key} has no valid type"
        if "default" in spec:
            assert isinstance(spec["default"], kinds[spec["type"]]), f"{key} default mistyped"
        assert not (spec.get("secret") and "default" in spec), f"secret {key} has a default"


def test_load_unknown_key_suggests_the_declared_one():
    """A misspelt key fails the program instead of silently taking the default."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(healthCheckIntervall=30)

    assert "did you mean healthCheckInterval?" in problems_of(error)["healthCheckIntervall"]


def test_stack_files_only_set_declared_keys():
    """A typo in a stack file is caught: every vetroi: key there is declared."""
    declared = stack_settings.declared_keys()

    for stack in ("prod", "backup"):
        for key in stack_config(stack):
            if key.startswith("vetroi:"):
                assert key.removeprefix("vetroi:") in declared, f"{stack}: {key} undeclared"


def test_load_accepts_origins_with_ports_and_addresses():
    """An origin may carry a port, be localhost or an IP address: each is what a browser sends."""
    origins = ["https://app.example.com:8443", "http://localhost:3000", "http://127.0.0.1:8080"]
    settings = load(corsOrigins=origins)

    assert settings.cors_origins == tuple(origins)


def test_load_bad_retention_is_reported_once():
    """A retention out of range and not a CloudWatch period is one problem, not two."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(logRetentionDays=5000, healthCheckInterval=60)

    keys = [p.key for p in error.value.problems]
    assert keys.count("logRetentionDays") == 1
    assert keys.count("healthCheckInterval") == 1
    assert "2 bad setting(s)" in str(error.value)


def test_load_bad_region_hint_names_aws_region():
    """The fix for aws:region is `pulumi config set aws:region`, not under the project's name."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(aws_region="mars-north-1")

    message = str(error.value)
    assert "pulumi config set aws:region <value> -s prod" in message
    assert "vetroi:aws:region" not in message


def test_load_empty_defaults_are_unset():
    """The `""` defaults of optional strings read as unset, as the CLI passes them."""
    settings = load("backup")

    assert settings.backup_stack is None
    assert settings.upload_bucket_name is None and settings.cache_bucket_name is None
    assert settings.demo_time is None and settings.pinned_version is None
    assert settings.onet_username is None and settings.onet_password is None
    assert settings.alert_https_endpoints is None


@pytest.mark.parametrize("key", stack_settings.SECRET_KEYS)
def test_load_plaintext_secret_is_refused(key: str):
    """A secret key set without --secret is a settings error that says how, without the value."""
    value = '["https://events.example.com/token-42"]' if key == "alertHttpsEndpoints" else "tok-42"
    credentials = {"onetUsername": "u-1", "onetPassword": "p-1"}
    with pytest.raises(stack_settings.SettingsError) as error:
        load(
            secrets={f"vetroi:{k}": v for k, v in credentials.items() if k != key},
            **{key: value},
        )

    problems = problems_of(error)
    assert set(problems) == {key}
    assert f"pulumi config set --secret vetroi:{key}" in problems[key]
    assert "42" not in str(error.value)


@pytest.mark.parametrize(
    ("given", "missing"), [("onetUsername", "onetPassword"), ("onetPassword", "onetUsername")]
)
def test_load_one_onet_credential_names_the_other(given: str, missing: str):
    """One O*NET credential without the other is an error naming the missing one."""
    with pytest.raises(stack_settings.SettingsError) as error:
        load(secrets={f"vetroi:{given}": "value-1"})

    problems = problems_of(error)
    assert set(problems) == {missing}
    assert given in problems[missing]


@pytest.mark.parametrize("stack", ["prod", "backup"])
def test_stack_files_pass_the_clis_config_check(stack: str):
    """The CLI's rule: a key declared without a default must be set in each stack file."""
    assert missing_keys(stack_config(stack)) == []


def test_cli_check_finds_a_required_key():
    """The rule the test above applies does find keys declared without a default."""
    required = missing_keys({})

    assert "vetroi:role" in required and "vetroi:otherRegion" in required
    assert "vetroi:tableName" not in required


def test_secret_keys_are_declared_as_the_cli_allows():
    """Keys read as secrets have an empty plain default, not `secret: true` (no default allowed
    there), and no stack file sets one in plain text."""
    declared = declared_config()

    for key in stack_settings.SECRET_KEYS:
        spec = declared[f"vetroi:{key}"]
        assert spec.get("default") == "", f'{key} needs the default ""'
        assert not spec.get("secret"), f"{key} is secret: true, so it cannot have a default"
    for stack in ("prod", "backup"):
        for key in stack_settings.SECRET_KEYS:
            value = stack_config(stack).get(f"vetroi:{key}")
            assert value is None or (isinstance(value, dict) and "secure" in value), (
                f"{stack}: {key} is in plain text"
            )


def test_pinned_version_as_one_number_pins_every_function():
    """A single number, as before the per-function form existed, applies to every function."""
    settings = load(pinnedVersion="7")

    assert settings.pinned_version == "7"
    assert settings.pinned_version_of("career") == settings.pinned_version_of("health") == "7"


@pytest.mark.parametrize(
    "pins", ['{"career": "7", "recommend": "5"}', {"career": 7, "recommend": 5}]
)
def test_pinned_version_per_function(pins: Any):
    """A JSON object pins each named function; JSON numbers work as well as strings."""
    settings = load(pinnedVersion=pins if isinstance(pins, str) else json.dumps(pins))

    assert settings.pinned_version == {"career": "7", "recommend": "5"}
    assert settings.pinned_version_of("career") == "7"
    assert settings.pinned_version_of("health") is None


def test_pinned_version_mistakes_are_all_named():
    """Unknown functions and versions that are not numbers are reported in the one error."""
    pins = {"carrer": "7", "health": "latest", "recommend": 0, "uploads": True, "career": 4.5}
    with pytest.raises(stack_settings.SettingsError) as error:
        load(pinnedVersion=json.dumps(pins), corsOrigins="not json")

    found = [(p.key, p.value) for p in error.value.problems if p.key == "pinnedVersion"]
    assert sorted(found, key=str) == sorted(
        [
            ("pinnedVersion", "carrer"),
            ("pinnedVersion", {"health": "latest"}),
            ("pinnedVersion", {"recommend": 0}),
            ("pinnedVersion", {"uploads": True}),
            ("pinnedVersion", {"career": 4.5}),
        ],
        key=str,
    )
    assert "corsOrigins" in problems_of(error)
    assert "recommend, career, health, uploads" in str(error.value)


@pytest.mark.parametrize("value", ["v7", "[7]", '{"career": '])
def test_pinned_version_that_is_neither_a_number_nor_an_object_is_refused(value: str):
    with pytest.raises(stack_settings.SettingsError) as error:
        load(pinnedVersion=value)

    assert "pinnedVersion" in problems_of(error)


def test_pinned_version_names_follow_the_layout():
    """With one function for every route, a route name is not a function that can be pinned."""
    assert (
        load(functionLayout="monolith", pinnedVersion='{"monolith": "3"}').pinned_version_of(
            "monolith"
        )
        == "3"
    )
    with pytest.raises(stack_settings.SettingsError) as error:
        load(functionLayout="monolith", pinnedVersion='{"career": "3"}')

    assert "a function of the monolith layout: monolith" in problems_of(error)["pinnedVersion"]


def test_layout_functions_are_the_ones_the_api_builds():
    """The names pinnedVersion accepts are exactly the functions components.api declares."""
    from components.api import ROUTES

    assert stack_settings.LAYOUT_FUNCTIONS["perRoute"] == tuple(r.name for r in ROUTES)
