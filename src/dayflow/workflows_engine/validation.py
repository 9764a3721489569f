"""Deploy-time checks of a parsed workflow: jump targets, functions, static limits, and the
parallel-step rules (branch count, nesting depth, shared variables).
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import UnsupportedSyntaxError, WorkflowDefinitionError
from .expressions import REFERENCE_MARK, VARIABLE_MARK, CompiledValue
from .library import LibraryFunction, load_library
from .limits import Limits
from .model import (
    AssignStep,
    Block,
    BlockStep,
    CallStep,
    ForStep,
    ParallelStep,
    RaiseStep,
    ReturnStep,
    Step,
    Subworkflow,
    SwitchStep,
    TryStep,
    WorkflowDefinition,
)

_UNSUPPORTED_NAMESPACES = {
    "events": "callbacks and events (events.*)",
    "experimental": "experimental.* functions",
}


def validate_definition(definition: WorkflowDefinition, limits: Limits) -> None:
    library = load_library()
    for sub in definition.subworkflows.values():
        _Validator(definition, sub, library, limits).run()


class _Validator:
    def __init__(
        self,
        definition: WorkflowDefinition,
        sub: Subworkflow,
        library: dict[str, LibraryFunction],
        limits: Limits,
    ) -> None:
        self.definition = definition
        self.sub = sub
        self.library = library
        self.limits = limits

    def error(self, step: str, message: str) -> WorkflowDefinitionError:
        return WorkflowDefinitionError(
            f"workflow '{self.definition.workflow_id}', subworkflow '{self.sub.name}', "
            f"step '{step}': {message}"
        )

    def run(self) -> None:
        self.block(self.sub.body, visible=[], in_loop=False, in_branch=False, depth=0)
        params = {p.name for p in self.sub.params}
        for step in _walk(self.sub.body):
            if isinstance(step, ParallelStep):
                outside = params | _assigned(self.sub.body, skip=step)
                self.check_shared(step, outside)
                self.check_sibling_reads(step, outside)

    # --- structure -----------------------------------------------------------------------

    def block(
        self, block: Block, visible: list[Block], in_loop: bool, in_branch: bool, depth: int
    ) -> None:
        chain = [*visible, block]
        for step in block.steps:
            self.step(step, chain, in_loop, in_branch, depth)

    def step(
        self, step: Step, chain: list[Block], in_loop: bool, in_branch: bool, depth: int
    ) -> None:
        self.jump(step.name, step.next, chain, in_loop)
        for value in _values(step):
            self.functions(step.name, value)
        if isinstance(step, AssignStep):
            if len(step.assignments) > self.limits.max_assignments_per_step:
                raise self.error(
                    step.name,
                    f"{len(step.assignments)} assignments exceed the maximum of "
                    f"{self.limits.max_assignments_per_step} per assign step",
                )
        elif isinstance(step, CallStep):
            self.call(step)
        elif isinstance(step, SwitchStep):
            if len(step.conditions) > self.limits.max_switch_conditions:
                raise self.error(
                    step.name,
                    f"{len(step.conditions)} conditions exceed the maximum of "
                    f"{self.limits.max_switch_conditions} per switch step",
                )
            for cond in step.conditions:
                self.jump(step.name, cond.next, chain, in_loop)
                if cond.steps is not None:
                    self.block(cond.steps, chain, in_loop, in_branch, depth)
                if cond.has_return and in_branch:
                    raise self.error(step.name, "return is not allowed inside a parallel branch")
        elif isinstance(step, ForStep):
            self.block(step.loop.body, [], True, in_branch, depth)
        elif isinstance(step, ParallelStep):
            self.parallel(step, depth)
        elif isinstance(step, ReturnStep) and in_branch:
            raise self.error(step.name, "return is not allowed inside a parallel branch")
        elif isinstance(step, TryStep):
            self.block(step.body, chain, in_loop, in_branch, depth)
            if step.except_body is not None:
                self.block(step.except_body, chain, in_loop, in_branch, depth)
            if step.retry is not None and step.retry.predicate is not None:
                self.known(step.name, step.retry.predicate)
        elif isinstance(step, BlockStep):
            self.block(step.body, chain, in_loop, in_branch, depth)

    def parallel(self, step: ParallelStep, depth: int) -> None:
        step.depth = depth + 1
        if step.depth > self.limits.max_parallel_depth:
            raise self.error(
                step.name,
                f"ParallelNestingError: parallel steps nested {step.depth} deep exceed the "
                f"maximum depth of {self.limits.max_parallel_depth}",
            )
        if step.branches is not None:
            count = len(step.branches)
            if not 1 <= count <= self.limits.max_parallel_branches:
                raise self.error(
                    step.name,
                    f"{count} branches (a parallel step has 1 to "
                    f"{self.limits.max_parallel_branches} branches)",
                )
            for _, body in step.branches:
                self.block(body, [], False, True, step.depth)
        if step.loop is not None:
            self.block(step.loop.body, [], True, True, step.depth)
            for inner in _walk_loop_level(step.loop.body):
                nexts = [inner.next]
                if isinstance(inner, SwitchStep):
                    nexts += [c.next for c in inner.conditions]
                if "break" in nexts:
                    raise self.error(
                        inner.name, "next: break is not allowed in a parallel for loop"
                    )

    def jump(self, name: str, target: str | None, chain: list[Block], in_loop: bool) -> None:
        if target is None or target == "end":
            return
        if target in ("break", "continue"):
            if not in_loop:
                raise self.error(name, f"next: {target} is only allowed inside a for loop")
            return
        if not any(target in block.index for block in chain):
            raise self.error(
                name,
                f"next: '{target}' is not a step of this block or an enclosing one "
                "(jumps into nested steps or out of loops and branches are not allowed)",
            )

    # --- functions -----------------------------------------------------------------------

    def known(self, step: str, name: str) -> LibraryFunction | None:
        """The library function `name`, None for a subworkflow; raise when unknown."""
        if name in self.definition.subworkflows:
            return None
        namespace = name.split(".", 1)[0]
        if namespace in _UNSUPPORTED_NAMESPACES:
            raise UnsupportedSyntaxError(
                f"workflow '{self.definition.workflow_id}', subworkflow '{self.sub.name}', "
                f"step '{step}': {_UNSUPPORTED_NAMESPACES[namespace]} ('{name}') is not "
                "supported by the local engine"
            )
        if name in self.library:
            return self.library[name]
        if namespace == "googleapis":
            raise UnsupportedSyntaxError(
                f"workflow '{self.definition.workflow_id}', subworkflow '{self.sub.name}', "
                f"step '{step}': connector '{name}' is not supported by the local engine"
            )
        raise self.error(step, f"unknown function '{name}'")

    def functions(self, step: str, value: CompiledValue) -> None:
        for name in value.functions:
            if name.startswith(VARIABLE_MARK):
                continue
            if name.startswith(REFERENCE_MARK):
                self.known(step, name[len(REFERENCE_MARK) :])
                continue
            function = self.known(step, name)
            if function is not None and function.blocking:
                raise self.error(
                    step,
                    f"'{name}' is a blocking call and cannot be used in an expression "
                    "(use a call step)",
                )

    def call(self, step: CallStep) -> None:
        function = self.known(step.name, step.function)
        if function is None:
            sub = self.definition.subworkflows[step.function]
            names = {p.name for p in sub.params}
            unknown = sorted(set(step.args) - names)
            if unknown:
                raise self.error(
                    step.name, f"subworkflow '{sub.name}' has no parameter(s) {unknown}"
                )
            missing = [p.name for p in sub.params if not p.has_default and p.name not in step.args]
            if missing:
                raise self.error(step.name, f"missing argument(s) {missing} for '{sub.name}'")
        else:
            unknown = sorted(set(step.args) - set(function.params))
            if unknown:
                raise self.error(
                    step.name,
                    f"'{function.name}' has no argument(s) {unknown}"
                    f" (expected: {', '.join(function.params) or 'none'})",
                )

    # --- shared variables ----------------------------------------------------------------

    def check_sibling_reads(self, step: ParallelStep, outside: set[str]) -> None:
        """Refuse a branch reading a variable that only a sibling branch defines.

        https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps and the
        sample workflows-parallel-shared-variables: a variable first assigned in a branch
        is local to that branch's scope, so no sibling can ever read it. GCP reports scope
        errors at deployment; the docs do not spell out this exact case, so the engine
        refuses it at deploy time (a run-time KeyError would hide it until that branch runs).
        """
        branches = step.branches or []
        local = {
            name: _assigned(body, whole=True) | _loop_variables(body) for name, body in branches
        }
        for name, body in branches:
            for variable in sorted(_reads(body) - outside - local[name]):
                owners = [other for other, names in local.items() if variable in names]
                if owners:
                    raise self.error(
                        step.name,
                        f"branch '{name}' reads variable '{variable}', which only branch "
                        f"'{owners[0]}' defines; a branch's own variables are local to it "
                        "(assign it before the parallel step and list it in 'shared')",
                    )

    def check_shared(self, step: ParallelStep, outside: set[str]) -> None:
        bodies = [b for _, b in step.branches or []] + ([step.loop.body] if step.loop else [])
        local = {step.loop.value, step.loop.index} if step.loop else set()
        for body in bodies:
            for name in sorted(_assigned(body) - local):
                if name in outside and name not in step.shared:
                    raise self.error(
                        step.name,
                        f"variable '{name}' of the enclosing scope is assigned inside the "
                        "parallel step; list it in 'shared' to write it from a branch",
                    )


def _reads(block: Block) -> set[str]:
    """Root names of every variable a block reads (expressions and path assignments)."""
    names: set[str] = set()
    for step in _walk(block):
        for value in _values(step):
            names.update(value.variables)
        assigns = [step] if isinstance(step, AssignStep) else []
        if isinstance(step, SwitchStep):
            assigns += [c.assign for c in step.conditions if c.assign is not None]
        for assign in assigns:
            # `a.b: 1` reads `a` (it must exist); `a: 1` does not.
            names.update(t.root for t, _ in assign.assignments if t.path)
    return names


def _loop_variables(block: Block) -> set[str]:
    names: set[str] = set()
    for step in _walk(block):
        loop = step.loop if isinstance(step, ForStep | ParallelStep) else None
        if loop is not None:
            names.update(n for n in (loop.value, loop.index) if n is not None)
    return names


def _values(step: Step) -> Iterator[CompiledValue]:
    if isinstance(step, AssignStep):
        for target, value in step.assignments:
            yield value
            yield from (seg.index for seg in target.path if seg.index is not None)
    elif isinstance(step, CallStep):
        yield from step.args.values()
    elif isinstance(step, SwitchStep):
        for cond in step.conditions:
            yield cond.condition
            yield from (v for v in (cond.returns, cond.raises) if v is not None)
            if cond.assign is not None:
                yield from _values(cond.assign)
    elif isinstance(step, ForStep | ParallelStep):
        loop = step.loop
        if loop is not None:
            bounds = loop.range if isinstance(loop.range, tuple) else (loop.range,)
            yield from (v for v in (loop.items, *bounds) if v is not None)
        if isinstance(step, ParallelStep) and step.concurrency_limit is not None:
            yield step.concurrency_limit
    elif isinstance(step, RaiseStep | ReturnStep):
        if step.value is not None:
            yield step.value
    elif isinstance(step, TryStep) and step.retry is not None:
        retry = step.retry
        for v in (retry.max_retries, retry.initial_delay, retry.max_delay, retry.multiplier):
            if v is not None:
                yield v


def _children(step: Step) -> Iterator[Block]:
    if isinstance(step, SwitchStep):
        yield from (c.steps for c in step.conditions if c.steps is not None)
    elif isinstance(step, ForStep):
        yield step.loop.body
    elif isinstance(step, ParallelStep):
        yield from (b for _, b in step.branches or [])
        if step.loop is not None:
            yield step.loop.body
    elif isinstance(step, TryStep):
        yield step.body
        if step.except_body is not None:
            yield step.except_body
    elif isinstance(step, BlockStep):
        yield step.body


def _walk(block: Block, skip: Step | None = None) -> Iterator[Step]:
    """Every step of a block, depth first, not descending into `skip`."""
    for step in block.steps:
        yield step
        if step is not skip:
            for child in _children(step):
                yield from _walk(child, skip)


def _walk_loop_level(block: Block) -> Iterator[Step]:
    """Steps of a loop body that a break would apply to (not inside nested loops)."""
    for step in block.steps:
        yield step
        if not isinstance(step, ForStep | ParallelStep):
            for child in _children(step):
                yield from _walk_loop_level(child)


def _assigned(block: Block, skip: Step | None = None, *, whole: bool = False) -> set[str]:
    """Root names of every variable a block may assign (loop variables excluded).

    With `whole`, only assignments that create the variable count (`a: 1`, not `a.b: 1`).
    """
    names: set[str] = set()
    for step in _walk(block, skip):
        if isinstance(step, AssignStep):
            names.update(t.root for t, _ in step.assignments if not (whole and t.path))
        elif isinstance(step, CallStep) and step.result:
            names.add(step.result)
        elif isinstance(step, SwitchStep):
            for cond in step.conditions:
                if cond.assign is not None:
                    targets = cond.assign.assignments
                    names.update(t.root for t, _ in targets if not (whole and t.path))
        elif isinstance(step, TryStep) and step.except_as:
            names.add(step.except_as)
    return names
