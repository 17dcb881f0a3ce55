"""The operations commands against real local HTTP servers and against moto."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import lambda_simple_backends

from components import packaging
from ops.cli import main

ORIGIN = "https://vetroi.example.com"
ACCOUNT = "123456789012"
PRIMARY, BACKUP = "us-east-2", "us-west-2"
TABLE = "vetroi-data"


class FakeApi(ThreadingHTTPServer):
    """A local stand-in for one API stage that can fail in each way the probe must notice."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.mode = "ok"
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/prod"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer closed the socket: expected, not a failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _ApiHandler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _answer(self, status: int, body: Any = None, cors: bool = True, **headers: str) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if cors and self.headers.get("Origin") == ORIGIN:
            self.send_header("Access-Control-Allow-Origin", ORIGIN)
            self.send_header("Vary", "Origin")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer_raw(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        if self.headers.get("Origin") == ORIGIN:
            self.send_header("Access-Control-Allow-Origin", ORIGIN)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        return body

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
        self._record()
        mode = self.server.mode
        if mode == "no-cors":
            self._answer(200, cors=False)
        elif mode == "preflight-403":
            self._answer(403, {"message": "Missing Authentication Token"}, cors=False)
        elif mode == "other-origin":
            self._answer(
                204,
                cors=False,
                Access_Control_Allow_Origin="https://other.example.com",
                Access_Control_Allow_Methods="GET,POST,OPTIONS",
            )
        elif mode == "no-post":
            self._answer(204, Access_Control_Allow_Methods="GET,OPTIONS")
        else:
            self._answer(204, Access_Control_Allow_Methods="GET,POST,OPTIONS")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self._record() or b"{}")
        if self.path == "/hook":
            self._answer(200, {"ok": True})
        elif self.path == "/prod/recommend" and body.get("branch"):
            careers = [] if self.server.mode == "no-careers" else [{"socCode": "11-1011.00"}]
            self._answer(200, {"careers": careers})
        else:
            self._answer(400, {"error": {"code": "bad_request", "message": "no branch"}})

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        if self.path == "/prod/career/11-1011.00":
            if self.server.mode == "career-missing":
                self._answer(404, {"error": {"code": "not_found", "message": "no such career"}})
            elif self.server.mode == "career-html":
                self._answer_raw(200, b"<html>502 Bad Gateway</html>", "text/html")
            elif self.server.mode == "career-slow":
                time.sleep(3)
                self._answer(200, {"socCode": "11-1011.00"})
            elif self.server.mode == "career-other":
                self._answer(200, {"socCode": "15-1252.00", "title": "Software Developers"})
            else:
                self._answer(200, {"socCode": "11-1011.00", "title": "Chief Executives"})
        elif self.path == "/prod/health":
            self._answer(503 if self.server.mode == "health-503" else 200, {"status": "ok"})
        else:
            self._answer(404, {"error": {"code": "not_found", "message": self.path}})


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def refused_url() -> str:
    # A port that was just free and that nothing listens on.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/prod"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", PRIMARY)


@pytest.fixture
def moto_aws(aws_credentials: None) -> Iterator[None]:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["probe", "--origin", ORIGIN, "--timeout", "2", *args])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def result_of(output: str, check: str) -> str:
    """The table line of one check."""
    lines = [line for line in output.splitlines() if f"  {check}  " in line]
    assert len(lines) == 1, f"no single line for {check} in:\n{output}"
    return lines[0]


# --- probe against real local servers ---------------------------------------------------------


