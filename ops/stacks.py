"""Stack outputs: from `pulumi stack output --json -s S`, or from a JSON file given with --outputs.

A file holds what `pulumi stack output --json -s S` prints. `--outputs backup=backup.json` names
the stack it belongs to; a bare `--outputs prod.json` belongs to the stack given with --stack.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ops import ROOT
from ops.errors import OpsError

# The two stacks of the project, each the other's partner.
PARTNERS = {"prod": "backup", "backup": "prod"}


def parse_output_files(values: list[str], default_stack: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for value in values:
        stack, sep, path = value.partition("=")
        if not sep:
            stack, path = default_stack, value
        files[stack] = Path(path)
    return files


class StackOutputs:
    """Reads each stack's outputs once, from a file when one was given, else from Pulumi."""

    def __init__(self, files: dict[str, Path] | None = None, cwd: Path = ROOT) -> None:
        self.files = files or {}
        self.cwd = cwd
        self._cache: dict[str, dict[str, Any]] = {}

    def get(self, stack: str) -> dict[str, Any]:
        if stack not in self._cache:
            self._cache[stack] = self._load(stack)
        return self._cache[stack]

    def value(self, stack: str, key: str, flag: str) -> Any:
        """One output, or an error naming the flag that can give it instead."""
        outputs = self.get(stack)
        if key not in outputs or outputs[key] in (None, "", [], {}):
            raise OpsError(f"stack {stack!r} exports no {key!r}; give it with {flag}")
        return outputs[key]

    def optional(self, stack: str, key: str) -> Any:
        try:
            return self.get(stack).get(key)
        except OpsError:
            return None

    def config(self, stack: str) -> dict[str, Any]:
        """The stack's settings as `pulumi config --json` gives them; empty without the CLI.

        Only what is set in the stack is there, not the defaults of Pulumi.yaml.
        """
        pulumi = shutil.which("pulumi")
        if pulumi is None or stack in self.files:
            return {}
        try:
            result = subprocess.run(
                [pulumi, "config", "--json", "-s", stack],
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {}
        if result.returncode != 0:
            return {}
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError:
            return {}
        return {key: entry.get("value") for key, entry in data.items() if isinstance(entry, dict)}

    def _load(self, stack: str) -> dict[str, Any]:
        if stack in self.files:
            return _read_file(self.files[stack], stack)
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise OpsError(
                f"cannot read the outputs of stack {stack!r}: the Pulumi CLI is not installed. "
                f"Install it, or pass --outputs {stack}=FILE with the JSON printed by "
                f"`pulumi stack output --json -s {stack}`."
            )
        try:
            result = subprocess.run(
                [pulumi, "stack", "output", "--json", "-s", stack],
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise OpsError(f"`pulumi stack output -s {stack}` did not answer in 120 s") from error
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise OpsError(
                f"cannot read the outputs of stack {stack!r}: "
                + (reason[-1] if reason else f"pulumi exited with {result.returncode}")
            )
        return _parse(result.stdout, f"`pulumi stack output -s {stack}`")


def _read_file(path: Path, stack: str) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as error:
        raise OpsError(
            f"cannot read the outputs of stack {stack!r} from {path}: {error}"
        ) from error
    return _parse(text, str(path))


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise OpsError(f"{source} is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise OpsError(f"{source} is not a JSON object of stack outputs")
    return data
