"""The neutral view the rules check: resources as plain data, wherever they come from.

A rule is written once against this view. Two adapters fill it in: `policies.pack` from what
the Pulumi CLI sends a policy pack during `pulumi preview`, and `policies.plan` from the program
run under Pulumi's mock runtime. Neither Pulumi SDK is imported here, so the rules run in the
policy pack's own virtual environment as well as in the project's.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class _Unknown:
    """A value that only exists after deployment (an ARN, an id) while previewing."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


class UnknownValue(Exception):
    """A rule needs a value that is not known yet; the preview reports it as not checked."""

    def __init__(self, path: Sequence[str]) -> None:
        self.path = list(path)
        super().__init__(f"{'.'.join(self.path)} is not known until the resource is created")


class NotChecked(Exception):
    """A rule cannot decide from what it was given (e.g. an option the CLI does not send)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Severity(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def lookup(value: Any, path: str, default: Any = None, *, strict: bool = True) -> Any:
    """Follow a dotted path (`tracingConfig.mode`) through mappings.

    A missing key gives `default`. An unknown value on the way raises `UnknownValue` when
    `strict`, or is returned as `UNKNOWN` otherwise.
    """
    walked: list[str] = []
    for key in path.split("."):
        walked.append(key)
        if value is UNKNOWN:
            break
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    if value is UNKNOWN and strict:
        raise UnknownValue(walked)
    return default if value is None else value


def known(value: Any, what: str) -> Any:
    """The value itself, or `UnknownValue` naming `what` when it is not known yet."""
    if value is UNKNOWN:
        raise UnknownValue([what])
    return value


def as_list(value: Any) -> list[Any]:
    """A property that may be absent, one value, or a list of them, as a list."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it.

    `props` uses pulumi-aws's camelCase property names. `retain_on_delete` is None when the
    source does not say: the CLI's analyzer protocol carries `protect` but not
    `retainOnDelete`, so only the offline run can check the latter.
    """

    type: str
    name: str
    props: Mapping[str, Any]
    region: str | None = None
    protect: bool = False
    retain_on_delete: bool | None = None
    urn: str = ""
    # Types of the enclosing components, outermost first (e.g. ("vetroi:data:GlobalData",)).
    parents: tuple[str, ...] = ()
    # The provider's id for the resource; other resources refer to it by this value.
    id: Any = None

    def get(self, path: str, default: Any = None) -> Any:
        return lookup(self.props, path, default)

    def label(self) -> str:
        where = f" in {self.region}" if self.region else ""
        return f"{self.type.rsplit(':', 1)[-1]} '{self.name}'{where}"

    def refs(self) -> set[Any]:
        """The values by which other resources may point at this one: id, name, ARN."""
        values = {self.id, self.props.get("arn"), self.props.get("name")}
        if self.type.startswith("aws:s3/bucket"):
            values.add(self.props.get("bucket"))
        return {v for v in values if isinstance(v, str) and v}


@dataclass
class Stack:
    """Every resource a stack declares, and its exports when the source has them."""

    resources: list[Resource]
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def of(self, *types: str) -> list[Resource]:
        wanted = set(types)
        return [r for r in self.resources if r.type in wanted]

    def referring(self, target: Resource, types: Iterable[str], prop: str) -> list[Resource]:
        """The resources of `types` whose `prop` names `target` (by id, name or ARN)."""
        refs = target.refs()
        return [r for r in self.of(*types) if isinstance(r.get(prop), str) and r.get(prop) in refs]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)


@dataclass(frozen=True)
class Context:
    """What a rule may know about the stack beyond its resources."""

    stack: str = ""
    # The region of the other stack, where the table's replica must be.
    other_region: str | None = None
    # Seconds the POST failover may take (`vetroi:failoverBudgetLimit`).
    failover_budget_limit: float = 60.0


@dataclass(frozen=True)
class Finding:
    """One broken rule: which resource, and what to change."""

    message: str
    resource: Resource | None = None


ResourceCheck = Callable[[Resource, Context], Iterable[str]]
StackCheck = Callable[[Stack, Context], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A rule written once: its name, a one-line description, a severity and its check.

    A resource rule (`types` set) looks at one resource at a time; a stack rule at the whole
    stack, for what only shows across resources (a bucket and its policy, a record and its
    health check).
    """

    name: str
    description: str
    severity: Severity
    remediation: str
    check_resource: ResourceCheck | None = None
    check_stack: StackCheck | None = None
    types: frozenset[str] = frozenset()

    @property
    def is_stack_rule(self) -> bool:
        return self.check_stack is not None

    def applies_to(self, stack: Stack) -> bool:
        """Whether the stack holds anything this rule looks at."""
        if self.types:
            return any(r.type in self.types for r in stack)
        return bool(stack.resources)

    def findings(self, stack: Stack, context: Context) -> list[Finding]:
        """Every violation of this rule in `stack`."""
        if self.check_stack is not None:
            return list(self.check_stack(stack, context))
        assert self.check_resource is not None
        found: list[Finding] = []
        for resource in stack:
            if resource.type in self.types:
                found += [Finding(m, resource) for m in self.check_resource(resource, context)]
        return found
