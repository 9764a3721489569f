"""The parsed form of a workflow source: subworkflows, blocks and typed steps.

Parsing (definition.py) builds these once per deploy; the interpreter only walks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .expressions import CompiledValue


@dataclass(frozen=True)
class PathSegment:
    """One `.key` or `[expr]` step of an assignment target such as `a.b[i]`."""

    key: str | None
    index: CompiledValue | None


@dataclass(frozen=True)
class Target:
    """Left-hand side of an assignment: a variable name and an optional path into it."""

    root: str
    path: tuple[PathSegment, ...]
    text: str


@dataclass
class Step:
    """Base of every step; `next` is a step name, `end`, `break` or `continue`."""

    name: str
    next: str | None = field(default=None, kw_only=True)


@dataclass
class Block:
    """An ordered list of steps, with their positions for `next` jumps."""

    steps: list[Step]
    index: dict[str, int]


@dataclass
class AssignStep(Step):
    assignments: list[tuple[Target, CompiledValue]]


@dataclass
class CallStep(Step):
    function: str
    args: dict[str, CompiledValue]
    result: str | None


@dataclass
class Condition:
    condition: CompiledValue
    next: str | None = None
    steps: Block | None = None
    assign: AssignStep | None = None
    has_return: bool = False
    returns: CompiledValue | None = None
    raises: CompiledValue | None = None


@dataclass
class SwitchStep(Step):
    conditions: list[Condition]


@dataclass
class ForLoop:
    value: str
    index: str | None
    items: CompiledValue | None
    # `[START, END]` bounds, or one expression that must yield a two-element list.
    range: tuple[CompiledValue, CompiledValue] | CompiledValue | None
    body: Block


@dataclass
class ForStep(Step):
    loop: ForLoop


@dataclass
class ParallelStep(Step):
    shared: tuple[str, ...]
    concurrency_limit: CompiledValue | None
    branches: list[tuple[str, Block]] | None
    loop: ForLoop | None
    depth: int


@dataclass
class RaiseStep(Step):
    value: CompiledValue


@dataclass
class ReturnStep(Step):
    value: CompiledValue | None


@dataclass
class RetrySpec:
    """`retry:` either names a built-in policy or spells out predicate and backoff."""

    policy: str | None
    predicate: str | None  # a library function or subworkflow name
    max_retries: CompiledValue | None
    initial_delay: CompiledValue | None
    max_delay: CompiledValue | None
    multiplier: CompiledValue | None


@dataclass
class TryStep(Step):
    body: Block
    retry: RetrySpec | None
    except_as: str | None
    except_body: Block | None


@dataclass
class BlockStep(Step):
    body: Block


@dataclass
class NextStep(Step):
    """A step with only `next:`."""


@dataclass(frozen=True)
class Param:
    name: str
    has_default: bool
    default: object = None


@dataclass
class Subworkflow:
    name: str
    params: list[Param]
    body: Block


@dataclass
class WorkflowDefinition:
    """A deployed workflow: its subworkflows (`main` included) and its source text."""

    workflow_id: str
    subworkflows: dict[str, Subworkflow]
    source: str

    @property
    def main(self) -> Subworkflow:
        return self.subworkflows["main"]
