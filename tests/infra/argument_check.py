"""Check the arguments a program passes to pulumi_gcp resources against the pinned pulumi_gcp.

Each resource class `R` of pulumi_gcp has an `RArgs` input class whose `__init__` declares every
argument, with type annotations that name nested input classes (`ServiceTemplateArgs`, ...). A
nested dict the program writes is checked key by key against the nested class's `__init__`, at
any depth, through lists and maps: an unknown key, a missing required key, or a value of the
wrong shape (a dict where a list or a string is expected) is reported with its path.

The Python SDK would not catch a misspelled nested key: it sends the dict on as given and the
provider drops or rejects it only at `pulumi up`. Values that are Outputs are not looked into.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ForwardRef

import pulumi

_SCALARS: dict[type, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
}


def check_resource(cls: type, props: Mapping[str, Any]) -> list[str]:
    """Problems with the props passed to pulumi_gcp resource class `cls` (empty if none)."""
    module = sys.modules[cls.__module__]
    args_cls = getattr(module, f"{cls.__name__}Args", None)
    if args_cls is None:
        return [f"{cls.__module__}.{cls.__name__}: no {cls.__name__}Args input class"]
    given = {k: v for k, v in props.items() if v is not None}
    return _check_input_class(args_cls, given, cls.__name__, module.__dict__)


def _check_input_class(
    args_cls: type, value: Mapping[str, Any], path: str, namespace: Mapping[str, Any]
) -> list[str]:
    params = {
        name: p
        for name, p in inspect.signature(args_cls.__init__).parameters.items()
        if name not in ("self", "__self__")
    }
    problems = [
        f"{path}.{key}: unknown argument of {args_cls.__name__} "
        f"(expected one of: {', '.join(sorted(params))})"
        for key in value
        if key not in params
    ]
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and value.get(name) is None:
            problems.append(f"{path}.{name}: required by {args_cls.__name__}, missing")
    for key, item in value.items():
        if key in params and item is not None:
            problems += _check_value(item, params[key].annotation, f"{path}.{key}", namespace)
    return problems


def _candidates(annotation: Any, namespace: Mapping[str, Any]) -> list[Any]:
    """The concrete types an annotation admits, with Input/Optional/Union unwrapped."""
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        name = annotation.__forward_arg__
        # Input[T] is Union[T, Awaitable[T], Output[T]]: the last two arrive as unresolvable
        # forward refs, and stand for values this check does not look into.
        return _candidates(namespace[name], namespace) if name in namespace else []
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return [c for arg in typing.get_args(annotation) for c in _candidates(arg, namespace)]
    return [annotation]


def _check_value(value: Any, annotation: Any, path: str, namespace: Mapping[str, Any]) -> list[str]:
    if isinstance(value, pulumi.Output | pulumi.Resource | pulumi.Asset | pulumi.Archive):
        return []
    candidates = _candidates(annotation, namespace)
    if isinstance(value, Mapping):
        for cand in candidates:
            if (inspect.isclass(cand) and hasattr(cand, "_translate_property")) or (
                inspect.isclass(cand) and cand.__name__.endswith("Args")
            ):
                return _check_input_class(cand, value, path, namespace)
        for cand in candidates:
            if typing.get_origin(cand) in (Mapping, dict, typing.Mapping):
                item_type = typing.get_args(cand)[1]
                return [
                    p
                    for k, v in value.items()
                    for p in _check_value(v, item_type, f"{path}[{k!r}]", namespace)
                ]
        return [f"{path}: a mapping, expected {_describe(candidates)}"]
    if isinstance(value, list | tuple):
        for cand in candidates:
            if typing.get_origin(cand) in (Sequence, list, typing.Sequence):
                item_type = typing.get_args(cand)[0]
                return [
                    p
                    for i, v in enumerate(value)
                    for p in _check_value(v, item_type, f"{path}[{i}]", namespace)
                ]
        return [f"{path}: a list, expected {_describe(candidates)}"]
    for cand in candidates:
        accepted = _SCALARS.get(cand)
        if accepted and isinstance(value, accepted):
            if cand is int and isinstance(value, bool):
                continue
            return []
        if cand is Any or cand is typing.Any:
            return []
    return [f"{path}: {value!r} ({type(value).__name__}), expected {_describe(candidates)}"]


def _describe(candidates: list[Any]) -> str:
    names = []
    for c in candidates:
        name = getattr(c, "__name__", None) or str(c)
        if name not in ("Awaitable", "Output", "NoneType") and "Awaitable" not in name:
            names.append(name)
    return " or ".join(dict.fromkeys(names)) or "something else"
