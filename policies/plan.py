"""`make plan`: what each stack would create, and every rule's verdict, without AWS or the CLI.

Runs the program under Pulumi's mock runtime (tests/program.py) for the prod and backup stacks
with their real settings, for prod with the monolith function layout, and for prod without a
domain (the development shape). For each it prints a table of the resources (type, name, region,
the properties that matter) and the verdict of every rule in `policies.rules`. Exits 1 when a
rule is broken, 2 when a stack fails to run.

    python -m policies.plan            # every variant
    python -m policies.plan backup     # one variant, by name

The mock runtime resolves every value, so nothing is "unknown" here as it can be in a preview,
and it records `retainOnDelete`, which the CLI does not pass to policy packs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies import rules as r
from policies.model import (
    Context,
    Finding,
    NotChecked,
    Resource,
    Rule,
    Stack,
    UnknownValue,
    as_list,
    lookup,
)
from tests import program


@dataclass(frozen=True)
class Variant:
    """One way of running the program: a stack, and changes to its settings."""

    name: str
    stack: str
    overrides: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    # Rules this variant breaks by design, with the reason; reported as "waived", not passed.
    waivers: dict[str, str] = field(default_factory=dict)


NO_DOMAIN_WAIVERS = {
    "cloudfront-tls12": (
        "without a domain CloudFront can only serve its default *.cloudfront.net certificate, "
        "whose security policy is fixed at TLSv1; the production shape has a domain"
    ),
}

VARIANTS = (
    Variant("prod", "prod"),
    Variant("backup", "backup"),
    # The other function layout the settings offer: one function serves every route.
    Variant("prod-monolith", "prod", overrides={"vetroi:functionLayout": "monolith"}),
    Variant(
        "prod-no-domain",
        "prod",
        remove=("vetroi:domain", "vetroi:hostedZoneId"),
        waivers=NO_DOMAIN_WAIVERS,
    ),
)


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    status: str  # pass, FAIL, waived, n/a (nothing to check), not checked
    findings: list[Finding]
    note: str = ""


def neutral_view(deployment: program.Deployment) -> Stack:
    """The neutral view of what the program declared under the mocks."""
    components = {c.name: c.typ for c in deployment if c.component}
    parents_of = {c.name: c.parent for c in deployment if c.component}

    def parents(resource: program.Resource) -> tuple[str, ...]:
        chain: list[str] = []
        parent = resource.parent
        while parent in components and len(chain) < 20:
            chain.insert(0, components[parent])
            parent = parents_of.get(parent)
        return tuple(chain)

    resources = [
        Resource(
            type=res.typ,
            name=res.name,
            props=res.state or res.inputs,
            region=res.region,
            protect=res.protect,
            retain_on_delete=res.retain_on_delete,
            parents=parents(res),
            id=res.id,
        )
        for res in deployment
        if not res.component
    ]
    return Stack(resources, deployment.outputs)


def context_for(variant: Variant) -> Context:
    """The stack facts the rules use, from the stack's settings and Pulumi.yaml's defaults."""
    declared = {
        key: spec.get("default")
        for key, spec in _declared().items()
        if isinstance(spec, dict) and "default" in spec
    }
    config = {**declared, **program.stack_config(variant.stack), **variant.overrides}
    limit = config.get("vetroi:failoverBudgetLimit", Context().failover_budget_limit)
    return Context(
        stack=variant.name,
        other_region=config.get("vetroi:otherRegion"),
        failover_budget_limit=float(limit),
    )


def _declared() -> dict[str, Any]:
    import yaml

    project = yaml.safe_load((program.ROOT / "Pulumi.yaml").read_text())
    return dict(project.get("config") or {})


def evaluate(
    stack: Stack, context: Context, waivers: dict[str, str] | None = None
) -> list[Verdict]:
    """Every rule's verdict on `stack`."""
    waivers = waivers or {}
    verdicts = []
    for rule in r.RULES:
        if not rule.applies_to(stack):
            verdicts.append(Verdict(rule, "n/a", [], "nothing of this kind in the stack"))
            continue
        try:
            findings = rule.findings(stack, context)
        except (NotChecked, UnknownValue) as error:
            verdicts.append(Verdict(rule, "not checked", [], str(error)))
            continue
        if findings and rule.name in waivers:
            verdicts.append(Verdict(rule, "waived", findings, waivers[rule.name]))
        else:
            verdicts.append(Verdict(rule, "FAIL" if findings else "pass", findings))
    return verdicts


