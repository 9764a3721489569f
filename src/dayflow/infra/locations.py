"""Where Cloud Scheduler runs: Google's location list, and the stack's scheduler region.

Cloud Scheduler is not offered in every region Cloud Run and Workflows are (europe-north1, the
example spec's region, is one without it), so the schedules may need a region of their own.
A job in another region still calls the job-runner by URL with an OIDC token; only where the
job lives changes.
"""

from __future__ import annotations

# Regions where Cloud Scheduler is available, from https://cloud.google.com/scheduler/docs/locations
# (the Americas, Europe, Asia Pacific and Middle East tables), with the additions announced in
# https://cloud.google.com/scheduler/docs/release-notes (April 17, 2026: europe-west4,
# me-central1, me-central2, me-west1; September 18, 2026: asia-southeast3; September 24, 2026:
# asia-south2, europe-west12, northamerica-northeast2). Google adds regions over time: when a
# region is missing here but listed on that page, add it (with the date it was announced).
SCHEDULER_REGIONS: frozenset[str] = frozenset(
    {
        # Americas
        "northamerica-northeast1",
        "northamerica-northeast2",
        "southamerica-east1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
        # Europe
        "europe-central2",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west12",
        # Asia Pacific
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "asia-southeast3",
        "australia-southeast1",
        # Middle East
        "me-central1",
        "me-central2",
        "me-west1",
    }
)


def get_scheduler_region(configured: str | None, region: str) -> str:
    """The region of the stack's Cloud Scheduler jobs.

    `configured` (stack config `schedulerRegion`) wins; unset, the stack's own `region` is used
    when Cloud Scheduler runs there. Raises ValueError naming the supported regions otherwise.
    """
    supported = ", ".join(sorted(SCHEDULER_REGIONS))
    if configured:
        if configured not in SCHEDULER_REGIONS:
            raise ValueError(
                f"{configured!r} has no Cloud Scheduler (expected one of: {supported})"
            )
        return configured
    if region not in SCHEDULER_REGIONS:
        raise ValueError(
            f"missing, and the stack's region {region!r} has no Cloud Scheduler (expected "
            f"schedulerRegion set to one of: {supported}; e.g. europe-west1 near europe-north1)"
        )
    return region
