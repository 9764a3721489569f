"""EventIngest: per topic, a Pub/Sub topic, its dead-letter topic, and the ingest Cloud Function.

Delivery, and why there are two modes: a gen2 function's Eventarc trigger creates and owns its
Pub/Sub subscription, and the Function resource cannot give that subscription a dead-letter
policy. With Eventarc, a message that keeps failing is retried until the subscription's
retention runs out and is then lost. So the default, `push`, has no Eventarc trigger: infra owns
a push subscription to the function's URL (OIDC-authenticated) with exponential retry and a
dead-letter policy, and nothing is dropped. `eventarc` deploys the Eventarc Pub/Sub trigger
(`RETRY_POLICY_RETRY`) for teams that prefer it; the function still dead-letters invalid
messages to the dead-letter table itself, so only messages that crash it are at risk there.
Either way the function is invoked as a CloudEvent: functions-framework converts a push envelope,
taking the topic from the request path, so push endpoints end in `/projects/P/topics/T`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_gcp import (
    artifactregistry,
    cloudfunctionsv2,
    cloudrunv2,
    projects,
    pubsub,
    serviceaccount,
    storage,
)

from dayflow.infra.components import get_child_options, with_depends_on
from dayflow.infra.config import IngestDelivery
from dayflow.infra.naming import get_bucket_name, get_service_name
from dayflow.infra.source_archive import build_source_archive

# Where functions/ingest_events reads its topic config (beside main.py).
CONFIG_FILE_NAME = "ingest_config.json"
PUBSUB_MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
# Pub/Sub's ceiling for message retention: 7 days.
MAX_RETENTION = "604800s"


@dataclass(frozen=True)
class EventIngestArgs:
    project: str
    region: str
    topics: tuple[str, ...]
    source_dir: Path
    # `dayflow.ingest_config`: the topic config bundled as `ingest_config.json`, and env vars.
    ingest_config: Mapping[str, Any]
    env_vars: Mapping[str, str]
    function_service_account_email: pulumi.Input[str]
    # The identity that invokes the function: the push subscription's OIDC account, or Eventarc's.
    invoker_service_account_id: pulumi.Input[str]
    invoker_service_account_email: pulumi.Input[str]
    invoker_member: pulumi.Input[str]
    build_service_account_id: pulumi.Input[str]
    build_member: pulumi.Input[str]
    pubsub_agent_member: pulumi.Input[str]
    delivery: IngestDelivery
    max_instances: int
    labels: Mapping[str, str]
    deletion_protection: bool
    entry_point: str = "ingest_event"
    runtime: str = "python313"
    timeout_seconds: int = 60
    max_delivery_attempts: int = 10


def get_push_endpoint(
    service_uri: pulumi.Output[str], project: str, topic: str
) -> pulumi.Output[str]:
    """The function's URL plus `/projects/<project>/topics/<topic>`, where it reads the topic."""
    return service_uri.apply(lambda uri: f"{uri.rstrip('/')}/projects/{project}/topics/{topic}")


