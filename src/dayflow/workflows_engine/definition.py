"""Parse a workflow source (YAML or JSON) into model objects, rejecting what Workflows would
reject at deploy time and what this engine does not implement, naming the step and feature.
"""

from __future__ import annotations

from typing import Any

import yaml

from . import expr_parser as ast
from .errors import UnsupportedSyntaxError, WorkflowDefinitionError
from .expressions import (
    CompiledValue,
    as_expression_text,
    compile_expression,
    compile_node,
    compile_value,
)
from .limits import Limits
from .model import (
    AssignStep,
    Block,
    BlockStep,
    CallStep,
    Condition,
    ForLoop,
    ForStep,
    NextStep,
    ParallelStep,
    Param,
    PathSegment,
    RaiseStep,
    RetrySpec,
    ReturnStep,
    Step,
    Subworkflow,
    SwitchStep,
    Target,
    TryStep,
    WorkflowDefinition,
)
from .validation import validate_definition

BUILTIN_RETRY_POLICIES = ("http.default_retry", "http.default_retry_non_idempotent")
_STEP_KINDS = ("assign", "call", "switch", "for", "parallel", "raise", "return", "try", "steps")
_ALLOWED_KEYS = {
    "assign": {"assign", "next"},
    "call": {"call", "args", "result", "next"},
    "switch": {"switch", "next"},
    "for": {"for", "next"},
    "parallel": {"parallel", "next"},
    "raise": {"raise"},
    "return": {"return"},
    "try": {"try", "retry", "except", "next"},
    "steps": {"steps", "next"},
    "next": {"next"},
}
_UNSUPPORTED_KEYS = {
    "await": "callbacks",
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates and times as strings (Workflows has no date type)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_definition(
    workflow_id: str, source: str, limits: Limits | None = None
) -> WorkflowDefinition:
    """Parse and validate a workflow source.

    Raises:
        WorkflowDefinitionError: the source is invalid (message names step and problem).
        UnsupportedSyntaxError: valid Workflows syntax that this engine does not implement.
    """
    try:
        document = yaml.load(source, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise WorkflowDefinitionError(f"workflow '{workflow_id}': invalid YAML: {err}") from err
    parser = _Parser(workflow_id)
    if isinstance(document, list):
        subworkflows = {"main": Subworkflow("main", [], parser.block(document, "main"))}
    elif isinstance(document, dict):
        if "main" not in document:
            raise WorkflowDefinitionError(f"workflow '{workflow_id}': no 'main' subworkflow")
        subworkflows = {
            str(name): parser.subworkflow(str(name), body) for name, body in document.items()
        }
    else:
        raise WorkflowDefinitionError(
            f"workflow '{workflow_id}': expected a list of steps or a map of subworkflows"
        )
    definition = WorkflowDefinition(workflow_id, subworkflows, source)
    validate_definition(definition, limits or Limits())
    return definition


class _Parser:
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.routine = "main"

    def error(self, step: str | None, message: str) -> WorkflowDefinitionError:
        where = f"workflow '{self.workflow_id}', subworkflow '{self.routine}'"
        where += f", step '{step}'" if step else ""
        return WorkflowDefinitionError(f"{where}: {message}")

    def unsupported(self, step: str, feature: str) -> UnsupportedSyntaxError:
        where = f"workflow '{self.workflow_id}', subworkflow '{self.routine}', step '{step}'"
        return UnsupportedSyntaxError(f"{where}: {feature} is not supported by the local engine")

    def value(self, step: str, raw: Any) -> CompiledValue:
        try:
            return compile_value(raw)
        except WorkflowDefinitionError as err:
            raise self.error(step, str(err)) from err

    # --- structure ---------------------------------------------------------------------

    def subworkflow(self, name: str, body: Any) -> Subworkflow:
        self.routine = name
        if not isinstance(body, dict) or "steps" not in body:
            raise self.error(None, "a subworkflow is a map with 'steps' (and optional 'params')")
        unknown = set(body) - {"params", "steps"}
        if unknown:
            raise self.error(None, f"unknown key(s) {sorted(unknown)} (expected params, steps)")
        params: list[Param] = []
        for raw in body.get("params") or []:
            if isinstance(raw, str):
                params.append(Param(raw, has_default=False))
            elif isinstance(raw, dict) and len(raw) == 1:
                ((param, default),) = raw.items()
                params.append(Param(str(param), has_default=True, default=default))
            else:
                raise self.error(
                    None, f"bad parameter {raw!r} (expected NAME or {{NAME: DEFAULT}})"
                )
        return Subworkflow(name, params, self.block(body["steps"], name))

    def block(self, raw: Any, owner: str) -> Block:
        if not isinstance(raw, list) or not raw:
            raise self.error(owner, "'steps' must be a non-empty list of steps")
        steps: list[Step] = []
        index: dict[str, int] = {}
        for entry in raw:
            if not isinstance(entry, dict) or len(entry) != 1:
                raise self.error(owner, f"each step is a one-key map {{NAME: BODY}}, got {entry!r}")
            ((name, body),) = entry.items()
            step = self.step(str(name), body)
            index[step.name] = len(steps)
            steps.append(step)
        return Block(steps, index)

    def step(self, name: str, body: Any) -> Step:
        if not isinstance(body, dict) or not body:
            raise self.error(name, "a step body must be a non-empty map")
        for key, feature in _UNSUPPORTED_KEYS.items():
            if key in body:
                raise self.unsupported(name, feature)
        kinds = [k for k in _STEP_KINDS if k in body]
        if len(kinds) > 1:
            raise self.error(name, f"a step can hold only one of {kinds}")
        kind = kinds[0] if kinds else "next"
        unknown = set(body) - _ALLOWED_KEYS[kind]
        if unknown:
            raise self.error(
                name,
                f"unknown or misplaced key(s) {sorted(unknown)} in a '{kind}' step"
                f" (allowed: {sorted(_ALLOWED_KEYS[kind])})",
            )
        next_ = body.get("next")
        if next_ is not None and not isinstance(next_, str):
            raise self.error(name, f"next must be a step name, got {next_!r}")
        if kind == "assign":
            return self.assign(name, body["assign"], next_)
        if kind == "call":
            return self.call(name, body, next_)
        if kind == "switch":
            return SwitchStep(name, self.switch(name, body["switch"]), next=next_)
        if kind == "for":
            return ForStep(name, self.for_loop(name, body["for"]), next=next_)
        if kind == "parallel":
            return self.parallel(name, body["parallel"], next_)
        if kind == "raise":
            return RaiseStep(name, self.value(name, body["raise"]))
        if kind == "return":
            raw = body["return"]
            return ReturnStep(name, None if raw is None else self.value(name, raw))
        if kind == "try":
            return self.try_step(name, body, next_)
        if kind == "steps":
            return BlockStep(name, self.block(body["steps"], name), next=next_)
        if next_ is None:
            raise self.error(name, "empty step")
        return NextStep(name, next=next_)

    # --- step kinds --------------------------------------------------------------------

    def target(self, step: str, text: str) -> Target:
        try:
            node = ast.parse(text)
        except WorkflowDefinitionError as err:
            raise self.error(step, f"bad assignment target '{text}': {err}") from err
        path: list[PathSegment] = []
        while not isinstance(node, ast.Var):
            if isinstance(node, ast.Attr):
                path.append(PathSegment(node.name, None))
                node = node.target
            elif isinstance(node, ast.Index):
                path.append(PathSegment(None, compile_node(node.index)))
                node = node.target
            else:
                raise self.error(step, f"cannot assign to '{text}'")
        return Target(node.name, tuple(reversed(path)), text)

    def assign(self, name: str, raw: Any, next_: str | None) -> AssignStep:
        if not isinstance(raw, list) or not raw:
            raise self.error(name, "'assign' must be a non-empty list of {NAME: VALUE} maps")
        assignments: list[tuple[Target, CompiledValue]] = []
        for entry in raw:
            if not isinstance(entry, dict) or len(entry) != 1:
                raise self.error(name, f"each assignment is a one-key map, got {entry!r}")
            ((target, value),) = entry.items()
            assignments.append((self.target(name, str(target)), self.value(name, value)))
        return AssignStep(name, assignments, next=next_)

    def call(self, name: str, body: dict[str, Any], next_: str | None) -> CallStep:
        function = body["call"]
        if not isinstance(function, str) or as_expression_text(function) is not None:
            raise self.error(name, f"'call' must name a function, got {function!r}")
        raw_args = body.get("args") or {}
        if not isinstance(raw_args, dict):
            raise self.error(name, "'args' must be a map")
        result = body.get("result")
        if result is not None and not isinstance(result, str):
            raise self.error(name, "'result' must be a variable name")
        args = {str(k): self.value(name, v) for k, v in raw_args.items()}
        return CallStep(name, function, args, result, next=next_)

    def switch(self, name: str, raw: Any) -> list[Condition]:
        if not isinstance(raw, list) or not raw:
            raise self.error(name, "'switch' must be a non-empty list of conditions")
        conditions: list[Condition] = []
        allowed = {"condition", "next", "steps", "assign", "return", "raise"}
        for entry in raw:
            if not isinstance(entry, dict) or "condition" not in entry:
                raise self.error(name, f"each switch entry needs a 'condition', got {entry!r}")
            unknown = set(entry) - allowed
            if unknown:
                raise self.error(name, f"unknown key(s) {sorted(unknown)} in a switch condition")
            actions = [k for k in ("steps", "return", "raise") if k in entry]
            if len(actions) > 1:
                raise self.error(name, f"a switch condition can hold only one of {actions}")
            cond = Condition(self.value(name, entry["condition"]), next=entry.get("next"))
            if "steps" in entry:
                cond.steps = self.block(entry["steps"], name)
            if "assign" in entry:
                cond.assign = self.assign(name, entry["assign"], None)
            if "return" in entry:
                cond.has_return = True
                ret = entry["return"]
                cond.returns = None if ret is None else self.value(name, ret)
            if "raise" in entry:
                cond.raises = self.value(name, entry["raise"])
            conditions.append(cond)
        return conditions

    def for_loop(self, name: str, raw: Any) -> ForLoop:
        if not isinstance(raw, dict):
            raise self.error(name, "'for' must be a map")
        unknown = set(raw) - {"value", "index", "in", "range", "steps"}
        if unknown:
            raise self.error(name, f"unknown key(s) {sorted(unknown)} in 'for'")
        if "value" not in raw or "steps" not in raw:
            raise self.error(name, "'for' needs 'value' and 'steps'")
        if ("in" in raw) == ("range" in raw):
            raise self.error(name, "'for' needs exactly one of 'in' and 'range'")
        bounds: tuple[CompiledValue, CompiledValue] | CompiledValue | None = None
        if "range" in raw:
            rng = raw["range"]
            if as_expression_text(rng) is not None:
                # `range: ${[a, b]}` or any expression yielding a two-element list
                # (reference/syntax/iteration: "range": "${[BEGIN_EXPRESSION, END_EXPRESSION]}").
                bounds = self.value(name, rng)
            elif not isinstance(rng, list) or len(rng) != 2:
                raise self.error(
                    name, f"'range' must be [START, END] or an expression, got {rng!r}"
                )
            else:
                bounds = (self.value(name, rng[0]), self.value(name, rng[1]))
        items = self.value(name, raw["in"]) if "in" in raw else None
        index = raw.get("index")
        return ForLoop(
            str(raw["value"]),
            None if index is None else str(index),
            items,
            bounds,
            self.block(raw["steps"], name),
        )

    def parallel(self, name: str, raw: Any, next_: str | None) -> ParallelStep:
        if not isinstance(raw, dict):
            raise self.error(name, "'parallel' must be a map")
        unknown = set(raw) - {"shared", "concurrency_limit", "exception_policy", "branches", "for"}
        if unknown:
            raise self.error(name, f"unknown key(s) {sorted(unknown)} in 'parallel'")
        policy = raw.get("exception_policy", "continueAll")
        if policy != "continueAll":
            raise self.error(name, f"exception_policy {policy!r} (only continueAll exists)")
        if ("branches" in raw) == ("for" in raw):
            raise self.error(name, "'parallel' needs exactly one of 'branches' and 'for'")
        shared = raw.get("shared") or []
        if not isinstance(shared, list) or not all(isinstance(s, str) for s in shared):
            raise self.error(name, "'shared' must be a list of variable names")
        limit = raw.get("concurrency_limit")
        branches = None
        if "branches" in raw:
            branches = []
            for entry in raw["branches"] or []:
                if not isinstance(entry, dict) or len(entry) != 1:
                    raise self.error(name, "each branch is a one-key map {NAME: {steps: ...}}")
                ((branch, body),) = entry.items()
                if not isinstance(body, dict) or set(body) != {"steps"}:
                    raise self.error(name, f"branch '{branch}' must hold only 'steps'")
                branches.append((str(branch), self.block(body["steps"], str(branch))))
        loop = self.for_loop(name, raw["for"]) if "for" in raw else None
        return ParallelStep(
            name,
            tuple(shared),
            None if limit is None else self.value(name, limit),
            branches,
            loop,
            depth=0,
            next=next_,
        )

    def try_step(self, name: str, body: dict[str, Any], next_: str | None) -> TryStep:
        raw_try = body["try"]
        if isinstance(raw_try, dict) and set(raw_try) == {"steps"}:
            block = self.block(raw_try["steps"], name)
        else:
            inner = self.step(name, raw_try)
            block = Block([inner], {name: 0})
        retry = self.retry(name, body["retry"]) if "retry" in body else None
        except_as, except_body = None, None
        if "except" in body:
            raw_except = body["except"]
            if not isinstance(raw_except, dict) or "steps" not in raw_except:
                raise self.error(name, "'except' must be a map with 'steps' (and optional 'as')")
            unknown = set(raw_except) - {"as", "steps"}
            if unknown:
                raise self.error(name, f"unknown key(s) {sorted(unknown)} in 'except'")
            except_as = raw_except.get("as")
            except_body = self.block(raw_except["steps"], name)
        if retry is None and except_body is None:
            raise self.error(name, "'try' needs 'retry' or 'except'")
        return TryStep(name, block, retry, except_as, except_body, next=next_)

    def retry(self, name: str, raw: Any) -> RetrySpec:
        text = as_expression_text(raw)
        if text is not None:
            policy = compile_expression(text).name
            if policy not in BUILTIN_RETRY_POLICIES:
                raise self.error(
                    name, f"retry policy {raw!r} (expected one of {BUILTIN_RETRY_POLICIES})"
                )
            return RetrySpec(policy, None, None, None, None, None)
        if not isinstance(raw, dict):
            raise self.error(name, "'retry' must be a policy expression or a map")
        unknown = set(raw) - {"predicate", "max_retries", "backoff"}
        if unknown:
            raise self.error(name, f"unknown key(s) {sorted(unknown)} in 'retry'")
        if "predicate" not in raw or "max_retries" not in raw:
            raise self.error(name, "'retry' needs 'predicate' and 'max_retries'")
        backoff = raw.get("backoff") or {}
        if not isinstance(backoff, dict) or set(backoff) - {
            "initial_delay",
            "max_delay",
            "multiplier",
        }:
            raise self.error(name, "'backoff' takes initial_delay, max_delay and multiplier")
        predicate_text = as_expression_text(raw["predicate"])
        predicate = None if predicate_text is None else compile_expression(predicate_text).name
        if predicate is None:
            raise self.error(
                name, f"retry predicate must be ${{FUNCTION}}, got {raw['predicate']!r}"
            )

        def optional(key: str) -> CompiledValue | None:
            return self.value(name, backoff[key]) if key in backoff else None

        return RetrySpec(
            None,
            predicate,
            self.value(name, raw["max_retries"]),
            optional("initial_delay"),
            optional("max_delay"),
            optional("multiplier"),
        )
