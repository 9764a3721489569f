"""Workflows executions through google-cloud-workflows: start, get and list, the same way for
GCP and for the local engine (which serves the same gRPC API on 127.0.0.1).

google-cloud-workflows' executions client has no REST transport, so locally it speaks gRPC over
an insecure channel to the engine; in GCP it uses the default secure gRPC transport.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from dayflow.errors import DayflowError, NotFoundError, UnavailableError, UserError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

# Workflows rejects larger execution arguments.
MAX_ARGUMENT_BYTES = 32 * 1024
# Seconds to wait for the Executions API to start an execution (the client sets no deadline).
START_TIMEOUT_SECONDS = 60.0
# The workflows in src/dayflow/workflows/ (package data), deployed under their file names.
RUN_PARTITION_WORKFLOW = "run_partition"
BACKFILL_WORKFLOW = "backfill"
BACKFILL_CHUNK_WORKFLOW = "backfill_chunk"
# How far back (newest first) a backfill's executions are looked for by its id.
FIND_LIMIT = 500


def new_backfill_id(pipeline: str) -> str:
    """A unique, readable backfill id: `bf-<pipeline>-<UTC time>-<random>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"bf-{pipeline}-{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ExecutionInfo:
    """What dayflow reads of a Workflows execution."""

    name: str
    state: str  # ACTIVE, SUCCEEDED, FAILED, CANCELLED
    argument: dict[str, Any]
    result: Any
    error: str | None
    start_time: datetime | None
    end_time: datetime | None

    @property
    def execution_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def is_done(self) -> bool:
        return self.state != "ACTIVE"


class Executions(Protocol):
    """The Workflows Executions API as dayflow uses it (real client, or a test fake)."""

    def start(self, workflow: str, argument: dict[str, Any]) -> ExecutionInfo: ...

    def get(self, name: str) -> ExecutionInfo: ...

    def list(self, workflow: str, limit: int = 20) -> list[ExecutionInfo]: ...

    def cancel(self, name: str) -> ExecutionInfo: ...


def find_backfill(executions: Executions, backfill_id: str) -> ExecutionInfo:
    """The `backfill` execution whose argument has `backfill_id` (the newest, if several), or,
    for one started by hand without it, whose id it is; raise NotFoundError if none of the
    newest FIND_LIMIT has it."""
    for info in executions.list(BACKFILL_WORKFLOW, FIND_LIMIT):
        if get_backfill_id(info) == backfill_id:
            return info
    raise NotFoundError(
        f"no backfill execution has backfill_id {backfill_id!r} (expected the id that "
        f"`dayflow backfill` or POST /backfills printed; searched the newest {FIND_LIMIT})"
    )


def get_backfill_id(execution: ExecutionInfo) -> str:
    """A `backfill` execution's backfill id: its argument's, else its own execution id (the
    workflow's default)."""
    return str(execution.argument.get("backfill_id") or execution.execution_id)


def list_chunks(executions: Executions, backfill_id: str) -> list[ExecutionInfo]:
    """The `backfill_chunk` executions (child executions) of a backfill, newest first."""
    return [
        info
        for info in executions.list(BACKFILL_CHUNK_WORKFLOW, FIND_LIMIT)
        if info.argument.get("backfill_id") == backfill_id
    ]


class WorkflowsExecutions:
    """`Executions` over google-cloud-workflows. `endpoint` is the local engine's gRPC
    `host:port`, or None for GCP."""

    def __init__(
        self,
        project: str,
        location: str,
        endpoint: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        from google.cloud.workflows import executions_v1

        self.parent = f"projects/{project}/locations/{location}"
        if endpoint is None:
            # `credentials`: e.g. an impersonated operator account; default: the caller's own.
            self._client = executions_v1.ExecutionsClient(credentials=credentials)
        else:
            import grpc  # type: ignore[import-untyped]
            from google.cloud.workflows.executions_v1.services.executions.transports import (
                ExecutionsGrpcTransport,
            )

            channel = grpc.insecure_channel(endpoint)
            self._client = executions_v1.ExecutionsClient(
                transport=ExecutionsGrpcTransport(channel=channel)
            )

    def start(self, workflow: str, argument: dict[str, Any]) -> ExecutionInfo:
        from google.cloud.workflows.executions_v1 import Execution

        encoded = json.dumps(argument, separators=(",", ":"))
        if len(encoded.encode()) > MAX_ARGUMENT_BYTES:
            raise UserError(
                f"execution argument is {len(encoded.encode())} bytes "
                f"(expected at most {MAX_ARGUMENT_BYTES}: pass a range instead of a key list)"
            )
        try:
            execution = self._client.create_execution(
                parent=f"{self.parent}/workflows/{workflow}",
                execution=Execution(argument=encoded),
                timeout=START_TIMEOUT_SECONDS,
            )
        except Exception as err:
            raise UnavailableError(
                f"could not start workflow {workflow!r} ({err.__class__.__name__})"
            ) from err
        return _info(execution)

    def get(self, name: str) -> ExecutionInfo:
        try:
            return _info(self._client.get_execution(name=name))
        except Exception as err:
            raise DayflowError(f"could not read execution {name!r}: {err}") from err

    def cancel(self, name: str) -> ExecutionInfo:
        """Cancel an execution; one that has ended already is returned as it is."""
        from google.api_core.exceptions import FailedPrecondition

        try:
            return _info(self._client.cancel_execution(name=name, timeout=START_TIMEOUT_SECONDS))
        except FailedPrecondition:
            return self.get(name)  # not ACTIVE any more
        except Exception as err:
            raise DayflowError(f"could not cancel execution {name!r}: {err}") from err

    def list(self, workflow: str, limit: int = 20) -> list[ExecutionInfo]:
        from google.cloud.workflows.executions_v1 import ExecutionView, ListExecutionsRequest

        request = ListExecutionsRequest(
            parent=f"{self.parent}/workflows/{workflow}",
            page_size=limit,
            view=ExecutionView.FULL,
        )
        try:
            page = self._client.list_executions(request=request)
            return [_info(e) for _, e in zip(range(limit), page, strict=False)]
        except Exception as err:
            raise DayflowError(f"could not list executions of {workflow!r}: {err}") from err


def _info(execution: Any) -> ExecutionInfo:
    def decode(text: str) -> Any:
        return json.loads(text) if text else None

    error = execution.error.payload if execution.error and execution.error.payload else None
    return ExecutionInfo(
        name=execution.name,
        state=execution.state.name,
        argument=decode(execution.argument) or {},
        result=decode(execution.result),
        error=error,
        start_time=execution.start_time or None,
        end_time=execution.end_time or None,
    )
