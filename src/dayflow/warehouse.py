"""The BigQuery boundary: one client factory for GCP and the local emulator, safe identifiers,
and the classification of BigQuery errors into transient and permanent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dayflow.errors import UserError, WarehouseError

if TYPE_CHECKING:
    from google.cloud import bigquery

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{3,29}$|^local$")

# Messages of a multi-statement transaction aborted by a concurrent one: BigQuery's own, and the
# local emulator's (DuckLake). Retried with a new job id, like a transient error.
_CONCURRENT_ABORT = (
    "concurrent update",
    "transaction is aborted",
    "could not serialize access",
    "failed to commit ducklake transaction",
    "conflict on",
)


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return `value` if it is a plain BigQuery identifier, else raise UserError."""
    if not _IDENTIFIER.match(value):
        raise UserError(
            f"{what} {value!r} is not a valid BigQuery name "
            "(expected letters, digits and underscores, not starting with a digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class TableRef:
    """A fully qualified table. Its parts are validated, so `sql` is safe to put in a query."""

    project: str
    dataset: str
    table: str

    def __post_init__(self) -> None:
        if not _PROJECT.match(self.project):
            raise UserError(f"project {self.project!r} is not a valid GCP project id")
        validate_identifier(self.dataset, "dataset")
        if "$" in self.table:
            raise UserError(
                f"table {self.table!r} uses a partition decorator, which dayflow never uses "
                "(the local emulator silently writes a table of that literal name); "
                "expected a plain table name"
            )
        validate_identifier(self.table, "table")

    @property
    def sql(self) -> str:
        return f"`{self.project}.{self.dataset}.{self.table}`"

    @property
    def table_id(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"


def make_bigquery_client(
    project: str,
    endpoint: str | None = None,
    location: str | None = None,
    user_agent: str | None = None,
) -> bigquery.Client:
    """A BigQuery client for GCP (`endpoint` None, default credentials) or an emulator URL.

    `user_agent` goes first in the User-Agent header, naming who calls (audit logs show it).
    """
    from google.cloud import bigquery

    client_info = None
    if user_agent is not None:
        from google.api_core.client_info import ClientInfo

        client_info = ClientInfo(user_agent=user_agent)  # type: ignore[no-untyped-call]
    if endpoint is None:
        return bigquery.Client(project=project, location=location, client_info=client_info)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        location=location,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
        client_info=client_info,
        _http=_make_emulator_session(endpoint),
    )


def _make_emulator_session(endpoint: str) -> Any:
    """An HTTP session for the emulator on which a refused connection fails at once.

    The client retries connection errors for up to 10 minutes (its DEFAULT_RETRY deadline), and
    a run made several such calls: a dead emulator hung `dayflow run` for 13 minutes. The
    emulator listens on 127.0.0.1, so a refused connection means it is not running; the error
    (a permanent WarehouseError, which no retry predicate matches) says so and what to run.
    """
    import requests
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    # An AuthorizedSession, as the client builds itself (Client.close() closes its parts).
    class EmulatorSession(AuthorizedSession):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            try:
                response: requests.Response = super().request(*args, **kwargs)  # type: ignore[no-untyped-call]
                return response
            except requests.exceptions.ConnectionError as err:
                if not is_connection_refused(err):
                    raise
                raise WarehouseError(
                    f"the BigQuery emulator at {endpoint} refused the connection: it is not "
                    "running (start the local stack: dayflow local up)",
                    transient=False,
                ) from err

    return EmulatorSession(AnonymousCredentials())  # type: ignore[no-untyped-call]


def is_connection_refused(err: BaseException) -> bool:
    """Whether a ConnectionRefusedError is among `err`'s causes (requests wraps it in urllib3's
    MaxRetryError and NewConnectionError)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [err]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        pending += [getattr(current, "reason", None), current.__cause__, current.__context__]
        pending += [a for a in current.args if isinstance(a, BaseException)]
    return False


def is_concurrent_abort(err: BaseException) -> bool:
    message = str(err).lower()
    return any(marker in message for marker in _CONCURRENT_ABORT)


def classify_error(err: Exception, job_id: str | None = None) -> WarehouseError:
    """Map a BigQuery client error to a WarehouseError that says whether a retry may help."""
    from google.api_core import exceptions as gexc

    if isinstance(err, WarehouseError):
        return err
    transient = False
    if isinstance(err, gexc.ServerError | gexc.TooManyRequests) or is_concurrent_abort(err):
        transient = True
    elif isinstance(err, gexc.Forbidden):
        transient = any(e.get("reason") in _RATE_REASONS for e in _error_list(err))
    elif isinstance(err, ConnectionError | TimeoutError) or type(err).__module__.startswith(
        ("requests", "urllib3")
    ):
        transient = True
    return WarehouseError(first_line(get_error_message(err)), transient=transient, job_id=job_id)


def get_error_message(err: Exception) -> str:
    """A BigQuery error's message, each part once.

    google-cloud-bigquery builds a failed job's exception message from its `errorResult`
    message followed by `; key: value, ...` for each entry of the job's `errors`, and the first
    entry is usually the `errorResult` again (google/cloud/bigquery/job/base.py,
    `_error_result_to_exception`): the SQL error read twice. The repeat is dropped; other
    entries stay.
    """
    message = str(getattr(err, "message", None) or err)
    for result in _error_list(err):
        repeat = "; " + ", ".join(f"{key}: {value}" for key, value in result.items())
        if result.get("message") and message.startswith(str(result["message"])):
            message = message.replace(repeat, "", 1)
    return message


_RATE_REASONS = {"rateLimitExceeded", "backendError", "jobRateLimitExceeded"}


def _error_list(err: Any) -> list[dict[str, Any]]:
    errors = getattr(err, "errors", None) or []
    return [e for e in errors if isinstance(e, dict)]


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