def test_probe_passes_every_check(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    """A healthy endpoint passes all four checks and the command exits 0."""
    status, output = probe(capsys, api.url)

    assert status == 0, output
    for check in ("preflight", "recommend", "career", "health"):
        assert "  ok  " in result_of(output, check)
    methods = [(method, path) for method, path, _, _ in api.requests]
    assert methods == [
        ("OPTIONS", "/prod/recommend"),
        ("POST", "/prod/recommend"),
        ("GET", "/prod/career/11-1011.00"),
        ("GET", "/prod/health"),
    ]
    preflight_headers = api.requests[0][2]
    assert preflight_headers["Origin"] == ORIGIN
    assert preflight_headers["Access-Control-Request-Method"] == "POST"


@pytest.mark.parametrize(
    ("mode", "check", "reason"),
    [
        ("no-cors", "preflight", f"no Access-Control-Allow-Origin header for {ORIGIN}"),
        ("preflight-403", "preflight", "preflight answered 403, expected 2xx"),
        (
            "other-origin",
            "preflight",
            f"Access-Control-Allow-Origin is 'https://other.example.com', not {ORIGIN}",
        ),
        ("no-post", "preflight", "Access-Control-Allow-Methods 'GET,OPTIONS' does not allow POST"),
        ("no-careers", "recommend", "answer has no careers"),
        ("career-missing", "career", "answered 404, expected 200 (no such career)"),
        ("career-html", "career", "answer is not JSON"),
        ("career-other", "career", "answer does not describe career 11-1011.00"),
        ("career-slow", "career", "no answer within 2 s"),
        ("health-503", "health", "health answered 503, expected 200"),
    ],
)
def test_probe_fails_for_each_reason(
    api: FakeApi, capsys: pytest.CaptureFixture[str], mode: str, check: str, reason: str
) -> None:
    """Each way an endpoint can fail fails exactly that check, says why, and exits 1."""
    api.mode = mode

    status, output = probe(capsys, api.url)

    assert status == 1, output
    line = result_of(output, check)
    assert "FAIL" in line and reason in line, line
    others = {"preflight", "recommend", "career", "health"} - {check}
    for other in others:
        assert "  ok  " in result_of(output, other), output


def test_probe_fails_when_connection_refused(
    refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening: every check fails with the connection error, not a traceback."""
    status, output = probe(capsys, refused_url)

    assert status == 1
    for check in ("preflight", "recommend", "career", "health"):
        assert "connection failed" in result_of(output, check)
    assert "Traceback" not in output


def test_probe_checks_every_endpoint_and_posts_webhook(
    api: FakeApi, refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a good and a dead endpoint, the webhook hears about the dead one only."""
    hook = api.url.replace("/prod", "/hook")

    status, output = probe(capsys, api.url, refused_url, "--webhook", hook)

    assert status == 1
    assert "1 of 2 endpoint(s) failed" in output
    posts = [json.loads(body) for method, path, _, body in api.requests if path == "/hook"]
    assert len(posts) == 1
    assert refused_url in posts[0]["text"] and api.url not in posts[0]["text"]
    assert posts[0]["failures"][0]["url"] == refused_url


def test_probe_reads_the_stack_outputs_file(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--stack` takes the API URL and the origin from the stack's outputs."""
    outputs = tmp_path / "prod.json"
    outputs.write_text(json.dumps({"apiUrl": api.url, "corsOrigins": [ORIGIN]}))

    status = main(["probe", "--stack", "prod", "--outputs", f"prod={outputs}", "--json"])
    reports = json.loads(capsys.readouterr().out)

    assert status == 0
    assert [r["url"] for r in reports] == [api.url]
    assert all(c["ok"] for c in reports[0]["checks"])


# --- missing stacks and credentials -----------------------------------------------------------


def test_command_without_pulumi_cli_says_how(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Pulumi CLI and no outputs file: exit 2 with what to do, no traceback."""
    monkeypatch.setenv("PATH", "/nonexistent")

    status = main(["warmup", "--stack", "prod"])
    error = capsys.readouterr().err

    assert status == 2
    assert "Pulumi CLI is not installed" in error and "--outputs prod=FILE" in error
    assert "Traceback" not in error


def test_command_with_missing_outputs_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An outputs file that does not exist is named in the error."""
    missing = tmp_path / "nope.json"

    status = main(["snapshot", "--outputs", f"prod={missing}"])

    assert status == 2
    assert str(missing) in capsys.readouterr().err


def test_command_without_credentials_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No AWS credentials anywhere: exit 2 and say how to provide them."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)

    status = main(["snapshot", "--table", TABLE, "--region", PRIMARY])

    assert status == 2
    assert "no AWS credentials found" in capsys.readouterr().err


# --- moto: functions, table backups, health checks, alarms ------------------------------------


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def make_functions(region: str, routes: list[str]) -> dict[str, str]:
    """Functions with a published version and a `live` alias; route -> alias ARN."""
    iam = boto3.client("iam", region_name=region)
    try:
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="fn")["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=region)
    aliases = {}
    for route in routes:
        name = f"vetroi-api-{route}-{region}"
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": _zip()},
        )
        version = lam.publish_version(FunctionName=name)["Version"]
        alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        aliases[route] = alias["AliasArn"]
    return aliases


def queue_answers(region: str, answers: list[Any]) -> None:
    """What the next invocations in `region` return (moto's Lambda without Docker)."""
    queue = lambda_simple_backends[ACCOUNT][region].lambda_simple_results_queue
    queue.extend(json.dumps(answer) for answer in answers)


def write_outputs(path: Path, **outputs: Any) -> str:
    path.write_text(json.dumps(outputs))
    return str(path)


def test_warmup_invokes_every_alias(
    moto_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every live alias of the stack is invoked with the warm-up event and answers warm."""
    routes = ["career", "health", "recommend", "uploads"]
    aliases = make_functions(BACKUP, routes)
    queue_answers(BACKUP, [{"warm": True}] * len(routes))
    outputs = write_outputs(tmp_path / "backup.json", aliasArns=aliases, region=BACKUP)

    status = main(["warmup", "--stack", "backup", "--outputs", f"backup={outputs}"])
    output = capsys.readouterr().out

    assert status == 0, output
    for route in routes:
        assert route in output
    assert output.count("  ok  ") == len(routes)
    assert lambda_simple_backends[ACCOUNT][BACKUP].lambda_simple_results_queue == []


def test_warmup_fails_on_an_unexpected_answer(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function that does not answer {"warm": true} fails the command."""
    aliases = make_functions(PRIMARY, ["health"])
    # Without a queued answer moto's Lambda echoes the payload back.

    status = main(["warmup", "--function", aliases["health"]])
    output = capsys.readouterr().out

    assert status == 1
    assert "FAIL" in output and "unexpected answer" in output and '{"warmup": true}' in output


def make_table(region: str) -> str:
    dynamodb = boto3.client("dynamodb", region_name=region)
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table["TableDescription"]["TableArn"]


def test_snapshot_backs_up_the_table_in_both_regions(
    moto_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One on-demand backup per region, named for the demo, regions read from both stacks."""
    make_table(PRIMARY)
    make_table(BACKUP)
    prod = write_outputs(tmp_path / "p.json", tableName=TABLE, region=PRIMARY)
    backup = write_outputs(tmp_path / "b.json", tableName=TABLE, region=BACKUP)

    status = main(["snapshot", "--outputs", f"prod={prod}", "--outputs", f"backup={backup}"])

    assert status == 0, capsys.readouterr()
    for region in (PRIMARY, BACKUP):
        backups = boto3.client("dynamodb", region_name=region).list_backups(TableName=TABLE)
        names = [b["BackupName"] for b in backups["BackupSummaries"]]
        assert len(names) == 1 and names[0].startswith(f"{TABLE}-predemo-"), names


def test_snapshot_reports_a_missing_table(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A region without the table fails its line; the other region is still backed up."""
    make_table(PRIMARY)

    status = main(["snapshot", "--table", TABLE, "--region", PRIMARY, "--region", BACKUP])
    output = capsys.readouterr().out

    assert status == 1
    assert "TableNotFoundException" in output
    assert f"{PRIMARY}  ok" in output


def make_switch(probe_fqdn: str = "abc.execute-api.us-east-2.amazonaws.com") -> tuple[str, str]:
    """The primary's probe and the CALCULATED switch over it, as the prod stack declares them."""
    route53 = boto3.client("route53", region_name="us-east-1")
    probe = route53.create_health_check(
        CallerReference="probe",
        HealthCheckConfig={
            "Type": "HTTPS",
            "FullyQualifiedDomainName": probe_fqdn,
            "ResourcePath": "/prod/health",
            "RequestInterval": 10,
            "FailureThreshold": 2,
        },
    )["HealthCheck"]["Id"]
    switch = route53.create_health_check(
        CallerReference="switch",
        HealthCheckConfig={
            "Type": "CALCULATED",
            "ChildHealthChecks": [probe],
            "HealthThreshold": 1,
        },
    )["HealthCheck"]["Id"]
    return probe, switch


def threshold(check_id: str) -> int:
    route53 = boto3.client("route53", region_name="us-east-1")
    check = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
    return int(check["HealthCheckConfig"]["HealthThreshold"])


def stack_files(tmp_path: Path, prod: dict[str, Any], backup: dict[str, Any]) -> list[str]:
    prod_file = write_outputs(tmp_path / "prod.json", role="primary", **prod)
    backup_file = write_outputs(tmp_path / "backup.json", role="backup", **backup)
    return ["--outputs", f"prod={prod_file}", "--outputs", f"backup={backup_file}"]


def test_failover_and_failback_flip_the_switch(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """failover raises the switch's threshold above its children; failback puts it back."""
    _, switch = make_switch()
    files = stack_files(tmp_path, {"healthCheckId": switch, "apiUrl": api.url}, {"apiUrl": api.url})

    assert main(["failover", *files]) == 0
    assert threshold(switch) == 2
    assert "forceFailover true" in capsys.readouterr().out

    assert main(["failover", *files]) == 0
    assert "already switched" in capsys.readouterr().out

    assert main(["failback", *files]) == 0
    assert threshold(switch) == 1


def test_failover_refuses_an_unhealthy_backup_unless_forced(
    moto_aws: None,
    api: FakeApi,
    refused_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The primary may be down; the backup must answer /health before traffic goes there."""
    _, switch = make_switch()
    files = stack_files(
        tmp_path, {"healthCheckId": switch, "apiUrl": api.url}, {"apiUrl": refused_url}
    )

    assert main(["failover", *files]) == 1
    assert "refusing" in capsys.readouterr().out
    assert threshold(switch) == 1

    assert main(["failover", "--force", *files]) == 0
    assert threshold(switch) == 2


@pytest.fixture
def no_stack_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Pulumi CLI and no saved outputs: nothing but flags says where anything is."""
    monkeypatch.setattr("ops.stacks.shutil.which", lambda name: None)


def test_failover_checks_the_target_url_without_stack_outputs(
    moto_aws: None, no_stack_outputs: None, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --target-url, the backup's /health is still asked before the switch, not skipped."""
    _, switch = make_switch()

    status = main(["failover", "--health-check-id", switch, "--target-url", api.url])

    assert status == 0, capsys.readouterr()
    assert threshold(switch) == 2
    assert ("GET", "/prod/health") in [(m, path) for m, path, _, _ in api.requests]


@pytest.mark.parametrize("command", ["failover", "failback"])
def test_unhealthy_target_url_is_refused_without_stack_outputs(
    moto_aws: None,
    no_stack_outputs: None,
    api: FakeApi,
    command: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A region whose /health answers 503 does not take the traffic, in either direction."""
    _, switch = make_switch()
    if command == "failback":
        boto3.client("route53", region_name="us-east-1").update_health_check(
            HealthCheckId=switch, HealthThreshold=2
        )
    api.mode = "health-503"

    status = main([command, "--health-check-id", switch, "--target-url", api.url])

    assert status == 1
    assert f"{api.url}/health answered 503" in capsys.readouterr().out
    assert threshold(switch) == (1 if command == "failover" else 2)


def test_without_outputs_or_target_url_the_failover_says_which_flag(
    moto_aws: None, no_stack_outputs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """No URL to check: the refusal names --target-url rather than only --force."""
    _, switch = make_switch()

    assert main(["failover", "--health-check-id", switch]) == 1
    assert "--target-url" in capsys.readouterr().out
    assert threshold(switch) == 1


def test_failover_rejects_a_plain_health_check(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the probe instead of the switch, the command explains and changes nothing."""
    probe_id, _ = make_switch()

    status = main(["failover", "--health-check-id", probe_id, *stack_files(tmp_path, {}, {})])

    assert status == 2
    assert "not the CALCULATED failover switch" in capsys.readouterr().err


def drop_output(tmp_path: Path, stack: str, output: str) -> None:
    """Remove one output from a stack's saved outputs, as an older deployment would lack it."""
    path = tmp_path / f"{stack}.json"
    outputs = json.loads(path.read_text())
    del outputs[output]
    path.write_text(json.dumps(outputs))


def healthy_platform(tmp_path: Path, api: FakeApi) -> list[str]:
    """Both stacks deployed and ready for a demo, in moto; returns the --outputs flags."""
    now = datetime.now(UTC)
    _, switch = make_switch()
    backup_probe, _ = make_switch("def.execute-api.us-west-2.amazonaws.com")
    make_table(PRIMARY)
    make_table(BACKUP)
    boto3.client("dynamodb", region_name=PRIMARY).create_backup(
        TableName=TABLE, BackupName="nightly"
    )
    make_backup_plan()
    # The static-fallback bucket lives in the backup region, as the prod stack declares it.
    s3 = boto3.client("s3", region_name=BACKUP)
    s3.create_bucket(
        Bucket="vetroi-static", CreateBucketConfiguration={"LocationConstraint": BACKUP}
    )
    s3.put_object(Bucket="vetroi-static", Key="career/11-1011.00", Body=b'{"socCode": "x"}')
    prod_aliases = make_functions(PRIMARY, ["recommend", "health"])
    backup_aliases = make_functions(BACKUP, ["recommend", "health"])
    queue_answers(PRIMARY, [{"warm": True}] * 2)
    queue_answers(BACKUP, [{"warm": True}] * 2)
    freeze = {
        "starts": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "demoTime": (now + timedelta(hours=47)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends": (now + timedelta(hours=49)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    common = {"tableName": TABLE, "apiUrl": api.url}
    return stack_files(
        tmp_path,
        {
            **common,
            "region": PRIMARY,
            "healthCheckId": switch,
            "changeFreeze": freeze,
            "staticBucket": "vetroi-static",
            "staticBucketRegion": BACKUP,
            "aliasArns": prod_aliases,
            "functionNames": {r: a.split(":")[6] for r, a in prod_aliases.items()},
        },
        {
            **common,
            "region": BACKUP,
            "healthCheckId": backup_probe,
            "changeFreeze": freeze,
            "aliasArns": backup_aliases,
            "functionNames": {r: a.split(":")[6] for r, a in backup_aliases.items()},
        },
    )


def make_backup_plan() -> None:
    """The prod stack's plan and the backup stack's copy vault, as the stacks declare them."""
    primary = boto3.client("backup", region_name=PRIMARY)
    primary.create_backup_vault(BackupVaultName="vetroi-prod-backup-us-east-2")
    boto3.client("backup", region_name=BACKUP).create_backup_vault(
        BackupVaultName="vetroi-table-copies"
    )
    primary.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "vetroi-prod-backup-daily",
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "vetroi-prod-backup-us-east-2",
                    "ScheduleExpression": "cron(0 5 * * ? *)",
                    "CopyActions": [
                        {
                            "DestinationBackupVaultArn": (
                                f"arn:aws:backup:{BACKUP}:{ACCOUNT}:backup-vault:vetroi-table-copies"
                            )
                        }
                    ],
                }
            ],
        }
    )


def checklist(output: str) -> dict[str, str]:
    lines = [line for line in output.splitlines() if line[:1] in ("✓", "✗")]
    return {line[2:].split("  ")[0].strip(): line[:1] for line in lines}


def test_preflight_ticks_every_line_when_ready(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A platform ready for the demo gets a tick on every line and exit 0."""
    files = healthy_platform(tmp_path, api)

    status = main(["preflight", *files])
    output = capsys.readouterr().out

    assert status == 0, output
    marks = checklist(output)
    assert len(marks) == 9 and set(marks.values()) == {"✓"}, output
    assert "9/9 ready" in output


def test_preflight_crosses_what_is_not_ready(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An alarm firing, an error logged and a forced failover each get their own cross."""
    files = healthy_platform(tmp_path, api)
    cloudwatch = boto3.client("cloudwatch", region_name=PRIMARY)
    cloudwatch.put_metric_alarm(
        AlarmName="vetroi-prod-api-5xx",
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(
        AlarmName="vetroi-prod-api-5xx", StateValue="ALARM", StateReason="test"
    )
    logs = boto3.client("logs", region_name=BACKUP)
    group = "/aws/lambda/vetroi-api-recommend-us-west-2"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {
                "timestamp": int(datetime.now(UTC).timestamp() * 1000),
                "message": '{"level": "ERROR", "message": "table read failed"}',
            }
        ],
    )
    switch = json.loads((tmp_path / "prod.json").read_text())["healthCheckId"]
    route53 = boto3.client("route53", region_name="us-east-1")
    children = route53.get_health_check(HealthCheckId=switch)["HealthCheck"]["HealthCheckConfig"]
    route53.update_health_check(
        HealthCheckId=switch, HealthThreshold=2, ChildHealthChecks=children["ChildHealthChecks"]
    )

    status = main(["preflight", *files])
    output = capsys.readouterr().out
    marks = checklist(output)

    assert status == 1
    assert marks["no alarm in ALARM"] == "✗" and "vetroi-prod-api-5xx" in output
    assert marks["no function error in the last hour"] == "✗"
    assert "vetroi-api-recommend-us-west-2 (us-west-2)" in output
    assert marks["Route53 health checks healthy"] == "✗" and "failover forced" in output
    assert marks["a backup newer than a day"] == "✓"
    assert "6/9 ready: NOT ready" in output


def test_preflight_crosses_missing_backup_static_data_and_freeze(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No recent backup, no copy vault, no static data and no freeze are each named."""
    files = healthy_platform(tmp_path, api)
    boto3.client("backup", region_name=BACKUP).delete_backup_vault(
        BackupVaultName="vetroi-table-copies"
    )
    boto3.client("s3", region_name=BACKUP).delete_object(
        Bucket="vetroi-static", Key="career/11-1011.00"
    )
    dynamodb = boto3.client("dynamodb", region_name=PRIMARY)
    for summary in dynamodb.list_backups(TableName=TABLE)["BackupSummaries"]:
        dynamodb.delete_backup(BackupArn=summary["BackupArn"])
    drop_output(tmp_path, "prod", "changeFreeze")

    status = main(["preflight", *files])
    output = capsys.readouterr().out
    marks = checklist(output)

    assert status == 1
    assert marks["a backup newer than a day"] == "✗" and "ops snapshot" in output
    assert marks["static fallback data present"] == "✗"
    assert "s3://vetroi-static/career/11-1011.00 cannot be read in us-west-2" in output
    assert marks["change freeze in force"] == "✗" and "no demoTime" in output
    assert marks["backup plan copies to the other region"] == "✗"
    assert "copy vault vetroi-table-copies missing in us-west-2" in output
    assert marks["functions warm"] == "✓"


def test_preflight_reads_static_data_in_the_buckets_own_region(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The static data is looked for in the region the prod stack exports for its bucket."""
    files = healthy_platform(tmp_path, api)

    main(["preflight", *files])

    output = capsys.readouterr().out
    assert checklist(output)["static fallback data present"] == "✓"
    assert "s3://vetroi-static/career/11-1011.00 in us-west-2" in output


def test_preflight_crosses_static_data_without_its_region(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prod stack that exports its bucket but not the bucket's region is not ready."""
    files = healthy_platform(tmp_path, api)
    drop_output(tmp_path, "prod", "staticBucketRegion")

    assert main(["preflight", *files]) == 1
    output = capsys.readouterr().out
    assert checklist(output)["static fallback data present"] == "✗"
    assert "exports no staticBucketRegion" in output


def test_preflight_crosses_a_backup_stack_left_unfrozen(
    moto_aws: None, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An `up` of the backup stack during the demo can break the failover target too."""
    files = healthy_platform(tmp_path, api)
    drop_output(tmp_path, "backup", "changeFreeze")

    status = main(["preflight", *files])
    output = capsys.readouterr().out

    assert status == 1
    assert checklist(output)["change freeze in force"] == "✗"
    assert "backup: no demoTime set" in output


def test_preflight_error_search_follows_empty_log_pages() -> None:
    """FilterLogEvents may answer an empty page with a token: an error on a later page counts."""
    from botocore.stub import ANY, Stubber

    from ops.aws import Aws
    from ops.preflight import Preflight, StackView

    aws = Aws()
    logs = boto3.client(
        "logs", region_name=PRIMARY, aws_access_key_id="x", aws_secret_access_key="y"
    )
    aws._clients[("logs", PRIMARY)] = logs
    function = "vetroi-prod-recommend"
    request = {
        "logGroupName": f"/aws/lambda/{function}",
        "startTime": ANY,
        "filterPattern": "ERROR",
        "limit": 1,
    }
    prod = StackView("prod", {"region": PRIMARY, "functionNames": {"recommend": function}})
    backup = StackView("backup", {"region": PRIMARY})

    with Stubber(logs) as stub:
        stub.add_response("filter_log_events", {"events": [], "nextToken": "t1"}, request)
        stub.add_response(
            "filter_log_events",
            {"events": [{"message": '{"level":"ERROR"}', "timestamp": 1}]},
            {**request, "nextToken": "t1"},
        )
        ok, detail = Preflight(aws, prod, backup).function_errors()
        stub.assert_no_pending_responses()

    assert not ok
    assert detail == f"errors logged by {function} ({PRIMARY})"


# --- the synthetic check's handler ------------------------------------------------------------


def test_synthetic_handler_publishes_a_metric_per_endpoint(
    moto_aws: None, api: FakeApi, refused_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled function probes each target and publishes success 1 or 0 for each."""
    import vetroi_probe.handler as handler

    monkeypatch.setattr(handler, "_cloudwatch", None)
    monkeypatch.setenv(
        "VETROI_PROBE_TARGETS", json.dumps({"public": api.url, "regional": refused_url})
    )
    monkeypatch.setenv("VETROI_PROBE_ORIGIN", ORIGIN)
    monkeypatch.setenv("VETROI_PROBE_TIMEOUT", "2")

    result = handler.lambda_handler({"source": "aws.events"}, None)

    assert result == {"public": True, "regional": False}
    cloudwatch = boto3.client("cloudwatch", region_name=PRIMARY)
    values = {}
    for endpoint in ("public", "regional"):
        stats = cloudwatch.get_metric_statistics(
            Namespace="VetROI/Synthetics",
            MetricName="ProbeSuccess",
            Dimensions=[{"Name": "Endpoint", "Value": endpoint}],
            StartTime=datetime.now(UTC) - timedelta(minutes=5),
            EndTime=datetime.now(UTC) + timedelta(minutes=5),
            Period=60,
            Statistics=["Minimum"],
        )
        values[endpoint] = [point["Minimum"] for point in stats["Datapoints"]]
    assert values == {"public": [1.0], "regional": [0.0]}


def test_probe_runs_from_the_function_zip_in_an_isolated_interpreter(
    api: FakeApi, tmp_path: Path
) -> None:
    """The synthetic check's zip carries the probe and what it imports, and the probe works."""
    root = Path(__file__).resolve().parent.parent
    package = packaging.build_package(
        root / "functions",
        root / "functions" / "requirements.txt",
        platform="host",
        python_version=None,
        out_dir=root / ".build",
    )
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(unpacked)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(unpacked)!r})
        import boto3, requests
        from vetroi_probe import handler, probe
        modules = [handler, probe, boto3, requests]
        outside = [m.__name__ for m in modules if not m.__file__.startswith({str(unpacked)!r})]
        report = probe.probe_endpoint({api.url!r}, {ORIGIN!r}, timeout=2)
        print(json.dumps({{"outside": outside, "ok": report.ok}}))
        """
    )

    # -I -S: no site-packages, no user site, no PYTHON* variables, no current folder.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": PRIMARY},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"outside": [], "ok": True}


# --- through the Pulumi CLI -------------------------------------------------------------------


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `pulumi` on PATH that answers `stack output` and `config` from files in a folder."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys
            from pathlib import Path
            args = sys.argv[1:]
            stack = args[args.index("-s") + 1]
            kind = "outputs" if args[:2] == ["stack", "output"] else "config"
            found = Path({str(stacks)!r}) / f"{{stack}}.{{kind}}.json"
            if not found.exists():
                print(f"error: no stack named '{{stack}}' found", file=sys.stderr)
                sys.exit(255)
            print(found.read_text())
            """
        )
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return stacks


def test_probe_reads_outputs_through_the_pulumi_cli(
    api: FakeApi, fake_pulumi: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --outputs, the command asks `pulumi stack output --json -s prod`."""
    (fake_pulumi / "prod.outputs.json").write_text(
        json.dumps({"apiUrl": api.url, "corsOrigins": [ORIGIN]})
    )

    status = main(["probe", "--stack", "prod"])

    assert status == 0, capsys.readouterr()
    assert [path for _, path, _, _ in api.requests][-1] == "/prod/health"


def test_missing_stack_gives_pulumis_reason(
    fake_pulumi: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stack Pulumi does not know: exit 2 with Pulumi's own message, no traceback."""
    status = main(["warmup", "--stack", "staging"])
    error = capsys.readouterr().err

    assert status == 2
    assert "cannot read the outputs of stack 'staging'" in error
    assert "no stack named 'staging' found" in error


def test_preflight_reads_a_freeze_set_but_not_deployed(
    moto_aws: None,
    api: FakeApi,
    fake_pulumi: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A demoTime set after the last `up` still counts: the freeze refuses the `up` itself."""
    healthy_platform(tmp_path, api)  # writes the outputs files this test hands to the CLI
    prod = json.loads((tmp_path / "prod.json").read_text())
    del prod["changeFreeze"]
    (fake_pulumi / "prod.outputs.json").write_text(json.dumps(prod))
    (fake_pulumi / "backup.outputs.json").write_text((tmp_path / "backup.json").read_text())
    demo = (datetime.now(UTC) + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (fake_pulumi / "prod.config.json").write_text(
        json.dumps({"vetroi:demoTime": {"value": demo, "secret": False}})
    )

    status = main(["preflight"])
    output = capsys.readouterr().out

    assert status == 0, output
    assert f"demo at {demo}" in output


def test_preflight_prefers_the_settings_to_a_stale_freeze_output(
    moto_aws: None,
    api: FakeApi,
    fake_pulumi: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The output still shows the last demo's window; the new demoTime set since is in force."""
    healthy_platform(tmp_path, api)
    prod = json.loads((tmp_path / "prod.json").read_text())
    last_demo = datetime.now(UTC) - timedelta(days=7)
    prod["changeFreeze"] = {
        "starts": (last_demo - timedelta(hours=48)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "demoTime": last_demo.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends": (last_demo + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (fake_pulumi / "prod.outputs.json").write_text(json.dumps(prod))
    (fake_pulumi / "backup.outputs.json").write_text((tmp_path / "backup.json").read_text())
    demo = (datetime.now(UTC) + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (fake_pulumi / "prod.config.json").write_text(
        json.dumps({"vetroi:demoTime": {"value": demo, "secret": False}})
    )

    status = main(["preflight"])
    output = capsys.readouterr().out

    assert status == 0, output
    assert "prod: until" in output and f"demo at {demo}" in output
