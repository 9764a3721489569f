"""Operators: the one account people impersonate to call the deployed job-runner."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import serviceaccount

from dayflow.infra.components import get_child_options


@dataclass(frozen=True)
class OperatorsArgs:
    # The operator service account (`projects/<p>/serviceAccounts/<email>`).
    service_account_id: pulumi.Input[str]
    # IAM members of people or groups (stack config `operators`).
    operators: tuple[str, ...]


class Operators(pulumi.ComponentResource):
    """Lets each operator impersonate the operator service account, and nothing more.

    A person's credentials (`gcloud auth application-default login`) cannot mint an ID token
    for the job-runner's audience; an impersonated service account can. So the CLI's
    `--impersonate-service-account` (and the spec's `impersonate_service_account`) name this
    account, which the stack makes an invoker of the job-runner and of Workflows.

    Creates:
    - `serviceaccount.IAMMember` `roles/iam.serviceAccountTokenCreator` for each operator, on
      the operator account only (never at project level).

    Secure defaults: the grant is per account, so an operator cannot mint tokens of any other
    account of the project.
    """

    def __init__(
        self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:Operators", name, None, opts)
        child = get_child_options(self, opts)
        # Used by the CLI's impersonation in GCP only (no local call records it).
        for i, member in enumerate(args.operators):
            serviceaccount.IAMMember(
                f"operator-token-creator-{i}",
                service_account_id=args.service_account_id,
                role="roles/iam.serviceAccountTokenCreator",
                member=member,
                opts=child,
            )
        self.register_outputs({})
