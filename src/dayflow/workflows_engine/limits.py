"""Resource limits of Cloud Workflows, enforced by the local engine.

Values are Google's documented system limits (workflows/quotas, "Resource limits"). Tests
lower them to reach a limit quickly: `Limits(max_steps=50)`.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class Limits:
    """Per-execution limits.

    Attributes:
        max_steps: steps executed in one execution (billed steps, retries included).
        max_variable_bytes: JSON-serialized size of all live variables (and arguments).
        max_argument_bytes: size of the execution argument (its JSON string).
        max_string_bytes: UTF-8 size of one string value held in a variable or returned.
        max_result_bytes: JSON size of the value an execution returns.
        max_http_response_bytes: size of one HTTP response body.
        max_http_timeout_seconds: longest `timeout` an HTTP call may ask for.
        max_parallel_branches: branches in one `parallel` step.
        max_concurrency: branches/iterations of one `parallel` step running at once.
        max_parallel_depth: nesting depth of `parallel` steps.
        max_call_stack_depth: nested subworkflow calls (exceeding raises RecursionError).
        max_assignments_per_step: entries in one `assign` step.
        max_switch_conditions: conditions in one `switch` step.
        max_unhandled_branch_errors: branch errors listed in an UnhandledBranchError.
    """

    max_steps: int = 100_000
    max_variable_bytes: int = 512 * KIB
    max_argument_bytes: int = 32 * KIB
    # workflows/quotas, "Resource limits": strings up to 256 KB. The result limit is not
    # documented on its own; the returned value is held like a variable, so the variables
    # memory limit applies (fails locally rather than in GCP).
    max_string_bytes: int = 256 * KIB
    max_result_bytes: int = 512 * KIB
    max_http_response_bytes: int = 2 * KIB * KIB
    max_http_timeout_seconds: float = 1800.0
    max_parallel_branches: int = 10
    max_concurrency: int = 20
    max_parallel_depth: int = 2
    max_call_stack_depth: int = 20
    max_assignments_per_step: int = 50
    max_switch_conditions: int = 50
    max_unhandled_branch_errors: int = 100
