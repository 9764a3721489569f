"""Conformance: map literals (evaluated keys, string keys) and the order of `keys()`.

Pages followed:
* https://cloud.google.com/workflows/docs/reference/syntax/maps ("Map definition": a key
  written as `${dynamicKey}` is evaluated, in block and in brace style).
* https://cloud.google.com/workflows/docs/reference/syntax/iteration ("When iterating over
  maps, ${keys(map)} can be used to obtain a list of keys. keys() always returns a sorted
  list"; `in` takes "an expression that evaluates into a list").
"""

from __future__ import annotations

import re

import pytest

from dayflow.workflows_engine import WorkflowDefinitionError, WorkflowEngine


def test_expression_keys_in_a_block_map_are_evaluated(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/maps (the createMap sample)
    engine.deploy(
        "dyn",
        """
main:
  steps:
    - createMap:
        assign:
          - dynamicKey: "MiddleName"
          - myMap:
              FirstName: "John"
              ${dynamicKey}: "Apple"
              Address:
                ${dynamicKey + "Street"}: "Flower Road 12"
    - done:
        return: ${myMap}
""",
    )
    execution = engine.run("dyn")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == {
        "FirstName": "John",
        "MiddleName": "Apple",
        "Address": {"MiddleNameStreet": "Flower Road 12"},
    }


def test_expression_keys_in_a_brace_map_are_evaluated(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/maps: "when using dynamic
    # keys in a map defined with braces, wrap the expression in quotes".
    engine.deploy(
        "braces",
        """
main:
  steps:
    - createMap:
        assign:
          - dynamicKey: "myKey"
          - myMap: {"${dynamicKey}": "myValue"}
          - myMap2: {'${dynamicKey + "Apple"}': "myValue"}
    - done:
        return: ${[myMap, myMap2]}
""",
    )
    execution = engine.run("braces")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == [{"myKey": "myValue"}, {"myKeyApple": "myValue"}]


def test_expression_key_that_is_not_a_string_raises_type_error(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/maps: keys are names
    # (strings); the docs are silent on a non-string dynamic key: TypeError here.
    engine.deploy(
        "badkey",
        """
main:
  steps:
    - createMap:
        assign:
          - myMap:
              ${1 + 1}: "two"
    - done:
        return: ${myMap}
""",
    )
    execution = engine.run("badkey")
    assert execution.state == "FAILED"
    assert execution.error_tags == ["TypeError"]


def test_integer_yaml_keys_become_strings(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/maps: map keys are strings;
    # YAML reads `200:` as an integer, which Workflows' map holds as "200".
    engine.deploy(
        "intkeys",
        """
main:
  steps:
    - createMap:
        assign:
          - messages:
              200: "ok"
              404: "missing"
    - done:
        return: ${[messages["404"], keys(messages)]}
""",
    )
    execution = engine.run("intkeys")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == ["missing", ["200", "404"]]


@pytest.mark.parametrize("key", ["true", "null", "1.5"])
def test_yaml_keys_without_an_obvious_string_form_are_refused_at_deploy(
    engine: WorkflowEngine, key: str
) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/maps: the docs do not say
    # how a boolean, null or double key is spelled; refusing it fails locally, not in GCP.
    source = f"""
main:
  steps:
    - createMap:
        assign:
          - m:
              {key}: "x"
    - done:
        return: ${{m}}
"""
    with pytest.raises(WorkflowDefinitionError, match=re.escape("quote it")):
        engine.deploy("oddkey", source)


def test_keys_returns_a_sorted_list(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/iteration: "keys() always
    # returns a sorted list", whatever order the map was built in.
    engine.deploy(
        "keys",
        """
main:
  steps:
    - build:
        assign:
          - m: {"pear": 1, "apple": 2, "Zebra": 3}
          - m.banana: 4
    - done:
        return: ${keys(m)}
""",
    )
    execution = engine.run("keys")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == ["Zebra", "apple", "banana", "pear"]


def test_for_over_keys_visits_a_map_in_sorted_key_order(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/iteration ("Map iteration"
    # iterates `in: ${keys(map)}`).
    engine.deploy(
        "mapfor",
        """
main:
  steps:
    - build:
        assign:
          - m: {"c": 3, "a": 1, "b": 2}
          - seen: []
    - loop:
        for:
          value: k
          in: ${keys(m)}
          steps:
            - add:
                assign:
                  - seen: ${list.concat(seen, k + "=" + string(m[k]))}
    - done:
        return: ${seen}
""",
    )
    execution = engine.run("mapfor")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == ["a=1", "b=2", "c=3"]


def test_for_in_a_map_itself_raises_type_error(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/iteration: `in` takes "an
    # expression that evaluates into a list"; a map goes through keys(). The docs do not
    # say what a map in `in` does, so it fails here rather than in GCP.
    engine.deploy(
        "mapin",
        """
main:
  steps:
    - loop:
        for:
          value: k
          in: '${{"a": 1}}'
          steps:
            - noop:
                assign:
                  - x: ${k}
""",
    )
    execution = engine.run("mapin")
    assert execution.state == "FAILED"
    assert execution.error_tags == ["TypeError"]
