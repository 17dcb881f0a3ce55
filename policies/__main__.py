"""VetROI's policy pack: the platform's rules, enforced by `pulumi preview --policy-pack policies`.

The Pulumi CLI runs this file as a script (`python -m pulumi.policy <engine> policies`), so only
this directory is on `sys.path`; the repository root is added so the rules are imported from the
`policies` package, the same modules `make plan` runs offline. Constructing the PolicyPack
starts the analyzer server the CLI talks to and does not return.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.pack import NAME, policies  # noqa: E402

PolicyPack(
    name=NAME,
    description="VetROI: the configuration rules that keep the demo API up.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
