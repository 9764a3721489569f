"""Contracts: topic schemas and exposed tables compared across versions (dayflow.contracts),
directly and through `dayflow contract check` in a real git repository."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.contracts import compare, compare_consumed, get_contracts
from dayflow.errors import UserError
from dayflow.spec import load_spec
from tests.conftest import read_project_spec
from tests.domains.projects import write_domains

TODAY = date(2026, 6, 1)


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [str(f) for f in compare(get_contracts(old), get_contracts(new), TODAY)]


@pytest.fixture
def spec() -> dict[str, Any]:
    return read_project_spec()


def test_a_removed_topic_field_is_breaking_and_named(spec: dict[str, Any]) -> None:
    new = copy.deepcopy(spec)
    del new["topics"]["orders"]["fields"]["currency"]
    assert changes(spec, new) == [
        "breaking: topic orders field 'currency': removed without a deprecation "
        "(expected `deprecated: YYYY-MM-DD` first, and removal on or after that date)"
    ]


def test_an_added_optional_field_and_a_description_are_accepted(spec: dict[str, Any]) -> None:
    new = copy.deepcopy(spec)
    new["topics"]["orders"]["fields"]["channel"] = {"type": "string"}
    new["topics"]["orders"]["fields"]["amount"]["description"] = "in the order's currency"
    assert changes(spec, new) == [
        "ok: topic orders field 'amount': description changed",
        "ok: topic orders field 'channel': added (optional)",
    ]


def test_retyped_newly_required_and_made_required_fields_are_breaking(
    spec: dict[str, Any],
) -> None:
    new = copy.deepcopy(spec)
    fields = new["topics"]["orders"]["fields"]
    fields["amount"]["type"] = "string"
    fields["currency"]["required"] = True
    fields["channel"] = {"type": "string", "required": True}
    assert changes(spec, new) == [
        "breaking: topic orders field 'amount': retyped from number to string "
        "(expected the same type: add a new field instead)",
        "breaking: topic orders field 'channel': added as required "
        "(expected a new field to be optional: existing writers do not send it)",
        "breaking: topic orders field 'currency': made required (expected it to stay optional)",
    ]


def test_expand_and_contract_removal_is_accepted_only_after_the_deprecation_date(
    spec: dict[str, Any],
) -> None:
    deprecated = copy.deepcopy(spec)
    deprecated["topics"]["orders"]["fields"]["currency"]["deprecated"] = date(2026, 3, 1)
    assert changes(spec, deprecated) == [
        "ok: topic orders field 'currency': deprecated from 2026-03-01"
    ]
    removed = copy.deepcopy(deprecated)
    del removed["topics"]["orders"]["fields"]["currency"]
    assert changes(deprecated, removed) == [
        "ok: topic orders field 'currency': removed after its deprecation on 2026-03-01"
    ]
    deprecated["topics"]["orders"]["fields"]["currency"]["deprecated"] = date(2026, 9, 1)
    assert changes(deprecated, removed) == [
        "breaking: topic orders field 'currency': removed before its deprecation date "
        "2026-09-01 (expected to keep it until then)"
    ]


def test_removed_topics_and_enum_values_are_breaking_added_ones_are_not(
    spec: dict[str, Any],
) -> None:
    new = copy.deepcopy(spec)
    del new["topics"]["customers"]
    new["topics"]["orders"]["fields"]["currency"]["enum"] = ["SEK", "NOK"]
    assert changes(spec, new) == [
        "breaking: topic customers: removed (expected it to stay: readers use it)",
        "ok: topic orders field 'currency': enum values added: ['NOK']",
        "breaking: topic orders field 'currency': enum values removed: ['EUR'] "
        "(expected only additions)",
    ]


def test_exposed_table_columns_are_compared_with_bigquery_type_aliases_equal(
    tmp_path: Path,
) -> None:
    sales, _ = write_domains(tmp_path)
    old = yaml.safe_load((sales / "dayflow.yaml").read_text())
    new = copy.deepcopy(old)
    columns = new["exposes"]["mart.daily_events"]["columns"]
    columns["events"]["type"] = "INTEGER"  # an alias of INT64: the same type
    del columns["customers"]
    assert changes(old, new) == [
        "breaking: table mart.daily_events field 'customers': removed without a deprecation "
        "(expected `deprecated: YYYY-MM-DD` first, and removal on or after that date)"
    ]


def test_a_consumed_copy_is_checked_against_its_producer(tmp_path: Path) -> None:
    sales_dir, finance_dir = write_domains(tmp_path)
    sales, finance = load_spec(sales_dir / "dayflow.yaml"), load_spec(finance_dir / "dayflow.yaml")
    assert compare_consumed(finance, sales) == []
    raw = yaml.safe_load((sales_dir / "dayflow.yaml").read_text())
    raw["exposes"]["mart.daily_events"]["columns"]["amount"]["type"] = "NUMERIC"
    raw["exposes"]["mart.daily_events"]["columns"]["event_type"]["deprecated"] = "2027-01-01"
    (sales_dir / "dayflow.yaml").write_text(yaml.safe_dump(raw))
    assert [str(f) for f in compare_consumed(finance, load_spec(sales_dir / "dayflow.yaml"))] == [
        "ok: consumed table sales.mart.daily_events field 'event_type': deprecated by the "
        "producer from 2027-01-01",
        "breaking: consumed table sales.mart.daily_events field 'amount': is NUMERIC at the "
        "producer (the copy says FLOAT64)",
    ]


def test_invalid_contracts_at_a_ref_are_a_user_error() -> None:
    with pytest.raises(UserError, match=r"^HEAD~1:dayflow.yaml: orders.fields: "):
        get_contracts({"topics": {"orders": {"fields": {}}}}, "HEAD~1:dayflow.yaml")


# --- through the CLI, in a real git repository ---------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def contract_check(cwd: Path, *args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAYFLOW_SPEC": "domain/dayflow.yaml", **env_vars}
    return subprocess.run(
        [sys.executable, "-c", "from dayflow.cli import main; main()", "contract", "check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the sales domain under domain/, committed once."""
    sales, _ = write_domains(tmp_path / "work")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    sales.rename(repo / "domain")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a")
    return repo


