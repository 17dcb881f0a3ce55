"""Command line: `python -m ops COMMAND`, exit 0 when all is well, 1 when a check fails, 2 when
the command cannot run (no stack outputs, no credentials, bad flags)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ops import failover, preflight, probe, snapshot, warmup
from ops.aws import Aws, credential_problem, describe
from ops.errors import OpsError
from ops.stacks import PARTNERS, StackOutputs, parse_output_files


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops", description="VetROI operations commands for demo day."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_text: str, stack_default: str | None = "prod"
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--stack", "-s", default=stack_default, help="stack to read outputs from (%(default)s)"
        )
        sub.add_argument(
            "--other-stack",
            help="the partner stack (default: backup for prod, prod for backup)",
        )
        sub.add_argument(
            "--outputs",
            action="append",
            default=[],
            metavar="[STACK=]FILE",
            help="JSON of `pulumi stack output --json -s STACK`, instead of running pulumi",
        )
        sub.add_argument("--profile", help="AWS profile (default: the environment's)")
        return sub

    sub = command("probe", "Check each endpoint as a browser would; exit 1 on any failure.", None)
    sub.add_argument("urls", nargs="*", metavar="URL", help="base URL, e.g. an API stage URL")
    sub.add_argument("--origin", help="browser origin for the CORS checks")
    sub.add_argument("--timeout", type=float, default=5.0, help="seconds per request (5)")
    sub.add_argument("--webhook", help="URL to POST a JSON alert to when a check fails")
    sub.add_argument("--json", action="store_true", help="print JSON instead of a table")

    sub = command("warmup", "Invoke every function's live alias with the warm-up event.")
    sub.add_argument(
        "--function", action="append", default=[], metavar="ALIAS_ARN", help="alias ARN to warm"
    )

    command("preflight", "The pre-demo checklist for both stacks.")

    for name, text in (
        ("failover", "Send all traffic to the backup region (works with the primary down)."),
        ("failback", "Let traffic return to the primary region."),
    ):
        sub = command(name, text)
        sub.add_argument("--health-check-id", help="the failover switch (prod's healthCheckId)")
        sub.add_argument(
            "--target-url",
            metavar="URL",
            help="stage URL of the region taking the traffic, checked for /health "
            "(default: that stack's apiUrl)",
        )
        sub.add_argument(
            "--force", action="store_true", help="switch even if the target region is unhealthy"
        )

    sub = command("snapshot", "On-demand backup of the table in both regions.")
    sub.add_argument("--table", help="table name (default: the stack's tableName)")
    sub.add_argument(
        "--region", action="append", default=[], help="region to back up in (repeatable)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {credential_problem(error) or describe(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def dispatch(args: argparse.Namespace) -> int:
    stack: str | None = args.stack
    outputs = StackOutputs(parse_output_files(args.outputs, stack or ""))
    other = args.other_stack or PARTNERS.get(stack or "")

    if args.command == "probe":
        urls = list(args.urls)
        if stack:
            urls += probe.endpoints_of(outputs, stack)
        origin = args.origin or (probe.origin_of(outputs, stack) if stack else None)
        if not origin:
            raise OpsError("give --origin, one of the API's allowed CORS origins")
        return probe.run(
            urls, origin, timeout=args.timeout, webhook=args.webhook, as_json=args.json
        )

    assert stack is not None
    aws = Aws(args.profile)
    if args.command == "warmup":
        aliases = {arn: arn for arn in args.function} or {
            route: arn for route, arn in outputs.value(stack, "aliasArns", "--function").items()
        }
        return warmup.run(aws, aliases)

    if args.command == "snapshot":
        table = args.table or outputs.value(stack, "tableName", "--table")
        regions = list(args.region)
        if not regions:
            regions = [outputs.value(stack, "region", "--region")]
            if other:
                regions.append(outputs.value(other, "region", "--region"))
        return snapshot.run(aws, table, regions)

    if not other:
        raise OpsError(f"which stack is the partner of {stack!r}? give --other-stack")
    primary, backup = _roles(outputs, stack, other)

    if args.command in ("failover", "failback"):
        to_backup = args.command == "failover"
        check_id = args.health_check_id or outputs.value(
            primary, "healthCheckId", "--health-check-id"
        )
        target = args.target_url or outputs.optional(backup if to_backup else primary, "apiUrl")
        return failover.run(
            aws,
            check_id,
            to_backup=to_backup,
            target_api_url=target,
            force=args.force,
            stack=primary,
        )

    if args.command == "preflight":
        return preflight.run(
            aws,
            preflight.StackView(primary, outputs.get(primary), outputs.config(primary)),
            preflight.StackView(backup, outputs.get(backup), outputs.config(backup)),
        )
    raise OpsError(f"unknown command {args.command}")


def _roles(outputs: StackOutputs, stack: str, other: str) -> tuple[str, str]:
    """(primary stack, backup stack), from the `role` each exports, else by the names."""
    role = outputs.optional(stack, "role")
    if role == "backup" or (role is None and stack == "backup"):
        return other, stack
    return stack, other
