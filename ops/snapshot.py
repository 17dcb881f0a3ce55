"""`snapshot`: an on-demand backup of the table in every region it lives in, before a demo."""

from __future__ import annotations

from datetime import UTC, datetime

from ops.aws import Aws, credential_problem, describe
from ops.errors import OpsError
from ops.report import table


def run(aws: Aws, table_name: str, regions: list[str], now: datetime | None = None) -> int:
    if not regions:
        raise OpsError("no region to snapshot in: give --region")
    aws.require_credentials()
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    # Allowed characters of a backup name: letters, digits, _ . -
    backup_name = f"{table_name}-predemo-{stamp}"
    rows = [("region", "result", "detail")]
    failures = 0
    for region in regions:
        try:
            backup = aws.client("dynamodb", region).create_backup(
                TableName=table_name, BackupName=backup_name
            )["BackupDetails"]
        except Exception as error:  # one region failing must not hide the other's result
            problem = credential_problem(error)
            if problem:
                raise OpsError(problem) from error
            failures += 1
            rows.append((region, "FAIL", describe(error)))
            continue
        rows.append((region, "ok", f"{backup['BackupArn']} ({backup['BackupStatus']})"))
    print(f"backup {backup_name} of table {table_name}:")
    print(table(rows))
    return 1 if failures else 0