def edit_columns(repo: Path, change: Any) -> None:
    path = repo / "domain" / "dayflow.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw["exposes"]["mart.daily_events"]["columns"])
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_contract_check_fails_on_a_removed_field_naming_it(repo: Path) -> None:
    edit_columns(repo, lambda columns: columns.pop("customers"))
    result = contract_check(repo, "--against", "main")
    assert result.returncode == 1, result.stderr
    assert "breaking: table mart.daily_events field 'customers': removed without a deprecation" in (
        result.stdout
    )
    assert "1 breaking, 0 accepted change(s)" in result.stdout


def test_contract_check_passes_an_added_optional_field(repo: Path) -> None:
    edit_columns(repo, lambda columns: columns.update(refunds={"type": "FLOAT64"}))
    result = contract_check(repo, "--against", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: table mart.daily_events field 'refunds': added (optional)" in result.stdout


def test_contract_check_treats_a_spec_missing_at_the_ref_as_all_new(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    git(repo, "mv", "domain", "moved")
    git(repo, "commit", "-qm", "moved")
    env_spec = repo / "moved" / "dayflow.yaml"
    result = contract_check(repo, "--against", "HEAD~1", "--spec", str(env_spec))
    assert result.returncode == 0, result.stderr
    assert "does not exist at HEAD~1: every contract is new" in result.stdout
    assert "ok: table mart.daily_events: added" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--against", "no-such-ref"), "error: unknown git ref 'no-such-ref' "),
        ((), "error: nothing to check (expected --against REF or --producer PATH)"),
    ],
)
def test_contract_check_user_errors_exit_2_with_one_line(
    repo: Path, args: tuple[str, ...], message: str
) -> None:
    result = contract_check(repo, *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_contract_check_outside_git_is_a_user_error(tmp_path: Path) -> None:
    sales, _ = write_domains(tmp_path)
    result = contract_check(tmp_path, "--against", "main", "--spec", str(sales / "dayflow.yaml"))
    assert result.returncode == 2
    assert "is not in a git repository" in result.stderr


def test_contract_check_compares_the_consumed_copy_with_the_producers_spec(tmp_path: Path) -> None:
    sales, finance = write_domains(tmp_path)
    args = ("--producer", str(sales / "dayflow.yaml"), "--spec", str(finance / "dayflow.yaml"))
    result = contract_check(tmp_path, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    raw = yaml.safe_load((sales / "dayflow.yaml").read_text())
    del raw["exposes"]["mart.daily_events"]["columns"]["amount"]
    (sales / "dayflow.yaml").write_text(yaml.safe_dump(raw))
    result = contract_check(tmp_path, *args)
    assert result.returncode == 1
    assert (
        "breaking: consumed table sales.mart.daily_events field 'amount': not a column of the "
        "producer's table"
    ) in result.stdout


def test_a_consumed_copy_must_declare_the_producers_partition_filter(tmp_path: Path) -> None:
    sales_dir, finance_dir = write_domains(tmp_path)
    raw = yaml.safe_load((finance_dir / "dayflow.yaml").read_text())
    raw["consumes"]["sales.mart.daily_events"]["require_partition_filter"] = False
    (finance_dir / "dayflow.yaml").write_text(yaml.safe_dump(raw))
    finance = load_spec(finance_dir / "dayflow.yaml")
    assert [str(f) for f in compare_consumed(finance, load_spec(sales_dir / "dayflow.yaml"))] == [
        "breaking: consumed table sales.mart.daily_events: partitioned by 'event_date' with "
        "require_partition_filter true at the producer (expected the copy to declare the same "
        "partition_field and require_partition_filter)"
    ]


def test_contract_check_without_git_is_a_user_error(repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = contract_check(repo, "--against", "main", PATH=str(empty))  # no git on PATH
    assert result.returncode == 2
    assert result.stderr == "error: git is not installed (expected `git` on PATH)\n"
