"""The rules as CrossGuard policies, for `pulumi preview --policy-pack policies`.

Resource rules become `ResourceValidationPolicy`s and see one resource's inputs at a time; stack
rules become `StackValidationPolicy`s and see every resource of the stack with its properties.
What the CLI sends differs from the offline run in ways the rules must respect:
- `retainOnDelete` is not part of the analyzer protocol, so the rule that needs it reports
  itself not applicable there and `make plan` checks it;
- during a preview, values that depend on resources not yet created (ids, ARNs) are unknown; a
  rule that needs one is reported by the SDK as not run ("can't be known during preview");
- a resource's region is its `region` property, or its provider's region.
- the stack's exports (the failover budget) are read from the root `pulumi:pulumi:Stack`
  resource's properties; this assumes the CLI includes that resource, with its outputs, in the
  stack it analyses, which has not been tried against a real CLI here. The budget rule also
  recomputes the budget from the health checks and records, which the CLI always sends.

The stack's settings reach the rules through the policy config (`pulumi preview
--policy-pack-config`) or, failing that, the stack config when the CLI passes it to the pack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi.runtime.config import get_config
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import Severity as PolicySeverity
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policies.model import UNKNOWN, Context, NotChecked, Resource, Rule, Stack, UnknownValue
from policies.rules import RULES, STACK

NAME = "vetroi"
_SEVERITY = {s.value: PolicySeverity(s.value) for s in PolicySeverity}
_CONFIG = PolicyConfigSchema(
    properties={
        "otherRegion": {
            "type": "string",
            "description": "Region of the other stack, where the table's replica must be.",
        },
        "failoverBudgetLimit": {
            "type": "number",
            "description": "Seconds the POST failover may take.",
        },
    }
)


def plain(value: Any) -> Any:
    """A copy of the SDK's property proxy as plain data, with unknowns as `UNKNOWN`.

    The SDK raises on every access to an unknown value; copying once lets a rule decide
    whether the value it needs is the unknown one.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_item(value, index) for index in range(len(value))]
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def _parents(urn: str) -> tuple[str, ...]:
    """The component types enclosing a resource, read from its URN's type chain."""
    parts = urn.split("::")
    if len(parts) < 4:
        return ()
    return tuple(parts[2].split("$")[:-1])


def _region(props: Mapping[str, Any], provider: Any) -> str | None:
    region = props.get("region")
    if isinstance(region, str):
        return region
    provider_region = plain(provider.props).get("region") if provider is not None else None
    return provider_region if isinstance(provider_region, str) else None


def view(
    resource_type: str, name: str, urn: str, props: Any, protect: bool, provider: Any
) -> Resource:
    """The neutral view of a resource as the CLI describes it."""
    values = plain(props)
    return Resource(
        type=resource_type,
        name=name,
        props=values,
        region=_region(values, provider),
        protect=bool(protect),
        retain_on_delete=None,
        urn=urn,
        parents=_parents(urn),
        id=values.get("id"),
    )


def _from_policy_resource(resource: PolicyResource) -> Resource:
    return view(
        resource.resource_type,
        resource.name,
        resource.urn,
        resource.props,
        resource.opts.protect,
        resource.provider,
    )


def context(config: Mapping[str, Any]) -> Context:
    """The stack facts the rules use: policy config first, then the stack's own config."""
    other_region = config.get("otherRegion") or _stack_config("vetroi:otherRegion")
    limit = config.get("failoverBudgetLimit") or _stack_config("vetroi:failoverBudgetLimit")
    return Context(
        other_region=str(other_region) if other_region else None,
        failover_budget_limit=float(limit) if limit else Context().failover_budget_limit,
    )


def _stack_config(key: str) -> str | None:
    value = get_config(key)
    return value if isinstance(value, str) and value else None


def _unknown(error: UnknownValue) -> UnknownValueError:
    return UnknownValueError(UNKNOWN_STRING_VALUE, error.path)


def _validate_resource(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    assert rule.check_resource is not None
    check = rule.check_resource

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        resource = view(
            args.resource_type, args.name, args.urn, args.props, args.opts.protect, args.provider
        )
        try:
            messages = list(check(resource, context(args.get_config())))
        except UnknownValue as error:
            raise _unknown(error) from error
        except NotChecked as skipped:
            args.not_applicable(skipped.reason)
            return
        for message in messages:
            report(message, None)

    return validate


def _validate_stack(rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [_from_policy_resource(r) for r in args.resources]
        roots = [r for r in resources if r.type == STACK]
        stack = Stack([r for r in resources if r.type != STACK], roots[0].props if roots else {})
        try:
            findings = rule.findings(stack, context(args.get_config()))
        except UnknownValue as error:
            raise _unknown(error) from error
        except NotChecked as skipped:
            args.not_applicable(skipped.reason)
            return
        for finding in findings:
            urn = finding.resource.urn if finding.resource and finding.resource.urn else None
            report(finding.message, urn)

    return validate


def policies() -> list[Policy]:
    """One CrossGuard policy per rule, mandatory: a broken rule stops the update."""
    built: list[Policy] = []
    for rule in RULES:
        common: dict[str, Any] = {
            "name": rule.name,
            "description": rule.description,
            "enforcement_level": EnforcementLevel.MANDATORY,
            "severity": _SEVERITY[rule.severity.value],
            "remediation_steps": rule.remediation,
            "config_schema": _CONFIG,
        }
        if rule.is_stack_rule:
            built.append(StackValidationPolicy(validate=_validate_stack(rule), **common))
        else:
            built.append(ResourceValidationPolicy(validate=_validate_resource(rule), **common))
    return built
