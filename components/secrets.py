"""The O*NET credentials, kept in Secrets Manager in the stack's own region.

The functions read the secret on their first call to O*NET and keep it for the container's life;
the credentials never appear in an environment variable, in the function's configuration or in a
stack output in clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass
class OnetCredentialsArgs:
    region: str
    stack: str
    username: pulumi.Input[str]
    password: pulumi.Input[str]


class OnetCredentials(pulumi.ComponentResource):
    """A Secrets Manager secret holding `{"username": ..., "password": ...}` for O*NET."""

    def __init__(
        self, name: str, args: OnetCredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:secrets:OnetCredentials", name, None, opts)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name_prefix=f"vetroi-{args.stack}-onet-",
            description="O*NET web services credentials for the VetROI API",
            region=args.region,
            recovery_window_in_days=7,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-value",
            secret_id=self.secret.id,
            region=args.region,
            secret_string=pulumi.Output.json_dumps(
                {"username": args.username, "password": args.password}
            ).apply(pulumi.Output.secret),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.secret.arn
        self.register_outputs({"arn": self.secret.arn})
