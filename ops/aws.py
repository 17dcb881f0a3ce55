"""AWS clients for the commands: short timeouts, few retries, and credentials checked up front."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from ops.errors import OpsError

# A command run during a demo must answer in seconds, not wait out the SDK's default retries.
CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)
CREDENTIAL_ERRORS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}


class Aws:
    """One boto3 session for the whole command; clients are created once per service and region."""

    def __init__(self, profile: str | None = None) -> None:
        try:
            self.session = boto3.session.Session(profile_name=profile)
        except BotoCoreError as error:
            raise OpsError(f"AWS profile {profile!r}: {error}") from error
        self._clients: dict[tuple[str, str], Any] = {}

    def require_credentials(self) -> None:
        try:
            credentials = self.session.get_credentials()
        except (BotoCoreError, ValueError) as error:
            raise OpsError(f"cannot load AWS credentials: {error}") from error
        if credentials is None:
            raise OpsError(
                "no AWS credentials found: set AWS_PROFILE (or pass --profile), or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run the command again."
            )

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            try:
                self._clients[key] = self.session.client(
                    service, region_name=region, config=CLIENT_CONFIG
                )
            except NoRegionError as error:
                raise OpsError(f"no region for {service}: pass --region") from error
        return self._clients[key]


def describe(error: Exception) -> str:
    """A one-line reason for an AWS failure, fit for a checklist line."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'error')}: {info.get('Message', '')}".strip()
    return str(error) or type(error).__name__


def credential_problem(error: Exception) -> str | None:
    """The operator-facing message when `error` means the credentials are missing or bad."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no usable AWS credentials: set AWS_PROFILE or the AWS_* variables"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in CREDENTIAL_ERRORS:
            return f"AWS refused the credentials ({code}): log in again (aws sso login) and retry"
    return None


def arn_region(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3]:
        raise OpsError(f"{arn!r} is not a regional ARN")
    return parts[3]
