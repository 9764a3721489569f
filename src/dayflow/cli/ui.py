"""`dayflow ui [--env dev]`: open the job-runner's status page (/ui) in a browser.

Locally it opens the local stack's job-runner. In GCP the job-runner is private (Cloud Run IAM):
a local proxy on 127.0.0.1 (dayflow.ui_proxy) passes the page's requests on with an ID token of
the caller's Google credentials, minted as `dayflow status` mints it (the impersonated operator
account, a key file, or the metadata server: see dayflow.runner_auth).
"""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from dayflow.cli.app import app
from dayflow.cli.context import (
    EnvName,
    EnvOption,
    ImpersonateOption,
    SpecOption,
    console,
    get_env,
)
from dayflow.cli.output import plain
from dayflow.errors import UserError
from dayflow.settings import get_settings


@app.command("ui")
def ui(
    env: EnvOption = None,
    spec: SpecOption = None,
    impersonate_service_account: ImpersonateOption = None,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Proxy port on 127.0.0.1 (0: free)")
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL without opening a browser")
    ] = False,
) -> None:
    """Open the status page: pipelines, the partition grid, runs and backfills. In GCP (with
    DAYFLOW_JOB_RUNNER_URL) through a local proxy that adds your ID token; Ctrl-C stops it."""
    settings = get_settings()
    env = get_env(env)
    target = settings.job_runner_url
    if env == "local" and target is None:
        from dayflow.local.stack import get_stack

        url = f"{get_stack(settings.state_dir)['job_runner_url']}/ui"
        _open(url, no_browser)
        return
    if target is None:
        raise UserError(
            f"no job-runner URL for env {env!r} (expected DAYFLOW_JOB_RUNNER_URL, "
            "e.g. the Cloud Run URL from `pulumi stack output job_runner_url`)"
        )
    if env == "local":
        _open(f"{target.rstrip('/')}/ui", no_browser)
        return
    serve_proxy(target, env, spec, impersonate_service_account, port, no_browser)


def serve_proxy(
    target: str,
    env: EnvName,
    spec: Path | None,
    impersonate_service_account: str | None,
    port: int,
    no_browser: bool,
) -> None:
    import httpx

    from dayflow.cli.context import _get_spec_account
    from dayflow.runner_auth import fetch_job_runner_id_token
    from dayflow.runner_client import IdTokenAuth
    from dayflow.ui_proxy import UiProxy

    settings = get_settings()
    account = impersonate_service_account or settings.impersonate_service_account
    if account is None:
        account = _get_spec_account(spec, env)

    def fetch() -> str:
        return fetch_job_runner_id_token(target.rstrip("/"), impersonate_service_account=account)

    # The first token is minted here: no credentials is one line and exit 2, before any serving.
    with httpx.Client(auth=IdTokenAuth(fetch), timeout=300) as http:
        try:
            proxy = UiProxy(target, http, port)
        except OSError as err:
            raise UserError(f"cannot listen on 127.0.0.1:{port} ({err.strerror})") from None
        as_whom = f" as {account}" if account else ""
        console.print(plain(f"status page of {env} ({target}){as_whom}: {proxy.url}"))
        console.print("Ctrl-C stops the proxy.")
        if not no_browser:
            webbrowser.open(proxy.url)
        try:
            proxy.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            proxy.server.server_close()


def _open(url: str, no_browser: bool) -> None:
    console.print(plain(f"status page: {url}"))
    if not no_browser:
        webbrowser.open(url)
