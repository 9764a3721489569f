"""Conformance: `json.encode_to_string` and `json.encode` options and errors.

Pages followed:
* https://cloud.google.com/workflows/docs/reference/stdlib/json/encode_to_string ("If
  indent is provided, it must be either a boolean, or a dictionary with two optional string
  attributes: prefix (defaulting to an empty string), and indent (defaulting to four
  spaces). Setting indent to true is equivalent to setting it to an empty dictionary.
  Setting indent to false is equivalent to not setting it." Each element begins on a new
  line with prefix, then one indent per nesting level. Raises ValueError "if the input
  contains types that cannot be JSON-encoded", e.g. bytes and callables.)
* https://cloud.google.com/workflows/docs/reference/stdlib/json/encode (the same, as bytes).
Docs silent: whether the first line carries the prefix (it does not begin on a new line,
so here it does not), and the error for an indent of another type (TypeError here).
"""

from __future__ import annotations

from typing import Any

import pytest

from dayflow.workflows_engine import WorkflowEngine

DATA = {"a": [1, {"b": None}]}
FOUR = '{\n    "a": [\n        1,\n        {\n            "b": null\n        }\n    ]\n}'


def _eval(engine: WorkflowEngine, expression: str, args: Any = None) -> Any:
    source = f"main:\n  params: [args]\n  steps:\n    - r:\n        return: '${{{expression}}}'\n"
    engine.deploy("json", source)
    return engine.run("json", args if args is not None else {"data": DATA})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("json.encode_to_string(args.data)", '{"a":[1,{"b":null}]}'),
        ("json.encode_to_string(args.data, false)", '{"a":[1,{"b":null}]}'),
        ("json.encode_to_string(args.data, true)", FOUR),
        ("json.encode_to_string(args.data, {})", FOUR),
        (
            'json.encode_to_string(args.data, {"prefix": "> ", "indent": "\\t"})',
            '{\n> \t"a": [\n> \t\t1,\n> \t\t{\n> \t\t\t"b": null\n> \t\t}\n> \t]\n> }',
        ),
        ('json.encode_to_string(args.data, {"indent": ""})', FOUR.replace("    ", "")),
        ('json.encode_to_string([], {"prefix": "#"})', "[]"),
    ],
)
def test_encode_to_string_indent_options(
    engine: WorkflowEngine, expression: str, expected: str
) -> None:
    # https://cloud.google.com/workflows/docs/reference/stdlib/json/encode_to_string
    execution = _eval(engine, expression)
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == expected


def test_encode_gives_the_same_text_as_utf8_bytes(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/stdlib/json/encode
    execution = _eval(
        engine,
        'text.decode(json.encode(args.data, {"indent": "  "})) == '
        'json.encode_to_string(args.data, {"indent": "  "}) and '
        'get_type(json.encode(args.data)) == "bytes"',
    )
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value is True


def test_indent_options_work_as_named_args_of_a_call_step(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/stdlib/json/encode_to_string
    # (arguments `data` and `indent`).
    engine.deploy(
        "named",
        """
main:
  steps:
    - encode:
        call: json.encode_to_string
        args:
          data: [1]
          indent:
            prefix: "."
        result: text
    - done:
        return: ${text}
""",
    )
    execution = engine.run("named")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == "[\n.    1\n.]"


@pytest.mark.parametrize("function", ["json.encode_to_string", "json.encode"])
@pytest.mark.parametrize(
    "value",
    [
        'base64.decode("AAE=")',  # bytes
        '{"k": [text.encode("x")]}',  # bytes nested in a map
        "sys.now",  # a function (callable)
    ],
)
def test_values_json_cannot_hold_raise_value_error(
    engine: WorkflowEngine, function: str, value: str
) -> None:
    # https://cloud.google.com/workflows/docs/reference/stdlib/json/encode_to_string,
    # "Raised exceptions": ValueError.
    execution = _eval(engine, f"{function}({value})")
    assert execution.state == "FAILED"
    assert execution.error_tags == ["ValueError"]


@pytest.mark.parametrize("indent", ["2", '"  "', "[1]"])
def test_indent_of_another_type_raises_type_error(engine: WorkflowEngine, indent: str) -> None:
    # https://cloud.google.com/workflows/docs/reference/stdlib/json/encode_to_string: indent
    # "must be either a boolean, or a dictionary"; the docs name no error: TypeError.
    execution = _eval(engine, f"json.encode_to_string(args.data, {indent})")
    assert execution.state == "FAILED"
    assert execution.error_tags == ["TypeError"]


def test_indent_prefix_that_is_not_a_string_raises_type_error(engine: WorkflowEngine) -> None:
    # Same page: "two optional string attributes".
    execution = _eval(engine, 'json.encode_to_string(args.data, {"prefix": 1})')
    assert execution.error_tags == ["TypeError"]
