"""Alerts as code under Pulumi mocks: channels from stack config, per-pipeline policies from the
spec's `alerts:`, stack policies on Workflows, dead letters and 5xx, and log-based metrics whose
filters match the lines the job-runner actually writes (dayflow.logs).

References: metric and resource types, https://cloud.google.com/monitoring/api/metrics_gcp;
log-based metric labels, https://cloud.google.com/logging/docs/logs-based-metrics/labels;
Pub/Sub channels, https://cloud.google.com/monitoring/support/notification-options#pubsub.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_harness import Deploy, Deployment, T

from dayflow.errors import UserError
from dayflow.infra.policy import find_violations
from dayflow.ledger import RunRecord, log_state_change
from dayflow.logs import CloudLoggingFormatter

ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
METRIC = "gcp:logging/metric:Metric"
CHANNELS = {
    "oncall": {"email": "data-oncall@acme.example"},
    "pager": {"webhook": "https://hooks.acme.example/dayflow"},
    "ops": {"pubsub": "dayflow-alerts"},
}


def write_alert_spec(directory: Path, **orders_alerts: Any) -> Path:
    (directory / "daily.sql").write_text("SELECT @partition_date AS day")
    job = {"kind": "bigquery_sql", "sql": "daily.sql",
           "destination": {"dataset": "mart", "table": "t", "partition_field": "day"}}  # fmt: skip
    pipeline = {"granularity": "day", "timezone": "Europe/Stockholm", "schedule": "0 2 * * *",
                "start": "2024-01-01", "jobs": {"daily": job}}  # fmt: skip
    spec = {
        "version": 1,
        "name": "shop",
        "environments": {
            "local": {"gcp_project": "local"},
            "dev": {"gcp_project": "acme-shop-dev", "dataset_prefix": "dev_"},
            "prod": {"gcp_project": "acme-shop-prod"},
        },
        "pipelines": {
            "orders": {
                **pipeline,
                "alerts": orders_alerts or {"freshness": "28h", "notify": ["pager"]},
            },
            "quiet": pipeline,  # no alerts declared: still its failed-run alert, no channels
        },
        "topics": {
            "clicks": {
                "key": ["id"],
                "event_time": "at",
                "fields": {"id": {"type": "string"}, "at": {"type": "timestamp"}},
            }
        },
    }
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def alerted(deploy: Deploy, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    spec = write_alert_spec(tmp_path_factory.mktemp("alerts"))
    return deploy("prod", specPath=str(spec), notificationChannels=CHANNELS)


def policy(deployment: Deployment, key: str) -> dict[str, Any]:
    return dict(deployment.one(ALERT_POLICY, f"alert-{key}").state)


def condition_filter(state: dict[str, Any]) -> str:
    [condition] = state["conditions"]
    body = condition.get("conditionThreshold") or condition["conditionAbsent"]
    text: str = body["filter"]
    return text


def channel_names(deployment: Deployment, *names: str) -> list[str]:
    return [deployment.one(CHANNEL, f"channel-{n}").state["name"] for n in names]


def test_channels_come_from_stack_config_and_only_the_agent_may_publish(
    alerted: Deployment,
) -> None:
    kinds = {r.name: (r.state["type"], r.state["labels"]) for r in alerted.of_type(CHANNEL)}
    assert kinds == {
        "channel-oncall": ("email", {"email_address": "data-oncall@acme.example"}),
        "channel-pager": ("webhook_tokenauth", {"url": "https://hooks.acme.example/dayflow"}),
        "channel-ops": ("pubsub", {"topic": "projects/acme-shop-prod/topics/dayflow-alerts"}),
    }
    [grant] = alerted.by_state(T.TOPIC_IAM, topic="dayflow-alerts")
    assert grant.state["role"] == "roles/pubsub.publisher"
    assert re.fullmatch(
        r"serviceAccount:service-\d+@gcp-sa-monitoring-notification\.iam\.gserviceaccount\.com",
        grant.state["member"],
    )


def test_a_failed_run_alert_names_pipeline_job_and_partition_and_says_what_to_run(
    alerted: Deployment,
) -> None:
    state = policy(alerted, "run-failed-orders")
    assert condition_filter(state) == (
        'metric.type="logging.googleapis.com/user/dayflow/run_failed" AND '
        'resource.type="cloud_run_revision" AND metric.label.pipeline="orders"'
    )
    assert state["notificationChannels"] == channel_names(alerted, "pager")
    docs = state["documentation"]["content"]
    key = "${metric.label.partition_key}"
    assert f"dayflow status orders --start {key} --end {key} --errors --env prod" in docs
    assert f"dayflow backfill orders --start {key} --end {key} --only failed --env prod" in docs
    metric = alerted.one(METRIC, "metric-run-failed").state
    assert metric["labelExtractors"] == {
        "pipeline": "EXTRACT(labels.pipeline)",
        "job": "EXTRACT(labels.job)",
        "partition_key": "EXTRACT(labels.partition_key)",
    }
    # A pipeline that declares no alerts still gets its failed-run alert (in the console).
    assert policy(alerted, "run-failed-quiet")["notificationChannels"] == []


def test_freshness_alerts_only_where_a_limit_is_declared_and_the_check_is_scheduled(
    alerted: Deployment,
) -> None:
    state = policy(alerted, "freshness-orders")
    assert condition_filter(state).endswith(
        'metric.label.pipeline="orders" AND metric.label.stale="true"'
    )
    assert state["notificationChannels"] == channel_names(alerted, "pager")
    assert "dayflow status orders --env prod" in state["documentation"]["content"]
    assert not [r for r in alerted.of_type(ALERT_POLICY) if r.name == "alert-freshness-quiet"]
    absent = policy(alerted, "freshness-check-stopped")
    assert absent["conditions"][0]["conditionAbsent"]["duration"] == "3600s"
    assert absent["notificationChannels"] == channel_names(alerted, "oncall", "pager", "ops")
    [job] = alerted.by_state(T.SCHEDULE, name="dayflow-freshness-check")
    target = job.state["httpTarget"]
    assert target["uri"].endswith("/freshness/check") and target["httpMethod"] == "POST"
    assert target["oidcToken"]["serviceAccountEmail"].startswith("dayflow-scheduler@")
    assert job.state["paused"] is False  # prod's schedules run


def test_stack_alerts_watch_workflows_dead_letters_and_job_runner_errors(
    alerted: Deployment,
) -> None:
    workflows = condition_filter(policy(alerted, "workflows-failed"))
    assert 'metric.type="workflows.googleapis.com/finished_execution_count"' in workflows
    assert 'metric.label.status="FAILED"' in workflows
    for deployed in alerted.of_type(T.WORKFLOW):
        assert f'"{deployed.state["name"]}"' in workflows
    dead = alerted.one(METRIC, "metric-dead-lettered").state
    assert 'resource.labels.service_name=("ingest-clicks")' in dead["filter"]
    assert (
        "dayflow_ingest.dead_letter"
        not in policy(alerted, "dead-lettered")["documentation"]["content"]
    )  # prod has no prefix: the table is acme-shop-prod.ingest.dead_letter
    assert (
        "acme-shop-prod.ingest.dead_letter"
        in policy(alerted, "dead-lettered")["documentation"]["content"]
    )
    errors = policy(alerted, "job-runner-5xx")
    [condition] = errors["conditions"]
    assert 'metric.label.response_code_class="5xx"' in condition_filter(errors)
    assert condition["conditionThreshold"]["thresholdValue"] == 5


def test_the_alerting_stack_passes_the_security_policy(alerted: Deployment) -> None:
    assert [str(v) for v in find_violations((r.type, r.name, r.state) for r in alerted)] == []


def _matches(log_filter: str, line: dict[str, Any]) -> bool:
    """The jsonPayload and labels clauses of a Logging filter, evaluated on one JSON line."""
    labels = line.get("logging.googleapis.com/labels", {})
    for path, op, value in re.findall(
        r'(jsonPayload\.\w+|labels\.\w+)(=|:)("[^"]*"|\*)', log_filter
    ):
        source = labels if path.startswith("labels.") else line
        got = source.get(path.split(".", 1)[1])
        if op == ":" and got is None:
            return False
        if op == "=" and json.dumps(got) != value:
            return False
    return True


def test_the_failed_run_metric_counts_exactly_the_job_runners_permanent_failure_lines(
    alerted: Deployment,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("acme-shop-prod"))
    logger = logging.getLogger("dayflow.runs")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        for status, kind in [("failed", "permanent"), ("failed", "transient"), ("succeeded", None)]:
            log_state_change(RunRecord("orders", "daily", "2024-01-05", date(2024, 1, 5), 1,
                                       status, error_kind=kind))  # type: ignore[arg-type]  # fmt: skip
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    run_failed = alerted.one(METRIC, "metric-run-failed").state["filter"]
    assert [_matches(run_failed, line) for line in lines] == [True, False, False]
    assert lines[0]["logging.googleapis.com/labels"]["partition_key"] == "2024-01-05"


@pytest.mark.parametrize(
    ("overrides", "alerts", "message"),
    [
        ({"notificationChannels": CHANNELS}, {"notify": ["nobody"]},
         "pipelines.orders.alerts.notify: channel 'nobody' is not in this stack's config "
         "notificationChannels (expected one of: oncall, ops, pager)"),
        ({"notificationChannels": {"hook": {"webhook": "http://hooks.acme.example"}}},
         {"notify": ["hook"]},
         "config notificationChannels.hook.webhook: 'http://hooks.acme.example' is not an "
         "https URL"),
        ({"notificationChannels": {"x": {"sms": "+46700000000"}}}, {"notify": []},
         "config notificationChannels.x: 'sms' is not a channel kind "
         "(expected one of: email, webhook, pubsub)"),
    ],
    ids=["unknown-channel", "plain-http-webhook", "unknown-kind"],
)  # fmt: skip
def test_a_bad_channel_is_refused_naming_it(
    deploy: Deploy, tmp_path: Path, overrides: dict[str, Any], alerts: dict[str, Any], message: str
) -> None:
    spec = write_alert_spec(tmp_path, **alerts)
    with pytest.raises(UserError, match=re.escape(message)):
        deploy("prod", specPath=str(spec), **overrides)
