"""Reading a spec file's YAML: every way a file can be wrong is one line naming it.

PyYAML keeps the last of two equal keys in a mapping without a word, so a second `pipelines:`
block would silently drop the first one's pipelines: the loader here refuses duplicate keys,
naming both lines (YAML 1.2 requires keys to be unique, https://yaml.org/spec/1.2.2/#mapping).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dayflow.errors import SpecError


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key]}; expected each key once)",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_spec_yaml(path: Path) -> Any:
    """The parsed YAML of the spec file at `path`; raise `SpecError` (one line) when it is not
    a readable UTF-8 YAML file with unique keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found (expected a dayflow.yaml spec)") from None
    except IsADirectoryError:
        raise SpecError(
            f"{path}: is a directory (expected a spec file, e.g. {path / 'dayflow.yaml'})"
        ) from None
    except UnicodeDecodeError as err:
        raise SpecError(
            f"{path}: not UTF-8 at byte offset {err.start} (expected a UTF-8 text file)"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}:{where}: not valid YAML ({getattr(err, 'problem', err)})") from err
