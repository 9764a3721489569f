"""`parallel` steps: branches or a `for` loop run on worker threads.

At most `concurrency_limit` branches/iterations run at once (capped by the execution limit
of 20): exactly that many worker threads pull work from a queue, so the limit holds by
construction. With `exception_policy: continueAll` (the only policy) every branch runs to
its end; unhandled branch errors are then raised together as one UnhandledBranchError.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import (
    PARALLEL_NESTING_ERROR,
    TYPE_ERROR,
    UNHANDLED_BRANCH_ERROR,
    WorkflowError,
    workflow_error,
)
from .model import Block, ParallelStep
from .scope import Scope
from .values import type_name

if TYPE_CHECKING:
    from .interpreter import Interpreter

Task = tuple[str, Callable[[], None]]


def run_parallel(interp: Interpreter, step: ParallelStep, scope: Scope) -> None:
    from .interpreter import BREAK
    from .iteration import iteration_values

    depth = scope.parallel_depth + 1
    if depth > interp.limits.max_parallel_depth:
        raise workflow_error(
            PARALLEL_NESTING_ERROR,
            f"parallel step '{step.name}' is nested {depth} deep; the maximum depth is "
            f"{interp.limits.max_parallel_depth}",
        )
    limit = _concurrency(interp, step, scope)
    shared = frozenset(step.shared)
    for name in step.shared:
        scope.lookup(name)  # a shared variable must exist before the parallel step
    tasks: list[Task] = []

    def branch_task(body: Block, setup: Callable[[Scope], None]) -> Callable[[], None]:
        def run() -> None:
            branch_scope = Scope(interp, scope, shared=shared, parallel_depth=depth)
            try:
                setup(branch_scope)
                flow = interp.run_block(body, branch_scope)
                if flow is BREAK:  # rejected at load time; kept as a guard
                    raise workflow_error(TYPE_ERROR, "break is not allowed in a parallel for")
            finally:
                branch_scope.release()

        return run

    if step.branches is not None:
        for branch_name, body in step.branches:
            tasks.append((branch_name, branch_task(body, lambda s: None)))
    else:
        loop = step.loop
        assert loop is not None
        for position, item in enumerate(iteration_values(loop, scope)):

            def setup(s: Scope, item: Any = item, position: int = position) -> None:
                s.set_local(loop.value, item)
                if loop.index is not None:
                    s.set_local(loop.index, position)

            tasks.append((str(position), branch_task(loop.body, setup)))
    errors = _run_tasks(tasks, limit)
    if errors:
        listed = errors[: interp.limits.max_unhandled_branch_errors]
        raise workflow_error(
            UNHANDLED_BRANCH_ERROR,
            "UnhandledBranchError: One or more branches or iterations encountered an "
            "unhandled runtime error",
            branches=[{"id": branch_id, "error": payload} for branch_id, payload in listed],
            truncated=len(listed) < len(errors),
        )


def _concurrency(interp: Interpreter, step: ParallelStep, scope: Scope) -> int:
    ceiling = interp.limits.max_concurrency
    if step.concurrency_limit is None:
        return ceiling
    value = step.concurrency_limit.evaluate(scope)
    if type(value) is not int or value < 1:
        raise workflow_error(
            TYPE_ERROR,
            f"concurrency_limit must be a positive integer, got {value!r} ({type_name(value)})",
        )
    return min(value, ceiling)


def _run_tasks(tasks: list[Task], limit: int) -> list[tuple[str, Any]]:
    """Run tasks on `min(limit, len(tasks))` threads; return (id, error payload) pairs."""
    pending: queue.SimpleQueue[Task] = queue.SimpleQueue()
    for task in tasks:
        pending.put(task)
    errors: list[tuple[int, str, Any]] = []
    fatal: list[BaseException] = []
    order = {branch_id: i for i, (branch_id, _) in enumerate(tasks)}
    lock = threading.Lock()

    def worker() -> None:
        while not fatal:
            try:
                branch_id, run = pending.get_nowait()
            except queue.Empty:
                return
            try:
                run()
            except WorkflowError as err:
                with lock:
                    errors.append((order[branch_id], branch_id, err.payload))
            except BaseException as err:  # cancellation or an engine bug: stop everything
                with lock:
                    fatal.append(err)

    threads = [
        threading.Thread(target=worker, name=f"workflows-branch-{i}", daemon=True)
        for i in range(min(limit, len(tasks)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if fatal:
        raise fatal[0]
    return [(branch_id, payload) for _, branch_id, payload in sorted(errors)]
