"""Variable scopes and variable-memory accounting.

Scoping follows Workflows:
* each subworkflow call has its own root scope (params are its first variables);
* a `for` loop opens a child scope: assigning a variable that already exists outside
  updates it, a new variable lives only inside the loop;
* a parallel branch or iteration opens a *boundary* scope: it reads every outer variable,
  writes outer variables only when they are listed in `shared`, and keeps new ones local.

Memory: the JSON-serialized size of every live variable is tracked incrementally (the
size of the assigned root variable is recomputed on each assignment, sizes of released
scopes are subtracted), so the 512 KB check costs one size computation per assignment.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .errors import KEY_ERROR, RESOURCE_LIMIT_ERROR, workflow_error
from .values import json_size

if TYPE_CHECKING:
    from .interpreter import Interpreter


def check_strings(value: Any, limit: int) -> None:
    """Raise ResourceLimitError when a string inside `value` exceeds `limit` UTF-8 bytes.

    Only called when the value's JSON size exceeds the limit (no string can otherwise).
    """
    if isinstance(value, str):
        size = len(value.encode("utf-8"))
        if size > limit:
            raise workflow_error(
                RESOURCE_LIMIT_ERROR,
                f"String size limit exceeded: a string of {size} bytes (limit {limit} bytes)",
            )
    elif isinstance(value, list):
        for item in value:
            check_strings(item, limit)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_strings(key, limit)
            check_strings(item, limit)


class MemoryMeter:
    """Running total of variable bytes for one execution (shared by its threads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.peak = 0
        self._lock = threading.Lock()

    def add(self, delta: int) -> None:
        with self._lock:
            self.total += delta
            self.peak = max(self.peak, self.total)
            over = delta > 0 and self.total > self.limit
            total = self.total
        if over:
            raise workflow_error(
                RESOURCE_LIMIT_ERROR,
                f"Memory usage limit exceeded: variables use {total} bytes "
                f"(limit {self.limit} bytes)",
            )


class Scope:
    """A set of variables plus what expressions evaluated in it need (EvalContext)."""

    __slots__ = (
        "call_depth",
        "in_parallel",
        "interp",
        "is_boundary",
        "parallel_depth",
        "parent",
        "routine",
        "shared",
        "sizes",
        "vars",
    )

    def __init__(
        self,
        interp: Interpreter,
        parent: Scope | None = None,
        *,
        call_depth: int = 0,
        routine: str = "main",
        shared: frozenset[str] | None = None,
        parallel_depth: int | None = None,
    ) -> None:
        self.interp: Interpreter = interp
        self.parent: Scope | None = parent
        self.vars: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        self.is_boundary = shared is not None
        self.shared = shared or frozenset()
        inherited_depth: int = parent.parallel_depth if parent is not None else 0
        self.parallel_depth: int = inherited_depth if parallel_depth is None else parallel_depth
        self.call_depth: int = parent.call_depth if parent is not None else call_depth
        self.routine: str = parent.routine if parent is not None else routine
        self.in_parallel = self.parallel_depth > 0

    # --- EvalContext -----------------------------------------------------------------

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            variables = scope.vars
            if name in variables:
                return variables[name]
            scope = scope.parent
        raise workflow_error(KEY_ERROR, f"variable '{name}' is not defined")

    def call(self, function: str, args: list[Any]) -> Any:
        return self.interp.call_positional(function, args, self)

    # --- assignment --------------------------------------------------------------------

    def owner_of(self, name: str) -> Scope:
        """The scope that an assignment to `name` writes into."""
        scope: Scope = self
        while True:
            if name in scope.vars:
                return scope
            parent = scope.parent
            if parent is None or (scope.is_boundary and name not in scope.shared):
                return self  # a new variable stays local to the innermost scope
            scope = parent

    def set(self, name: str, value: Any) -> None:
        self.owner_of(name).set_local(name, value)

    def set_local(self, name: str, value: Any) -> None:
        size = json_size(value)
        if size > self.interp.limits.max_string_bytes:
            check_strings(value, self.interp.limits.max_string_bytes)
        old = self.sizes.get(name, 0)
        self.vars[name] = value
        self.sizes[name] = size
        if size != old:
            self.interp.memory.add(size - old)

    def release(self) -> None:
        """Forget this scope's variables (end of a call, loop or branch)."""
        total = sum(self.sizes.values())
        self.vars.clear()
        self.sizes.clear()
        if total:
            self.interp.memory.add(-total)
