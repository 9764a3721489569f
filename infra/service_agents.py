"""Google-managed service agents of the project, as IAM members.

Their emails embed the project number, which the spec does not hold: one `getProject` lookup
reads it. Pub/Sub's agent exists once the API is enabled; Dataform's once a repository exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import organizations


@dataclass(frozen=True)
class ServiceAgents:
    pubsub_member: pulumi.Output[str]
    dataform_member: pulumi.Output[str]


def get_service_agents(project: str) -> ServiceAgents:
    number = organizations.get_project_output(project_id=project).number

    def member(domain: str) -> pulumi.Output[str]:
        return number.apply(
            lambda n: f"serviceAccount:service-{n}@{domain}.iam.gserviceaccount.com"
        )

    return ServiceAgents(
        pubsub_member=member("gcp-sa-pubsub"),
        dataform_member=member("gcp-sa-dataform"),
    )
