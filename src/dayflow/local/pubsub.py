"""The official Pub/Sub emulator in the local stack: detection, start, topics and subscriptions,
and the push bridge that delivers to the ingest function.

For each topic `create_topology` makes:
- the topic `<topic>` and its dead-letter topic `<topic>-dead-letter`;
- a subscription `<topic>-ingest` with a retry policy and a dead-letter policy (after
  `MAX_DELIVERY_ATTEMPTS` failed deliveries a message moves to the dead-letter topic);
- a pull subscription `<topic>-dead-letter-hold` on the dead-letter topic, so that dead-lettered
  messages are kept (Pub/Sub drops messages published to a topic without subscriptions).

Delivery of `<topic>-ingest` to the function, two ways:
- `push`: a push subscription. Faithful, but the emulator pushes one message at a time per
  subscription (it pulls one, pushes, waits for the answer): 12-17 events/s into the local
  BigQuery, where each insert takes 30-100 ms.
- `bridge` (default): a pull subscription read by `PushBridge`, a small process that posts
  the same push envelope to the same endpoint with up to `BRIDGE_CONCURRENCY` deliveries in
  flight, acks on 2xx and nacks otherwise, as Pub/Sub push does. The function then shares each
  insert among concurrent deliveries.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dayflow.local.process import LocalProcess, get_free_port, start_process, stop_process

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

PUBSUB_PROCESS = "pubsub"
BRIDGE_PROCESS = "pubsub-bridge"
Delivery = Literal["push", "bridge"]
# Local delivery retries: quick, so a test or the demo sees a redelivery within seconds
# (Pub/Sub's defaults are 10 s to 600 s).
MAX_DELIVERY_ATTEMPTS = 5
MIN_BACKOFF_SECONDS = 1  # the emulator's minimum
MAX_BACKOFF_SECONDS = 10
ACK_DEADLINE_SECONDS = 120
BRIDGE_CONCURRENCY = 128


@dataclass(frozen=True, slots=True)
class EmulatorCheck:
    """Whether the Pub/Sub emulator can run here: the command to start it, or why not."""

    available: bool
    argv: tuple[str, ...] = ()
    reason: str = ""


def get_dead_letter_topic(topic: str) -> str:
    return f"{topic}-dead-letter"


def get_ingest_subscription(topic: str) -> str:
    return f"{topic}-ingest"


def get_push_endpoint(function_url: str, project: str, topic: str) -> str:
    # functions-framework takes the topic of a raw push envelope from the request path.
    return f"{function_url}/projects/{project}/topics/{topic}"


def find_pubsub_emulator() -> EmulatorCheck:
    """Look for `gcloud` with its `pubsub-emulator` component, and Java to run it."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return EmulatorCheck(False, reason="gcloud is not on PATH")
    sdk_root = Path(gcloud).resolve().parent.parent
    if not (sdk_root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator").is_file():
        return EmulatorCheck(
            False, reason=f"the gcloud component pubsub-emulator is not installed in {sdk_root}"
        )
    if shutil.which("java") is None:
        return EmulatorCheck(False, reason="java is not on PATH (the emulator needs Java 17+)")
    return EmulatorCheck(True, argv=(gcloud, "beta", "emulators", "pubsub", "start"))


def start_pubsub_emulator(
    state_dir: Path, check: EmulatorCheck, port: int | None = None
) -> LocalProcess:
    """Start the Pub/Sub emulator on 127.0.0.1 (its state stays in memory)."""
    port = port or get_free_port()
    data_dir = state_dir / "pubsub"
    data_dir.mkdir(parents=True, exist_ok=True)  # gcloud writes env.yaml there, failing if absent
    argv = [
        *check.argv,
        f"--host-port=127.0.0.1:{port}",
        "--project=local",
        f"--data-dir={data_dir}",
        "--quiet",
    ]
    return start_process(
        PUBSUB_PROCESS,
        argv,
        port=port,
        state_dir=state_dir,
        env={"CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
    )


def make_publisher(host: str | None, *, batch_max_latency: float = 0.01) -> PublisherClient:
    """A Pub/Sub publisher for the emulator at `host` (`127.0.0.1:PORT`), or GCP when None."""
    from google.cloud.pubsub_v1 import PublisherClient, types

    settings = types.BatchSettings(max_latency=batch_max_latency)
    if host is None:
        return PublisherClient(batch_settings=settings)
    import grpc  # type: ignore[import-untyped]
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    # An explicit insecure channel rather than PUBSUB_EMULATOR_HOST: no process-wide state.
    transport = PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    return PublisherClient(batch_settings=settings, transport=transport)


def make_subscriber(host: str) -> SubscriberClient:
    """A Pub/Sub subscriber client for the emulator at `host`."""
    import grpc
    from google.cloud.pubsub_v1 import SubscriberClient
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    transport = SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    return SubscriberClient(transport=transport)


def create_topology(
    host: str,
    project: str,
    topics: Iterable[str],
    function_url: str,
    *,
    delivery: Delivery = "bridge",
) -> None:
    """Create topics, dead-letter topics and subscriptions (see the module docstring).

    Idempotent: existing resources are kept, and push subscriptions are pointed at
    `function_url` (the function may have moved to another port).
    """
    from google.api_core.exceptions import AlreadyExists
    from google.protobuf import duration_pb2
    from google.pubsub_v1 import types

    publisher = make_publisher(host)
    subscriber = make_subscriber(host)
    try:
        for topic in topics:
            topic_path = publisher.topic_path(project, topic)
            dead_letter_path = publisher.topic_path(project, get_dead_letter_topic(topic))
            for path in (topic_path, dead_letter_path):
                with contextlib.suppress(AlreadyExists):
                    publisher.create_topic(name=path)
            hold = subscriber.subscription_path(project, f"{get_dead_letter_topic(topic)}-hold")
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(name=hold, topic=dead_letter_path)
            endpoint = get_push_endpoint(function_url, project, topic)
            push = types.PushConfig(push_endpoint=endpoint if delivery == "push" else "")
            subscription = types.Subscription(
                name=subscriber.subscription_path(project, get_ingest_subscription(topic)),
                topic=topic_path,
                push_config=push,
                ack_deadline_seconds=ACK_DEADLINE_SECONDS,
                dead_letter_policy=types.DeadLetterPolicy(
                    dead_letter_topic=dead_letter_path,
                    max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
                ),
                retry_policy=types.RetryPolicy(
                    minimum_backoff=duration_pb2.Duration(seconds=MIN_BACKOFF_SECONDS),
                    maximum_backoff=duration_pb2.Duration(seconds=MAX_BACKOFF_SECONDS),
                ),
            )
            try:
                subscriber.create_subscription(request=subscription)
            except AlreadyExists:
                subscriber.modify_push_config(subscription=subscription.name, push_config=push)
    finally:
        subscriber.close()
        publisher.transport.close()


# --- the push bridge ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BridgeRoute:
    """Deliver subscription `subscription` (its id) to `endpoint`."""

    subscription: str
    endpoint: str


def start_push_bridge(
    state_dir: Path,
    host: str,
    project: str,
    routes: Sequence[BridgeRoute],
    *,
    message_id_prefix: str = "",
) -> LocalProcess:
    """Start `PushBridge` as a background process (its status page on a free port)."""
    import sys

    port = get_free_port()
    argv = [
        sys.executable,
        "-m",
        "dayflow.local.pubsub",
        "--host",
        host,
        "--project",
        project,
        "--port",
        str(port),
        f"--message-id-prefix={message_id_prefix}",
        *(f"--route={r.subscription}={r.endpoint}" for r in routes),
    ]
    return start_process(BRIDGE_PROCESS, argv, port=port, state_dir=state_dir)


def stop_pubsub(state_dir: Path) -> None:
    """Stop the push bridge and the emulator."""
    stop_process(BRIDGE_PROCESS, state_dir)
    stop_process(PUBSUB_PROCESS, state_dir)


class PushBridge:
    """Delivers pull subscriptions to HTTP endpoints in the Pub/Sub push format, concurrently.

    Each message is posted as `{"message": {...}, "subscription": ...}` (what a push subscription
    sends); a 2xx answer acks it, anything else (or no answer within the ack deadline) nacks it,
    so the subscription's retry and dead-letter policies apply as they would to a push
    subscription. Message ids get `message_id_prefix`: the emulator numbers messages from 1 at
    each start, where Pub/Sub's ids are unique, and the ingest tables outlive the emulator.
    `PULLERS` loops per route each pull a batch, post its messages in parallel,
    then ack and nack the batch in one call each: about 4 times less CPU per message than the
    client library's streaming pull, which matters on a 2-core machine.
    """

    PULLERS = 4

    def __init__(
        self,
        host: str,
        project: str,
        routes: Sequence[BridgeRoute],
        *,
        concurrency: int = BRIDGE_CONCURRENCY,
        message_id_prefix: str = "",
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._project = project
        self._id_prefix = message_id_prefix
        self._routes = routes
        self._batch = max(1, concurrency // self.PULLERS)
        self._subscriber = make_subscriber(host)
        self._pool = ThreadPoolExecutor(concurrency * len(routes), thread_name_prefix="deliver")
        self._http = threading.local()
        self._connections: list[Any] = []  # every connection, to close them on stop
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.counts = {"acked": 0, "nacked": 0}

    def start(self) -> None:
        """Start the pull loops."""
        for route in self._routes:
            for n in range(self.PULLERS):
                thread = threading.Thread(
                    target=self._pull_loop, args=(route,), name=f"{route.subscription}-{n}"
                )
                thread.start()
                self._threads.append(thread)

    def run(self) -> None:
        """Deliver until the process is stopped."""
        self.start()
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        """Stop pulling, finish the deliveries in flight, close the clients."""
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._pool.shutdown(wait=True)
        self._subscriber.close()
        for conn in self._connections:
            conn.close()

    def _pull_loop(self, route: BridgeRoute) -> None:
        from google.api_core import exceptions

        path = self._subscriber.subscription_path(self._project, route.subscription)
        while not self._stopping.is_set():
            try:
                response = self._subscriber.pull(
                    subscription=path, max_messages=self._batch, timeout=10
                )
            except (exceptions.DeadlineExceeded, exceptions.ServiceUnavailable):
                continue
            received = list(response.received_messages)
            if not received:
                self._stopping.wait(0.05)
                continue
            delivered = list(self._pool.map(lambda r: self._deliver(route, r), received))
            acks = [r.ack_id for r, ok in zip(received, delivered, strict=True) if ok]
            nacks = [r.ack_id for r, ok in zip(received, delivered, strict=True) if not ok]
            if acks:
                self._subscriber.acknowledge(subscription=path, ack_ids=acks)
            if nacks:  # a zero deadline makes them available again, after the retry backoff
                self._subscriber.modify_ack_deadline(
                    subscription=path, ack_ids=nacks, ack_deadline_seconds=0
                )
            with self._lock:
                self.counts["acked"] += len(acks)
                self.counts["nacked"] += len(nacks)

    def _deliver(self, route: BridgeRoute, received: Any) -> bool:
        import http.client
        import urllib.parse

        message = received.message
        publish_time = message.publish_time.isoformat().replace("+00:00", "Z")
        envelope = {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": dict(message.attributes),
                "messageId": f"{self._id_prefix}{message.message_id}",
                "publishTime": publish_time,
                **({"orderingKey": message.ordering_key} if message.ordering_key else {}),
            },
            "subscription": f"projects/{self._project}/subscriptions/{route.subscription}",
            **({"deliveryAttempt": received.delivery_attempt} if received.delivery_attempt else {}),
        }
        url = urllib.parse.urlsplit(route.endpoint)
        body = json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json"}
        # One kept-alive connection per delivery thread and endpoint.
        connections = self._http.__dict__.setdefault("connections", {})
        for attempt in (1, 2):
            conn = connections.get(url.netloc)
            if conn is None:
                conn = connections[url.netloc] = http.client.HTTPConnection(
                    url.netloc, timeout=ACK_DEADLINE_SECONDS
                )
                with self._lock:
                    self._connections.append(conn)
            try:
                conn.request("POST", url.path or "/", body, headers)
                response = conn.getresponse()
                response.read()
            except OSError:
                conn.close()
                del connections[url.netloc]
                if attempt == 1:
                    continue  # a kept-alive connection the server closed: try a new one
                return False
            return bool(200 <= response.status < 300)
        return False


def _serve_status(port: int, bridge: PushBridge) -> None:
    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(bridge.counts).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m dayflow.local.pubsub --host H --project P --port N --route SUB=URL ...`"""
    parser = argparse.ArgumentParser(description="Deliver pull subscriptions like push ones.")
    parser.add_argument("--host", required=True, help="the emulator, 127.0.0.1:PORT")
    parser.add_argument("--project", required=True)
    parser.add_argument("--port", type=int, required=True, help="port of the status page")
    parser.add_argument("--route", action="append", default=[], help="SUBSCRIPTION=URL")
    parser.add_argument("--message-id-prefix", default="", help="prepended to message ids")
    args = parser.parse_args(argv)
    routes = [BridgeRoute(*route.split("=", 1)) for route in args.route]
    bridge = PushBridge(args.host, args.project, routes, message_id_prefix=args.message_id_prefix)
    _serve_status(args.port, bridge)
    bridge.run()


if __name__ == "__main__":
    main()