# The few properties worth seeing per type in the table: (label, dotted path into the inputs).
KEY_PROPERTIES: dict[str, Sequence[tuple[str, str]]] = {
    r.FUNCTION: (
        ("runtime", "runtime"),
        ("arch", "architectures"),
        ("memory", "memorySize"),
        ("tracing", "tracingConfig.mode"),
        ("layers", "layers"),
    ),
    r.ALIAS: (("name", "name"), ("version", "functionVersion")),
    r.LOG_GROUP: (("name", "name"), ("retention", "retentionInDays")),
    r.REST_API: (("endpoint", "endpointConfiguration.types"),),
    r.STAGE: (("stage", "stageName"), ("xray", "xrayTracingEnabled")),
    r.METHOD_SETTINGS: (
        ("path", "methodPath"),
        ("rate", "settings.throttlingRateLimit"),
        ("burst", "settings.throttlingBurstLimit"),
    ),
    r.GATEWAY_RESPONSE: (("type", "responseType"),),
    r.TABLE: (
        ("name", "name"),
        ("billing", "billingMode"),
        ("stream", "streamViewType"),
        ("pitr", "pointInTimeRecovery.enabled"),
        ("deletionProtection", "deletionProtectionEnabled"),
        ("replicas", "replicas[].regionName"),
    ),
    r.DISTRIBUTION: (
        ("aliases", "aliases"),
        ("tls", "viewerCertificate.minimumProtocolVersion"),
        ("viewers", "defaultCacheBehavior.viewerProtocolPolicy"),
    ),
    r.RECORD: (("name", "name"), ("type", "type"), ("ttl", "ttl"), ("set", "setIdentifier")),
    r.HEALTH_CHECK: (
        ("type", "type"),
        ("path", "resourcePath"),
        ("interval", "requestInterval"),
        ("threshold", "failureThreshold"),
    ),
    r.METRIC_ALARM: (("namespace", "namespace"), ("metric", "metricName")),
    r.WEB_ACL: (("scope", "scope"),),
    r.ORIGIN_REQUEST_POLICY: (
        ("headers", "headersConfig.headerBehavior"),
        ("listed", "headersConfig.headers.items"),
    ),
    r.CACHE_POLICY: (
        ("keyHeaders", "parametersInCacheKeyAndForwardedToOrigin.headersConfig.headerBehavior"),
        ("listed", "parametersInCacheKeyAndForwardedToOrigin.headersConfig.headers.items"),
    ),
    r.RESPONSE_HEADERS_POLICY: (("corsOverride", "corsConfig.originOverride"),),
    r.PUBLIC_ACCESS_BLOCK: (
        ("acls", "blockPublicAcls"),
        ("policy", "blockPublicPolicy"),
        ("ignoreAcls", "ignorePublicAcls"),
        ("restrict", "restrictPublicBuckets"),
    ),
    r.ENCRYPTION[0]: (("sse", "rules[].applyServerSideEncryptionByDefault.sseAlgorithm"),),
    r.BUCKETS[0]: (("bucket", "bucket"),),
    r.VERSIONING[0]: (("status", "versioningConfiguration.status"),),
    "aws:sns/topic:Topic": (("name", "name"),),
    "aws:acm/certificate:Certificate": (("domain", "domainName"),),
}


