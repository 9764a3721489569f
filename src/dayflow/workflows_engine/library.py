"""Registry of standard library functions and connectors.

A function is registered once with its parameter names, so it can be called both from an
expression (positional arguments) and from a `call` step (named `args`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

from .errors import TYPE_ERROR, workflow_error
from .limits import Limits

if TYPE_CHECKING:
    from .connectors import ChildExecutions


class Runtime(Protocol):
    """What library functions may use from the running execution."""

    @property
    def limits(self) -> Limits: ...

    @property
    def http_client(self) -> httpx.Client: ...

    @property
    def env(self) -> Mapping[str, str]: ...

    @property
    def cancelled(self) -> threading.Event: ...

    @property
    def children(self) -> ChildExecutions:
        """Starts child executions (the workflowexecutions connector)."""
        ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...

    def log(self, severity: str, payload: Any) -> None: ...


_MISSING = object()


@dataclass(frozen=True)
class LibraryFunction:
    """One function of the standard library or a connector.

    Attributes:
        name: full dotted name, e.g. `text.split`.
        params: parameter names, in positional order.
        defaults: default values for the trailing optional parameters.
        impl: `impl(runtime, *args)`.
        blocking: blocking calls (HTTP, sleep, log, connectors) may only be used in a `call`
            step, never inside an expression.
    """

    name: str
    params: tuple[str, ...]
    defaults: tuple[Any, ...]
    impl: Callable[..., Any]
    blocking: bool

    @property
    def required(self) -> int:
        return len(self.params) - len(self.defaults)

    def bind_positional(self, args: list[Any]) -> list[Any]:
        """Complete positional args with defaults, checking the count."""
        if len(args) < self.required or len(args) > len(self.params):
            expected = (
                str(len(self.params))
                if not self.defaults
                else f"{self.required} to {len(self.params)}"
            )
            raise workflow_error(
                TYPE_ERROR, f"{self.name}() takes {expected} arguments, got {len(args)}"
            )
        return args + list(self.defaults[len(args) - self.required :])

    def bind_named(self, args: Mapping[str, Any]) -> list[Any]:
        """Positional args from a `call` step's `args` map, checking names."""
        unknown = sorted(set(args) - set(self.params))
        if unknown:
            raise workflow_error(
                TYPE_ERROR,
                f"{self.name}: unexpected argument(s) {', '.join(unknown)}"
                f" (expected: {', '.join(self.params) or 'none'})",
            )
        bound: list[Any] = []
        for position, param in enumerate(self.params):
            if param in args:
                bound.append(args[param])
            elif position >= self.required:
                bound.append(self.defaults[position - self.required])
            else:
                raise workflow_error(TYPE_ERROR, f"{self.name}: missing required argument {param}")
        return bound


LIBRARY: dict[str, LibraryFunction] = {}
F = TypeVar("F", bound=Callable[..., Any])


def register(
    name: str, *params: str, defaults: tuple[Any, ...] = (), blocking: bool = False
) -> Callable[[F], F]:
    """Decorator adding `impl(runtime, *args)` to the library under `name`."""

    def decorate(impl: F) -> F:
        if len(defaults) > len(params):
            raise ValueError(f"{name}: more defaults than parameters")
        LIBRARY[name] = LibraryFunction(name, tuple(params), defaults, impl, blocking)
        return impl

    return decorate


def register_value(name: str) -> None:
    """Register a name usable only as a value (e.g. a retry policy), not as a call."""
    LIBRARY[name] = LibraryFunction(name, (), (), _not_callable(name), blocking=True)


def _not_callable(name: str) -> Callable[..., Any]:
    def impl(runtime: Runtime, *args: Any) -> Any:
        raise workflow_error(TYPE_ERROR, f"{name} is not a function")

    return impl


def load_library() -> dict[str, LibraryFunction]:
    """Import every module that registers functions, then return the registry."""
    from . import connectors, stdlib_core, stdlib_http, stdlib_text  # noqa: F401

    return LIBRARY
