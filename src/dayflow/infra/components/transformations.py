"""Transformations: what dbt and Dataform jobs run as, and the managed Dataform repositories."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_gcp import dataform, projects, secretmanager, serviceaccount

from dayflow.infra.components import get_child_options, with_depends_on


@dataclass(frozen=True)
class TransformIdentity:
    """A service account dbt or Dataform jobs run as."""

    account_id: pulumi.Input[str]  # `projects/<p>/serviceAccounts/<email>`
    email: pulumi.Input[str]
    member: pulumi.Input[str]


@dataclass(frozen=True)
class DataformRepo:
    """A managed Dataform repository named in the spec (`managed.repository`)."""

    name: str
    default_branch: str
    git_url: str | None = None


@dataclass(frozen=True)
class TransformationsArgs:
    project: str
    region: str
    job_runner_member: pulumi.Input[str]
    dbt: TransformIdentity | None
    dataform: TransformIdentity | None
    repositories: tuple[DataformRepo, ...]
    # `serviceAccount:service-<number>@gcp-sa-dataform.iam.gserviceaccount.com`
    dataform_agent_member: pulumi.Input[str] | None
    git_token: pulumi.Output[str] | None
    labels: Mapping[str, str]
    deletion_protection: bool


class Transformations(pulumi.ComponentResource):
    """Creates the IAM for dbt and Dataform jobs, and the managed Dataform repositories.

    Creates:
    - for the dbt and Dataform accounts, `roles/bigquery.jobUser` (their dataset roles are
      granted by Warehouse);
    - dbt: the job-runner may mint the dbt account's tokens (dbt-bigquery
      `impersonate_service_account`), so dbt runs with dbt's rights, not the job-runner's;
    - per managed repository, `dataform.Repository` running workflow invocations as the Dataform
      account, `roles/dataform.editor` on it for the job-runner (compile and invoke), and, when a
      git URL is configured, its remote with the token kept in Secret Manager
      (`dataform-git-token`, readable by the Dataform service agent only);
    - the job-runner may mint the Dataform account's tokens (CLI runs impersonate it) and, with
      managed repositories, act as it (strict act-as mode); the Dataform service agent may mint
      its tokens (required when a repository runs as a custom account). Repositories are
      created after these grants and after the agent's access to the git token.

    Secure defaults: every grant is on the one account, repository or secret that needs it; the
    git token is a Pulumi secret and never lands in state in plain text.
    """

    def __init__(
        self, name: str, args: TransformationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:Transformations", name, None, opts)
        child = self._child = get_child_options(self, opts)
        labels = dict(args.labels)

        if args.dbt is not None:
            projects.IAMMember(
                "dbt-job-user",
                project=args.project,
                role="roles/bigquery.jobUser",
                member=args.dbt.member,
                opts=child,
            )
            serviceaccount.IAMMember(
                "dbt-impersonation",
                service_account_id=args.dbt.account_id,
                role="roles/iam.serviceAccountTokenCreator",
                member=args.job_runner_member,
                opts=child,
            )

        self.repositories: dict[str, dataform.Repository] = {}
        if args.dataform is not None:
            self._add_dataform(args, args.dataform, labels)

        self.repository_names = {k: r.name for k, r in self.repositories.items()}
        self.register_outputs({"repository_names": self.repository_names})

    def _add_dataform(
        self, args: TransformationsArgs, identity: TransformIdentity, labels: dict[str, str]
    ) -> None:
        child = self._child
        projects.IAMMember(
            "dataform-job-user",
            project=args.project,
            role="roles/bigquery.jobUser",
            member=identity.member,
            opts=child,
        )
        # CLI-mode Dataform runs use the Dataform account's token, minted by the job-runner.
        serviceaccount.IAMMember(
            "dataform-impersonation",
            service_account_id=identity.account_id,
            role="roles/iam.serviceAccountTokenCreator",
            member=args.job_runner_member,
            opts=child,
        )
        if not args.repositories:
            return
        if args.dataform_agent_member is None:
            raise ValueError("managed Dataform repositories need the Dataform service agent member")

        # Grants the repositories rely on; the agent's member comes from its ServiceIdentity, so
        # each grant to it is made after the agent exists.
        grants: list[pulumi.Resource] = [
            # Creating workflow invocations that run as a custom account needs
            # iam.serviceAccounts.actAs on it: strict act-as mode, enforced for all repositories
            # (https://cloud.google.com/dataform/docs/strict-act-as-mode).
            serviceaccount.IAMMember(
                "dataform-act-as",
                service_account_id=identity.account_id,
                role="roles/iam.serviceAccountUser",
                member=args.job_runner_member,
                opts=child,
            ),
            # A repository running as a custom account needs its agent to mint that account's
            # tokens: "grant the default Dataform service account the Service Account Token
            # Creator role ... to access all custom service accounts you want to use"
            # (https://cloud.google.com/dataform/docs/required-access).
            serviceaccount.IAMMember(
                "dataform-agent-token-creator",
                service_account_id=identity.account_id,
                role="roles/iam.serviceAccountTokenCreator",
                member=args.dataform_agent_member,
                opts=child,
            ),
        ]

        token_version = None
        if args.git_token is not None and any(r.git_url for r in args.repositories):
            secret = secretmanager.Secret(
                "dataform-git-token",
                project=args.project,
                secret_id="dataform-git-token",  # noqa: S106 (the secret's id, not its value)
                replication={"auto": {}},
                labels=labels,
                opts=child,
            )
            token_version = secretmanager.SecretVersion(
                "dataform-git-token",
                secret=secret.id,
                secret_data=args.git_token,
                opts=child,
            )
            grants.append(
                secretmanager.SecretIamMember(
                    "dataform-git-token-accessor",
                    project=args.project,
                    secret_id=secret.secret_id,
                    role="roles/secretmanager.secretAccessor",
                    member=args.dataform_agent_member,
                    opts=child,
                )
            )

        policy = "PREVENT" if args.deletion_protection else "DELETE"
        for repo in args.repositories:
            git: dataform.RepositoryGitRemoteSettingsArgsDict | None = None
            if repo.git_url and token_version is not None:
                git = {
                    "url": repo.git_url,
                    "default_branch": repo.default_branch,
                    "authentication_token_secret_version": token_version.id,
                }
            self.repositories[repo.name] = dataform.Repository(
                f"repository-{repo.name}",
                project=args.project,
                region=args.region,
                name=repo.name,
                display_name=f"dayflow {repo.name}",
                service_account=identity.email,
                git_remote_settings=git,
                labels=labels,
                deletion_policy=policy,
                opts=with_depends_on(child, *grants),
            )
            dataform.RepositoryIamMember(
                f"repository-editor-{repo.name}",
                project=args.project,
                region=args.region,
                repository=self.repositories[repo.name].name,
                role="roles/dataform.editor",
                member=args.job_runner_member,
                opts=child,
            )
