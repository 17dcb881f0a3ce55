"""AWS Backup for the table: a daily plan in the primary region, copied to the other region.

The prod stack owns the plan, its vault and role; the backup stack owns the vault the copies go
to, in its own region, so each stack keeps to its region and a lost primary region cannot take the
copies with it. The backup stack is deployed first, so the copy vault exists when the prod plan
names it.

This sits on top of the table's point-in-time recovery: PITR restores any second of the last 35
days but lives and dies with the table; Backup recovery points are separate resources in a vault,
and the copy in the other region survives the loss of the primary region.

Copying DynamoDB backups to another region needs AWS Backup's advanced features for DynamoDB,
an account-wide setting of each region that this program does not own (it would overwrite the
account's choices for every other service). The README gives the one command that turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy

# The copy vault's name: fixed, so the prod stack can name it without reading the backup stack.
COPY_VAULT_NAME = "vetroi-table-copies"
MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
)


def copy_vault_arn(
    partition: pulumi.Input[str], region: str, account_id: pulumi.Input[str]
) -> pulumi.Output[str]:
    """The ARN of the copy vault the backup stack declares in `region`."""
    return pulumi.Output.concat(
        "arn:", partition, ":backup:", region, ":", account_id, ":backup-vault:", COPY_VAULT_NAME
    )


@dataclass
class CopyVaultArgs:
    region: str


class CopyVault(pulumi.ComponentResource):
    """The vault in the backup region that receives the prod plan's copies of the table."""

    vault: aws.backup.Vault

    def __init__(
        self, name: str, args: CopyVaultArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:backup:CopyVault", name, None, opts)
        self.vault = aws.backup.Vault(
            f"{name}-vault",
            name=COPY_VAULT_NAME,
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"vaultArn": self.vault.arn})


@dataclass
class TableBackupArgs:
    region: str
    table_arn: pulumi.Input[str]
    # The backup stack's CopyVault, from `copy_vault_arn`.
    copy_vault_arn: pulumi.Input[str]
    # Daily, at 05:00 UTC: late night in the United States, when the table is quiet.
    schedule: str = "cron(0 5 * * ? *)"
    retention_days: int = 35
    copy_retention_days: int = 35


class TableBackup(pulumi.ComponentResource):
    """A vault, a daily backup plan with a cross-region copy, and its IAM role."""

    vault: aws.backup.Vault
    plan: aws.backup.Plan
    role: aws.iam.Role

    def __init__(
        self, name: str, args: TableBackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:backup:TableBackup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.vault = aws.backup.Vault(
            f"{name}-vault", name=f"{name}-{args.region}", region=args.region, opts=child
        )

        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("backup.amazonaws.com"),
            opts=child,
        )
        for index, policy_arn in enumerate(MANAGED_POLICIES):
            aws.iam.RolePolicyAttachment(
                f"{name}-role-policy-{index}",
                role=self.role.name,
                policy_arn=policy_arn,
                opts=child,
            )

        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=f"{name}-daily",
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name="daily",
                    target_vault_name=self.vault.name,
                    schedule=args.schedule,
                    start_window=60,
                    completion_window=240,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=args.retention_days),
                    copy_actions=[
                        aws.backup.PlanRuleCopyActionArgs(
                            destination_vault_arn=args.copy_vault_arn,
                            lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(
                                delete_after=args.copy_retention_days
                            ),
                        )
                    ],
                )
            ],
            region=args.region,
            opts=child,
        )
        aws.backup.Selection(
            f"{name}-selection",
            name=f"{name}-table",
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=[args.table_arn],
            region=args.region,
            opts=child,
        )
        self.register_outputs(
            {
                "planId": self.plan.id,
                "vaultArn": self.vault.arn,
                "copyVaultArn": args.copy_vault_arn,
            }
        )