class EventIngest(pulumi.ComponentResource):
    """Creates the event ingestion path of every topic.

    Creates, once:
    - `storage.Bucket` `<project>-dayflow-sources` and the function source as a
      `storage.BucketObject` named by content hash (`ingest_events/<sha256[:16]>.zip`);
      one function per topic shares it (each scales, fails and is throttled on its own);
    - `artifactregistry.Repository` `dayflow-functions` for the built images (keeps the newest 5);
    - for the build account: `roles/logging.logWriter`, object viewer on the bucket, writer on
      the repository; for the invoker account in `eventarc` mode `roles/eventarc.eventReceiver`;
      in `push` mode, the Pub/Sub service agent may mint the invoker's OIDC tokens.
    Creates, per topic:
    - `pubsub.Topic` `<topic>` and `<topic>-dead-letter`, with a `<topic>-dead-letter-hold` pull
      subscription that keeps dead letters 7 days (a dead-letter topic without one drops them);
    - `cloudfunctionsv2.Function` `ingest-<topic>` from the archive, with its env vars (the
      archive bundles `ingest_config.json`, the spec's topic schemas for this environment, so a
      schema change changes the hash and redeploys);
    - `roles/run.invoker` on the function for the invoker account only;
    - `push`: `pubsub.Subscription` `<topic>-ingest` pushing to the function with OIDC, retry and
      dead-letter policy, and the Pub/Sub service agent as publisher on the dead-letter topic and
      subscriber on that subscription; `eventarc`: the function's Pub/Sub event trigger.

    Secure defaults: internal-only function ingress, IAM-checked invocation, a dedicated build
    account, a private bucket (uniform access, public access prevention enforced).
    """

    def __init__(
        self, name: str, args: EventIngestArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:EventIngest", name, None, opts)
        child = self._child = get_child_options(self, opts)
        labels = dict(args.labels)
        policy = "PREVENT" if args.deletion_protection else "DELETE"

        bucket = storage.Bucket(
            "sources",
            project=args.project,
            name=get_bucket_name(args.project, "sources"),
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=not args.deletion_protection,
            labels=labels,
            opts=child,
        )
        source = build_source_archive(
            args.source_dir,
            {CONFIG_FILE_NAME: json.dumps(args.ingest_config, indent=2, sort_keys=True) + "\n"},
        )
        archive = storage.BucketObject(
            "source-archive",
            bucket=bucket.name,
            name=source.object_name,
            source=source.archive,
            opts=child,
        )
        repository = artifactregistry.Repository(
            "images",
            project=args.project,
            location=args.region,
            repository_id="dayflow-functions",
            format="DOCKER",
            description="dayflow: images built for the ingest functions",
            labels=labels,
            cleanup_policies=[
                {"id": "keep-newest", "action": "KEEP", "most_recent_versions": {"keep_count": 5}},
                {"id": "delete-rest", "action": "DELETE", "condition": {"tag_state": "ANY"}},
            ],
            opts=child,
        )
        # What Google requires of a custom Cloud Build account for functions, and no more:
        # roles/logging.logWriter, roles/artifactregistry.writer on the image repository, and
        # roles/storage.objectViewer on the source bucket
        # (https://cloud.google.com/functions/docs/securing/build-custom-sa, "Grant permissions").
        build_grants: list[pulumi.Resource] = [
            projects.IAMMember(
                "build-log-writer",
                project=args.project,
                role="roles/logging.logWriter",
                member=args.build_member,
                opts=child,
            ),
            storage.BucketIAMMember(
                "build-source-reader",
                bucket=bucket.name,
                role="roles/storage.objectViewer",
                member=args.build_member,
                opts=child,
            ),
            artifactregistry.RepositoryIamMember(
                "build-image-writer",
                project=args.project,
                location=args.region,
                repository=repository.name,
                role="roles/artifactregistry.writer",
                member=args.build_member,
                opts=child,
            ),
        ]
        # The invoker's grants: functions (eventarc) or push subscriptions wait for them.
        invoker_grants: list[pulumi.Resource] = []
        if args.delivery == "eventarc":
            receiver = projects.IAMMember(
                "invoker-event-receiver",
                project=args.project,
                role="roles/eventarc.eventReceiver",
                member=args.invoker_member,
                opts=child,
            )
            invoker_grants.append(receiver)
        else:
            # Pub/Sub mints the push subscriptions' OIDC tokens as the invoker account.
            token_creator = serviceaccount.IAMMember(
                "pubsub-agent-token-creator",
                service_account_id=args.invoker_service_account_id,
                role="roles/iam.serviceAccountTokenCreator",
                member=args.pubsub_agent_member,
                opts=child,
            )
            invoker_grants.append(token_creator)

        self.topics: dict[str, pubsub.Topic] = {}
        self.dead_letter_topics: dict[str, pubsub.Topic] = {}
        self.functions: dict[str, cloudfunctionsv2.Function] = {}
        self.subscriptions: dict[str, pubsub.Subscription] = {}
        for t in args.topics:
            self.topics[t] = pubsub.Topic(
                f"topic-{t}", project=args.project, name=t, labels=labels, opts=child
            )
            dead_letter = self.dead_letter_topics[t] = pubsub.Topic(
                f"dead-letter-{t}",
                project=args.project,
                name=f"{t}-dead-letter",
                labels=labels,
                opts=child,
            )
            pubsub.Subscription(
                f"dead-letter-hold-{t}",
                project=args.project,
                name=f"{t}-dead-letter-hold",
                topic=dead_letter.id,
                ack_deadline_seconds=60,
                message_retention_duration=MAX_RETENTION,
                expiration_policy={"ttl": ""},  # never expires, even when nobody pulls
                labels=labels,
                deletion_policy=policy,
                opts=child,
            )

            event_trigger: cloudfunctionsv2.FunctionEventTriggerArgsDict | None = None
            if args.delivery == "eventarc":
                event_trigger = {
                    "trigger_region": args.region,
                    "event_type": PUBSUB_MESSAGE_PUBLISHED,
                    "pubsub_topic": self.topics[t].id,
                    "retry_policy": "RETRY_POLICY_RETRY",
                    "service_account_email": args.invoker_service_account_email,
                }
            function = self.functions[t] = cloudfunctionsv2.Function(
                f"function-{t}",
                project=args.project,
                location=args.region,
                name=get_service_name("ingest", t),
                description=f"dayflow: ingests topic {t} into BigQuery",
                labels=labels,
                build_config={
                    "runtime": args.runtime,
                    "entry_point": args.entry_point,
                    "source": {"storage_source": {"bucket": bucket.name, "object": archive.name}},
                    "service_account": args.build_service_account_id,
                    "docker_repository": repository.id,
                },
                service_config={
                    "service_account_email": args.function_service_account_email,
                    "environment_variables": dict(args.env_vars),
                    "ingress_settings": "ALLOW_INTERNAL_ONLY",
                    "all_traffic_on_latest_revision": True,
                    "min_instance_count": 0,
                    "max_instance_count": args.max_instances,
                    # functions-framework serves requests on threads: a few at once per instance.
                    "max_instance_request_concurrency": 8,
                    "available_cpu": "1",
                    "available_memory": "512Mi",
                    "timeout_seconds": args.timeout_seconds,
                },
                event_trigger=event_trigger,
                opts=with_depends_on(child, *build_grants, *invoker_grants),
            )
            # A gen2 function is served by the Cloud Run service of the same name.
            run_invoker = cloudrunv2.ServiceIamMember(
                f"invoker-{t}",
                project=args.project,
                location=args.region,
                name=function.name,
                role="roles/run.invoker",
                member=args.invoker_member,
                opts=child,
            )
            if args.delivery == "push":
                self._add_push_subscription(
                    args, t, function, dead_letter, labels, policy, [run_invoker, *invoker_grants]
                )

        self.topic_names = {k: v.name for k, v in self.topics.items()}
        self.function_urls = {k: v.url for k, v in self.functions.items()}
        self.register_outputs({"topics": self.topic_names, "function_urls": self.function_urls})

    def _add_push_subscription(
        self,
        args: EventIngestArgs,
        t: str,
        function: cloudfunctionsv2.Function,
        dead_letter: pubsub.Topic,
        labels: dict[str, str],
        policy: str,
        grants: list[pulumi.Resource],
    ) -> None:
        """A push subscription, created after every grant its delivery relies on.

        It waits for the invoker's run.invoker on the function and the Pub/Sub agent's right to
        mint the invoker's tokens (else the first pushes are refused), and for the agent's
        publisher grant on the dead-letter topic (else dead letters are lost).
        """
        child = self._child
        # Forwarding to the dead-letter topic is done by the Pub/Sub service agent.
        publisher = pubsub.TopicIAMMember(
            f"dead-letter-publisher-{t}",
            project=args.project,
            topic=dead_letter.name,
            role="roles/pubsub.publisher",
            member=args.pubsub_agent_member,
            opts=child,
        )
        # Cloud Run's own URL: it accepts any path, and is an audience it always accepts.
        service_uri: pulumi.Output[str] = function.service_config.uri
        subscription = self.subscriptions[t] = pubsub.Subscription(
            f"push-{t}",
            project=args.project,
            name=f"{t}-ingest",
            topic=self.topics[t].id,
            # Pub/Sub waits this long for the function's answer before redelivering.
            ack_deadline_seconds=args.timeout_seconds,
            push_config={
                "push_endpoint": get_push_endpoint(service_uri, args.project, t),
                "oidc_token": {
                    "service_account_email": args.invoker_service_account_email,
                    "audience": service_uri,
                },
            },
            retry_policy={"minimum_backoff": "10s", "maximum_backoff": "600s"},
            dead_letter_policy={
                "dead_letter_topic": dead_letter.id,
                "max_delivery_attempts": args.max_delivery_attempts,
            },
            message_retention_duration=MAX_RETENTION,
            expiration_policy={"ttl": ""},
            labels=labels,
            deletion_policy=policy,
            opts=with_depends_on(child, *grants, publisher),
        )
        # The agent acknowledges what it forwards to the dead-letter topic.
        pubsub.SubscriptionIAMMember(
            f"dead-letter-subscriber-{t}",
            project=args.project,
            subscription=subscription.name,
            role="roles/pubsub.subscriber",
            member=args.pubsub_agent_member,
            opts=child,
        )
