"""Runs one execution of a parsed workflow.

Billed steps (Workflows pricing: "any step that executes successfully, any step that fails,
each retry attempt"). The engine counts, per execution:
* 1 for every step it starts: assign, call (stdlib, connector or subworkflow), switch,
  for, parallel, raise, return, try, a `steps:` block and a step holding only `next`;
* the steps run inside blocks, loop iterations, branches, `except` blocks and called
  subworkflows, each as above (a subworkflow called from an expression counts its steps);
* 1 more for every retry attempt of a `try` step, on top of the steps re-run inside it.
Function calls inside expressions and the actions of a switch condition (assign, return,
raise, next) are part of their step and add nothing. The same count enforces the
100,000-step limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from .errors import (
    INDEX_ERROR,
    KEY_ERROR,
    RECURSION_ERROR,
    RESOURCE_LIMIT_ERROR,
    TYPE_ERROR,
    ExecutionCancelled,
    WorkflowError,
    workflow_error,
)
from .execution import Execution
from .iteration import iteration_values
from .library import LibraryFunction, Runtime, load_library
from .model import (
    AssignStep,
    Block,
    BlockStep,
    CallStep,
    ForStep,
    NextStep,
    ParallelStep,
    PathSegment,
    RaiseStep,
    ReturnStep,
    Step,
    SwitchStep,
    Target,
    TryStep,
    WorkflowDefinition,
)
from .retry import resolve_policy
from .scope import MemoryMeter, Scope, check_strings
from .values import json_size, type_name


@dataclass(frozen=True)
class Jump:
    target: str


@dataclass(frozen=True)
class Return:
    value: Any


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


END = _Signal("end")
BREAK = _Signal("break")
CONTINUE = _Signal("continue")
Flow = Jump | Return | _Signal | None
_KEYWORD_FLOWS = {"end": END, "break": BREAK, "continue": CONTINUE}


def flow_for(next_: str | None) -> Flow:
    if next_ is None:
        return None
    return _KEYWORD_FLOWS.get(next_) or Jump(next_)


class Interpreter:
    """Executes a workflow definition; one instance per execution."""

    def __init__(
        self, definition: WorkflowDefinition, runtime: Runtime, execution: Execution | None = None
    ) -> None:
        self.definition = definition
        self.execution = execution
        self.runtime = runtime
        self.limits = runtime.limits
        self.library: dict[str, LibraryFunction] = load_library()
        self.memory = MemoryMeter(self.limits.max_variable_bytes)
        self.steps = 0
        self.current: tuple[str, str] = ("main", "")
        self.assign_lock = threading.RLock()
        self._steps_lock = threading.Lock()
        self._atomic: dict[int, bool] = {}
        self._dispatch: dict[type[Step], Callable[[Any, Scope], Flow]] = {
            AssignStep: self._assign,
            CallStep: self._call,
            SwitchStep: self._switch,
            ForStep: self._for,
            ParallelStep: self._parallel,
            RaiseStep: self._raise,
            ReturnStep: self._return,
            TryStep: self._try,
            BlockStep: self._block_step,
            NextStep: lambda step, scope: flow_for(step.next),
        }

    # --- entry points ------------------------------------------------------------------

    def run(self, argument: Any) -> Any:
        """Run `main` with the execution argument; return the workflow result."""
        main = self.definition.main
        args: dict[str, Any] = {}
        if main.params:
            first = main.params[0]
            if argument is not None or not first.has_default:
                args[first.name] = argument
        result = self.call_subworkflow("main", args, None)
        self._check_result(result)
        return result

    def _check_result(self, result: Any) -> None:
        """The returned value obeys the string and result size limits (ResourceLimitError)."""
        size = json_size(result)
        if size > self.limits.max_string_bytes:
            check_strings(result, self.limits.max_string_bytes)
        if size > self.limits.max_result_bytes:
            raise workflow_error(
                RESOURCE_LIMIT_ERROR,
                f"Result size limit exceeded: the execution returned {size} bytes "
                f"(limit {self.limits.max_result_bytes} bytes)",
            )

    def count_step(self, routine: str, step: str) -> None:
        if self.runtime.cancelled.is_set():
            raise ExecutionCancelled
        with self._steps_lock:
            self.steps += 1
            count = self.steps
            self.current = (routine, step)
        if self.execution is not None:
            self.execution.steps = count
            self.execution.current_step = (routine, step)
        if count > self.limits.max_steps:
            raise workflow_error(
                RESOURCE_LIMIT_ERROR,
                f"Maximum number of steps exceeded: the execution ran more than "
                f"{self.limits.max_steps} steps",
            )

    # --- calls ---------------------------------------------------------------------------

    def call_subworkflow(self, name: str, args: Mapping[str, Any], caller: Scope | None) -> Any:
        sub = self.definition.subworkflows[name]
        depth = (caller.call_depth if caller is not None else 0) + 1
        if depth > self.limits.max_call_stack_depth:
            raise workflow_error(
                RECURSION_ERROR,
                f"Maximum call stack depth of {self.limits.max_call_stack_depth} exceeded "
                f"calling '{name}'",
            )
        scope = Scope(
            self,
            call_depth=depth,
            routine=name,
            parallel_depth=caller.parallel_depth if caller is not None else 0,
        )
        try:
            for param in sub.params:
                if param.name in args:
                    scope.set_local(param.name, args[param.name])
                elif param.has_default:
                    scope.set_local(param.name, param.default)
                else:
                    raise workflow_error(
                        TYPE_ERROR, f"subworkflow '{name}': missing argument '{param.name}'"
                    )
            unknown = sorted(set(args) - {p.name for p in sub.params})
            if unknown:
                raise workflow_error(
                    TYPE_ERROR, f"subworkflow '{name}': unexpected argument(s) {unknown}"
                )
            flow = self.run_block(sub.body, scope)
        finally:
            scope.release()
        return flow.value if isinstance(flow, Return) else None

    def call_positional(self, function: str, args: list[Any], scope: Scope) -> Any:
        """A function call from an expression: `name(a, b)`."""
        sub = self.definition.subworkflows.get(function)
        if sub is not None:
            if len(args) > len(sub.params):
                raise workflow_error(
                    TYPE_ERROR,
                    f"subworkflow '{function}' takes {len(sub.params)} arguments, got {len(args)}",
                )
            named = {p.name: a for p, a in zip(sub.params, args, strict=False)}
            return self.call_subworkflow(function, named, scope)
        library_fn = self.library[function]
        return library_fn.impl(self.runtime, *library_fn.bind_positional(args))

    def call_named(self, function: str, args: dict[str, Any], scope: Scope) -> Any:
        """A `call` step: named args."""
        if function in self.definition.subworkflows:
            return self.call_subworkflow(function, args, scope)
        library_fn = self.library[function]
        return library_fn.impl(self.runtime, *library_fn.bind_named(args))

    # --- blocks and steps ----------------------------------------------------------------

    def run_block(self, block: Block, scope: Scope) -> Flow:
        steps, index = block.steps, block.index
        position, count = 0, len(steps)
        dispatch = self._dispatch
        routine = scope.routine
        while position < count:
            step = steps[position]
            self.count_step(routine, step.name)
            flow = dispatch[type(step)](step, scope)
            if flow is None:
                position += 1
                continue
            if isinstance(flow, Jump):
                target = index.get(flow.target)
                if target is not None:
                    position = target
                    continue
            return flow
        return None

    def _assign(self, step: AssignStep, scope: Scope) -> Flow:
        if not scope.in_parallel:
            for target, value in step.assignments:
                self.assign(scope, target, value.evaluate(scope))
        elif self._is_atomic(step):
            # In parallel branches an assign step is atomic, so `n: ${n + 1}` on a shared
            # variable never loses an update.
            with self.assign_lock:
                for target, value in step.assignments:
                    self.assign(scope, target, value.evaluate(scope))
        else:
            # Values calling subworkflows may block (HTTP) or start parallel steps: evaluate
            # them unlocked, then store under the lock.
            for target, value in step.assignments:
                result = value.evaluate(scope)
                with self.assign_lock:
                    self.assign(scope, target, result)
        return flow_for(step.next)

    def _is_atomic(self, step: AssignStep) -> bool:
        atomic = self._atomic.get(id(step))
        if atomic is None:
            subworkflows = self.definition.subworkflows
            atomic = not any(
                name in subworkflows for _, value in step.assignments for name in value.functions
            )
            self._atomic[id(step)] = atomic
        return atomic

    def assign(self, scope: Scope, target: Target, value: Any) -> None:
        if not target.path:
            scope.set(target.root, value)
            return
        owner = scope.owner_of(target.root)
        current = scope.lookup(target.root)
        owner.set_local(target.root, _with_path(current, target.path, value, scope))

    def _call(self, step: CallStep, scope: Scope) -> Flow:
        args = {name: value.evaluate(scope) for name, value in step.args.items()}
        result = self.call_named(step.function, args, scope)
        if step.result is not None:
            with self.assign_lock if scope.in_parallel else nullcontext():
                scope.set(step.result, result)
        return flow_for(step.next)

    def _switch(self, step: SwitchStep, scope: Scope) -> Flow:
        for cond in step.conditions:
            matched = cond.condition.evaluate(scope)
            if not isinstance(matched, bool):
                raise workflow_error(
                    TYPE_ERROR, f"switch condition must be a boolean, got {type_name(matched)}"
                )
            if not matched:
                continue
            if cond.assign is not None:
                self._assign(cond.assign, scope)
            if cond.raises is not None:
                raise WorkflowError(cond.raises.evaluate(scope))
            if cond.has_return:
                return Return(None if cond.returns is None else cond.returns.evaluate(scope))
            if cond.steps is not None:
                flow = self.run_block(cond.steps, scope)
                if flow is not None:
                    return flow
            return flow_for(cond.next or step.next)
        return flow_for(step.next)

    def _for(self, step: ForStep, scope: Scope) -> Flow:
        loop = step.loop
        loop_scope = Scope(self, scope)
        try:
            for position, item in enumerate(iteration_values(loop, scope)):
                loop_scope.set_local(loop.value, item)
                if loop.index is not None:
                    loop_scope.set_local(loop.index, position)
                flow = self.run_block(loop.body, loop_scope)
                if flow is BREAK:
                    break
                if flow is None or flow is CONTINUE:
                    continue
                return flow
        finally:
            loop_scope.release()
        return flow_for(step.next)

    def _parallel(self, step: ParallelStep, scope: Scope) -> Flow:
        from .parallel import run_parallel

        run_parallel(self, step, scope)
        return flow_for(step.next)

    def _raise(self, step: RaiseStep, scope: Scope) -> Flow:
        raise WorkflowError(step.value.evaluate(scope))

    def _return(self, step: ReturnStep, scope: Scope) -> Flow:
        return Return(None if step.value is None else step.value.evaluate(scope))

    def _block_step(self, step: BlockStep, scope: Scope) -> Flow:
        flow = self.run_block(step.body, scope)
        return flow if flow is not None else flow_for(step.next)

    def _try(self, step: TryStep, scope: Scope) -> Flow:
        attempt = 0
        policy = None
        while True:
            try:
                flow = self.run_block(step.body, scope)
                return flow if flow is not None else flow_for(step.next)
            except WorkflowError as err:
                error = err
            if step.retry is not None:
                policy = policy or resolve_policy(step.retry, scope)
                if attempt < policy.max_retries and self._should_retry(
                    policy.predicate, error.payload, scope
                ):
                    attempt += 1
                    self.runtime.sleep(policy.delay(attempt))
                    self.count_step(scope.routine, step.name)  # each retry attempt is billed
                    continue
            if step.except_body is None:
                raise error
            if step.except_as is not None:
                scope.set(step.except_as, error.payload)
            flow = self.run_block(step.except_body, scope)
            return flow if flow is not None else flow_for(step.next)

    def _should_retry(self, predicate: str, payload: Any, scope: Scope) -> bool:
        decision = self.call_positional(predicate, [payload], scope)
        if not isinstance(decision, bool):
            raise workflow_error(
                TYPE_ERROR,
                f"retry predicate '{predicate}' must return a boolean, got {type_name(decision)}",
            )
        return decision


def _with_path(container: Any, path: tuple[PathSegment, ...], value: Any, scope: Scope) -> Any:
    """A copy of `container` with `value` stored at `path` (containers on the path copied)."""
    segment = path[0]
    key: Any = segment.key if segment.key is not None else segment.index.evaluate(scope)  # type: ignore[union-attr]
    rest = path[1:]
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise workflow_error(TYPE_ERROR, f"map keys are strings, got {type_name(key)}")
        updated = dict(container)
        if rest:
            child = container.get(key)
            if child is None and key not in container:
                child = {}  # assigning a.b.c creates the missing intermediate maps
            updated[key] = _with_path(child, rest, value, scope)
        else:
            updated[key] = value
        return updated
    if isinstance(container, list):
        if type(key) is not int:
            raise workflow_error(TYPE_ERROR, f"list indices are integers, got {type_name(key)}")
        if key < 0 or key >= len(container):
            raise workflow_error(
                INDEX_ERROR, f"list index {key} out of range (list length {len(container)})"
            )
        updated_list = list(container)
        updated_list[key] = _with_path(container[key], rest, value, scope) if rest else value
        return updated_list
    if container is None:
        raise workflow_error(KEY_ERROR, f"cannot assign '{key}' of null")
    raise workflow_error(TYPE_ERROR, f"cannot assign '{key}' inside a {type_name(container)}")