def _short(value: Any, width: int = 40) -> str:
    if isinstance(value, list):
        text = ",".join(_short(v, width) for v in value)
    elif isinstance(value, dict):
        text = ",".join(_short(v, width) for v in value.values())
    elif isinstance(value, float) and value.is_integer():
        # Numbers come back from the engine as floats; 30.0 reads better as 30.
        text = str(int(value))
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _properties(resource: Resource) -> str:
    shown = []
    for label, path in KEY_PROPERTIES.get(resource.type, ()):
        if "[]." in path:
            head, tail = path.split("[].", 1)
            items = as_list(lookup(resource.props, head, strict=False))
            value = [lookup(item, tail, strict=False) for item in items]
        else:
            value = lookup(resource.props, path, strict=False)
        if value not in (None, [], {}):
            shown.append(f"{label}={_short(value)}")
    options = [
        o for o, on in (("protect", resource.protect), ("retain", resource.retain_on_delete)) if on
    ]
    return " ".join(shown + options)


# Services whose resources have no region: the table says so rather than show the stack's.
GLOBAL_SERVICES = ("cloudfront", "route53", "iam")


def _region(resource: Resource) -> str:
    service = resource.type.split(":")[1].split("/")[0] if ":" in resource.type else ""
    return "global" if service in GLOBAL_SERVICES else resource.region or "-"


def _short_type(resource_type: str) -> str:
    """aws:lambda/function:Function -> lambda:Function."""
    package, module, kind = (resource_type.split(":") + ["", ""])[:3]
    return f"{module.split('/')[0]}:{kind}" if package == "aws" else resource_type


def render(
    variant: Variant, stack: Stack, verdicts: list[Verdict], out: Callable[[str], None]
) -> None:
    out(f"== {variant.name}: {len(stack.resources)} resources ==")
    rows = sorted(stack, key=lambda x: (x.type, x.name))
    width_type = max([len(_short_type(x.type)) for x in rows] + [4])
    width_name = max([len(x.name) for x in rows] + [4])
    out(f"{'TYPE':<{width_type}}  {'NAME':<{width_name}}  {'REGION':<10}  PROPERTIES")
    for res in rows:
        out(
            f"{_short_type(res.type):<{width_type}}  {res.name:<{width_name}}  "
            f"{_region(res):<10}  {_properties(res)}"
        )
    out("")
    width_rule = max(len(v.rule.name) for v in verdicts)
    out(f"{'RULE':<{width_rule}}  {'SEVERITY':<8}  VERDICT")
    for verdict in verdicts:
        note = f"  ({verdict.note})" if verdict.note and verdict.status != "pass" else ""
        severity = verdict.rule.severity.value
        out(f"{verdict.rule.name:<{width_rule}}  {severity:<8}  {verdict.status}{note}")
        for finding in verdict.findings:
            out(f"{'':<{width_rule}}    - {finding.message}")
    out("")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("variants", nargs="*", help=", ".join(v.name for v in VARIANTS))
    args = parser.parse_args(argv)
    chosen = [v for v in VARIANTS if not args.variants or v.name in args.variants]
    unknown = set(args.variants) - {v.name for v in VARIANTS}
    if unknown:
        parser.error(
            f"unknown variant(s) {sorted(unknown)}; choose from {[v.name for v in VARIANTS]}"
        )

    failed, broken = [], []
    for variant in chosen:
        try:
            deployment = program.run_stack(variant.stack, variant.overrides, variant.remove)
        except Exception as error:  # the program itself failed: say so, keep going
            print(f"== {variant.name}: the program failed: {error}\n")
            broken.append(variant.name)
            continue
        stack = neutral_view(deployment)
        verdicts = evaluate(stack, context_for(variant), variant.waivers)
        render(variant, stack, verdicts, print)
        failed += [f"{variant.name}: {v.rule.name}" for v in verdicts if v.status == "FAIL"]

    if broken:
        print(f"{len(broken)} stack(s) failed to run: {', '.join(broken)}")
        return 2
    if failed:
        print(f"{len(failed)} rule(s) broken:\n  " + "\n  ".join(failed))
        return 1
    print(f"every rule holds in {', '.join(v.name for v in chosen)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
