"""Alerts: what wakes the on-call, declared in the spec (`alerts:` per pipeline) and stack config
(`notificationChannels`), built on the job-runner's and the ingest function's structured logs
(dayflow.logs) and on the metrics Workflows and Cloud Run report by themselves.

Metric and label names: https://cloud.google.com/monitoring/api/metrics_gcp (workflows,
run); log-based metrics and label extractors:
https://cloud.google.com/logging/docs/logs-based-metrics/labels; documentation variables such
as `${metric.label.partition_key}`:
https://cloud.google.com/monitoring/alerts/doc-variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pulumi
from pulumi_gcp import cloudscheduler, logging, monitoring, organizations, pubsub

from dayflow.infra.alert_channels import ChannelConfig
from dayflow.infra.components import get_child_options, with_depends_on

RUN_FAILED_METRIC = "dayflow/run_failed"
FRESHNESS_METRIC = "dayflow/freshness_checks"
DEAD_LETTER_METRIC = "dayflow/dead_lettered"
FRESHNESS_JOB_NAME = "dayflow-freshness-check"
# Cloud Scheduler calls the freshness check this often; the absence alert waits four times as
# long before it says the check itself stopped.
FRESHNESS_CHECK_CRON = "*/15 * * * *"
FRESHNESS_ABSENT_SECONDS = 3600
# The job-runner's 5xx answers in 5 minutes that page (a single 503 is retried by callers).
SERVER_ERRORS_PER_5_MINUTES = 5
_CHANNEL_TYPES = {"email": "email", "webhook": "webhook_tokenauth", "pubsub": "pubsub"}


@dataclass(frozen=True)
class PipelineAlerts:
    name: str
    freshness: str | None  # the limit as declared, e.g. "28h"; None: no freshness alert
    channels: tuple[str, ...]  # names in AlertsArgs.channels


@dataclass(frozen=True)
class AlertsArgs:
    project: str
    environment: str
    scheduler_region: str
    job_runner_uri: pulumi.Input[str]
    job_runner_service: pulumi.Input[str]
    # The Workflows dayflow deploys (stem -> name): a failed execution of any of them alerts.
    workflow_names: Mapping[str, pulumi.Input[str]]
    # The ingest functions' Cloud Run service names (gen2 functions run as services).
    ingest_services: tuple[str, ...]
    # `project.dataset.table` of the dead-letter table, for the runbook.
    dead_letter_table: str
    pipelines: tuple[PipelineAlerts, ...]
    channels: tuple[ChannelConfig, ...]
    scheduler_service_account_email: pulumi.Input[str]
    schedule_paused: bool
    scheduler_invoker_grant: pulumi.Resource | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _count_above(
    display_name: str,
    metric_filter: pulumi.Input[str],
    period_seconds: int,
    threshold: int = 0,
    sum_series: bool = False,
) -> dict[str, object]:
    """A condition: more than `threshold` counted in `period_seconds`, per time series (one
    incident per series, so its labels name what failed) or summed over all (`sum_series`)."""
    aggregation = {"alignment_period": f"{period_seconds}s", "per_series_aligner": "ALIGN_SUM"}
    if sum_series:
        aggregation["cross_series_reducer"] = "REDUCE_SUM"
    return {
        "display_name": display_name,
        "condition_threshold": {
            "filter": metric_filter,
            "comparison": "COMPARISON_GT",
            "threshold_value": threshold,
            "duration": "0s",
            "aggregations": [aggregation],
            "trigger": {"count": 1},
        },
    }


def _service_filter(services: list[str]) -> str:
    names = " OR ".join(_quote(s) for s in services)
    return f'resource.type="cloud_run_revision" AND resource.labels.service_name=({names})'


class Alerts(pulumi.ComponentResource):
    """Notification channels, log-based metrics and alert policies of one stack.

    Creates:
    - `monitoring.NotificationChannel` per configured channel (email, webhook_tokenauth,
      pubsub), and for a Pub/Sub channel the publisher grant of Monitoring's notification agent
      on that topic only;
    - log-based metrics: `dayflow/run_failed` (a run's permanent failure, labelled pipeline,
      job, partition_key), `dayflow/freshness_checks` (labelled pipeline, stale) and
      `dayflow/dead_lettered` (labelled topic, reason);
    - per pipeline, an alert on its failed runs naming pipeline, job and partition, and, with
      `alerts.freshness`, one on its freshness; for the stack, alerts on failed Workflows
      executions, dead-lettered events, the job-runner's 5xx answers, and a freshness check
      that stopped reporting;
    - with any freshness limit, the Cloud Scheduler job that calls POST /freshness/check every
      15 minutes (OIDC, the scheduler's account; paused with the stack's schedules).

    Secure defaults: channels come only from stack config; webhooks are https; nothing public.
    Each policy's documentation says what to run (`dayflow status`, `dayflow backfill --only
    failed`).
    """

    def __init__(
        self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:Alerts", name, None, opts)
        self._child = get_child_options(self, opts)
        self._args = args
        self.channels = {c.name: self._create_channel(c) for c in args.channels}
        self.metrics = self._create_metrics()
        self.policies: dict[str, monitoring.AlertPolicy] = {}
        everyone = tuple(self.channels)
        for pipeline in args.pipelines:
            self._add_run_failed_policy(pipeline)
            if pipeline.freshness:
                self._add_freshness_policy(pipeline)
        if any(p.freshness for p in args.pipelines):
            self._add_freshness_absent_policy(everyone)
            self._create_freshness_check()
        self._add_workflows_policy(everyone)
        if args.ingest_services:
            self._add_dead_letter_policy(everyone)
        self._add_server_error_policy(everyone)
        self.policy_names = {k: p.name for k, p in self.policies.items()}
        self.register_outputs({"policies": self.policy_names})

    # --- channels and metrics ------------------------------------------------------------------

    def _create_channel(self, channel: ChannelConfig) -> monitoring.NotificationChannel:
        project = self._args.project
        target: pulumi.Input[str] = channel.target
        label = {"email": "email_address", "webhook": "url", "pubsub": "topic"}[channel.kind]
        if channel.kind == "pubsub":
            target = f"projects/{project}/topics/{channel.target}"
            number = organizations.get_project_output(project_id=project).number
            # https://cloud.google.com/monitoring/support/notification-options#pubsub
            pubsub.TopicIAMMember(
                f"alerts-publisher-{channel.name}",
                project=project,
                topic=channel.target,
                role="roles/pubsub.publisher",
                member=number.apply(
                    lambda n: (
                        f"serviceAccount:service-{n}@gcp-sa-monitoring-notification"
                        ".iam.gserviceaccount.com"
                    )
                ),
                opts=self._child,
            )
        return monitoring.NotificationChannel(
            f"channel-{channel.name}",
            project=project,
            display_name=f"dayflow {self._args.environment}: {channel.name}",
            type=_CHANNEL_TYPES[channel.kind],
            labels={label: target},
            user_labels=dict(self._args.labels),
            opts=self._child,
        )

    def _log_metric(
        self, key: str, description: str, log_filter: pulumi.Input[str], extractors: dict[str, str]
    ) -> logging.Metric:
        """A counter of the log entries matching `log_filter`, labelled by `extractors`."""
        return logging.Metric(
            f"metric-{key.replace('_', '-')}",
            project=self._args.project,
            name=f"dayflow/{key}",
            description=f"dayflow: {description}",
            filter=log_filter,
            metric_descriptor={
                "metric_kind": "DELTA",
                "value_type": "INT64",
                "labels": [{"key": label, "value_type": "STRING"} for label in extractors],
            },
            label_extractors=extractors,
            opts=self._child,
        )

    def _create_metrics(self) -> dict[str, logging.Metric]:
        args = self._args
        runner = pulumi.Output.from_input(args.job_runner_service)
        metrics = {
            "run_failed": self._log_metric(
                "run_failed",
                "runs that failed permanently (after their retries)",
                runner.apply(
                    lambda s: (
                        _service_filter([s]) + ' AND jsonPayload.status="failed"'
                        ' AND jsonPayload.error_kind="permanent"'
                    )
                ),
                {key: f"EXTRACT(labels.{key})" for key in ("pipeline", "job", "partition_key")},
            ),
            "freshness": self._log_metric(
                "freshness_checks",
                "freshness checks per pipeline, stale or not",
                runner.apply(lambda s: _service_filter([s]) + " AND jsonPayload.freshness_stale:*"),
                {
                    "pipeline": "EXTRACT(labels.pipeline)",
                    "stale": "EXTRACT(jsonPayload.freshness_stale)",
                },
            ),
        }
        if args.ingest_services:
            metrics["dead_lettered"] = self._log_metric(
                "dead_lettered",
                "events the ingest functions dead-lettered, by reason",
                _service_filter(list(args.ingest_services))
                + " AND severity=WARNING AND labels.reason:*",
                {"topic": "EXTRACT(labels.topic)", "reason": "EXTRACT(labels.reason)"},
            )
        return metrics

    # --- policies ------------------------------------------------------------------------------

    def _policy(
        self,
        key: str,
        display_name: str,
        conditions: list[dict[str, object]],
        channels: tuple[str, ...],
        runbook: str,
        depends_on: list[pulumi.Resource],
        severity: str = "ERROR",
    ) -> None:
        args = self._args
        self.policies[key] = monitoring.AlertPolicy(
            f"alert-{key}",
            project=args.project,
            display_name=f"dayflow {args.environment}: {display_name}",
            combiner="OR",
            conditions=conditions,
            notification_channels=[self.channels[c].name for c in channels],
            severity=severity,
            documentation={
                "mime_type": "text/markdown",
                "subject": f"dayflow {args.environment}: {display_name}",
                "content": runbook,
            },
            alert_strategy={"auto_close": "86400s"},
            user_labels=dict(args.labels),
            opts=with_depends_on(self._child, *depends_on),
        )

    def _add_run_failed_policy(self, pipeline: PipelineAlerts) -> None:
        env, name = self._args.environment, pipeline.name
        metric = self.metrics["run_failed"]
        key = "${metric.label.partition_key}"
        self._policy(
            f"run-failed-{name}",
            f"a run of {name} failed",
            [_count_above(
                f"{name}: a run failed permanently",
                f'metric.type="logging.googleapis.com/user/{RUN_FAILED_METRIC}"'
                f' AND resource.type="cloud_run_revision" AND metric.label.pipeline="{name}"',
                60,
            )],
            pipeline.channels,
            f"Job `${{metric.label.job}}` of pipeline `{name}` failed for partition `{key}` after "
            "its retries.\n\n"
            f"1. Read the error: `dayflow status {name} --start {key} --end {key} --errors "
            f"--env {env}`\n"
            f"2. Fix the cause, then rerun what failed: `dayflow backfill {name} --start {key} "
            f"--end {key} --only failed --env {env}`\n",
            [metric],
        )  # fmt: skip

    def _add_freshness_policy(self, pipeline: PipelineAlerts) -> None:
        env, name = self._args.environment, pipeline.name
        self._policy(
            f"freshness-{name}",
            f"{name} is stale (older than {pipeline.freshness})",
            [_count_above(
                f"{name}: newest complete partition older than {pipeline.freshness}",
                f'metric.type="logging.googleapis.com/user/{FRESHNESS_METRIC}"'
                f' AND resource.type="cloud_run_revision" AND metric.label.pipeline="{name}"'
                ' AND metric.label.stale="true"',
                900,
            )],
            pipeline.channels,
            f"Pipeline `{name}` has no complete partition newer than {pipeline.freshness}: runs "
            "fail, or its schedule stopped.\n\n"
            f"1. See what is missing or failed: `dayflow status {name} --env {env}`\n"
            f"2. Check its schedule: `dayflow schedule list --env {env}`\n"
            f"3. Fill the gap: `dayflow backfill {name} --start FIRST --end LAST --only missing "
            f"--env {env}` (or `--only failed`)\n",
            [self.metrics["freshness"]],
        )  # fmt: skip

    def _add_freshness_absent_policy(self, channels: tuple[str, ...]) -> None:
        env = self._args.environment
        self._policy(
            "freshness-check-stopped",
            "the freshness check stopped",
            [{
                "display_name": "no freshness check reported for an hour",
                "condition_absent": {
                    "filter": f'metric.type="logging.googleapis.com/user/{FRESHNESS_METRIC}"'
                    ' AND resource.type="cloud_run_revision"',
                    "duration": f"{FRESHNESS_ABSENT_SECONDS}s",
                    "aggregations": [
                        {"alignment_period": "900s", "per_series_aligner": "ALIGN_SUM"}
                    ],
                    "trigger": {"count": 1},
                },
            }],
            channels,
            f"Cloud Scheduler job `{FRESHNESS_JOB_NAME}` has not reached the job-runner's "
            "POST /freshness/check for an hour, so stale pipelines would go unnoticed.\n\n"
            f"1. Freshness now: `dayflow status --env {env}`\n"
            f"2. The job: `gcloud scheduler jobs describe {FRESHNESS_JOB_NAME}` "
            "(paused? failing?)\n",
            [self.metrics["freshness"]],
        )  # fmt: skip

    def _add_workflows_policy(self, channels: tuple[str, ...]) -> None:
        env = self._args.environment
        names = pulumi.Output.all(*self._args.workflow_names.values()).apply(
            lambda ns: " OR ".join(_quote(str(n)) for n in ns)
        )
        self._policy(
            "workflows-failed",
            "a Workflows execution failed",
            [_count_above(
                "a run_partition, backfill or backfill_chunk execution failed",
                names.apply(
                    lambda ns: 'metric.type="workflows.googleapis.com/finished_execution_count"'
                    ' AND resource.type="workflows.googleapis.com/Workflow"'
                    f' AND metric.label.status="FAILED" AND resource.label.workflow_id=({ns})'
                ),
                300,
            )],
            channels,
            "A dayflow Workflows execution (`${resource.label.workflow_id}`) failed: a partition "
            "failed for good, or a backfill ended with failed partitions.\n\n"
            f"1. Find it: `dayflow executions PIPELINE --env {env}` (summary counts per backfill)\n"
            f"2. Errors per partition: `dayflow status PIPELINE --start A --end B --errors "
            f"--env {env}`\n"
            f"3. Rerun what failed: `dayflow backfill PIPELINE --start A --end B --only failed "
            f"--env {env}`\n",
            [],
        )  # fmt: skip

    def _add_dead_letter_policy(self, channels: tuple[str, ...]) -> None:
        env = self._args.environment
        self._policy(
            "dead-lettered",
            "events were dead-lettered",
            [_count_above(
                "events dead-lettered by the ingest functions",
                f'metric.type="logging.googleapis.com/user/{DEAD_LETTER_METRIC}"'
                ' AND resource.type="cloud_run_revision"',
                300,
            )],
            channels,
            "Events of topic `${metric.label.topic}` were dead-lettered (`${metric.label.reason}`):"
            " nothing is lost, each is a row of the dead-letter table with its detail and raw "
            "bytes.\n\n"
            "1. Read them: `SELECT received_at, topic, reason, detail FROM "
            f"{self._args.dead_letter_table} ORDER BY received_at DESC LIMIT 50`\n"
            "2. Fix the producer or the topic's schema in dayflow.yaml (`dayflow contract check`);"
            f" republish the raw bytes once fixed. Environment: {env}.\n",
            [self.metrics["dead_lettered"]],
            severity="WARNING",
        )  # fmt: skip

    def _add_server_error_policy(self, channels: tuple[str, ...]) -> None:
        env = self._args.environment
        runner = pulumi.Output.from_input(self._args.job_runner_service)
        self._policy(
            "job-runner-5xx",
            "the job-runner answers 5xx",
            [_count_above(
                f"more than {SERVER_ERRORS_PER_5_MINUTES} 5xx answers in 5 minutes",
                runner.apply(
                    lambda s: 'metric.type="run.googleapis.com/request_count"'
                    ' AND resource.type="cloud_run_revision"'
                    f' AND resource.label.service_name="{s}"'
                    ' AND metric.label.response_code_class="5xx"'
                ),
                300, threshold=SERVER_ERRORS_PER_5_MINUTES, sum_series=True,
            )],
            channels,
            "The job-runner answered 5xx repeatedly: BigQuery or Workflows unavailable (503, "
            "retried by callers), or unexpected errors (500).\n\n"
            "1. Its error lines: Logs Explorer, `resource.labels.service_name=\"${resource.label."
            "service_name}\" AND severity>=ERROR` (each 500 names its request id)\n"
            f"2. What it affected: `dayflow status --env {env}`\n",
            [],
        )  # fmt: skip

    def _create_freshness_check(self) -> None:
        args = self._args
        base = pulumi.Output.from_input(args.job_runner_uri)
        opts = self._child
        if args.scheduler_invoker_grant is not None:
            opts = with_depends_on(opts, args.scheduler_invoker_grant)
        self.freshness_check = cloudscheduler.Job(
            "freshness-check",
            project=args.project,
            region=args.scheduler_region,
            name=FRESHNESS_JOB_NAME,
            description="dayflow: checks every pipeline's freshness (the freshness alerts read it)",
            schedule=FRESHNESS_CHECK_CRON,
            time_zone="Etc/UTC",
            paused=args.schedule_paused,
            attempt_deadline="120s",
            http_target={
                "uri": base.apply(lambda u: f"{u.rstrip('/')}/freshness/check"),
                "http_method": "POST",
                "oidc_token": {
                    "service_account_email": args.scheduler_service_account_email,
                    "audience": base,
                },
            },
            opts=opts,
        )
