"""One Pulumi `ComponentResource` per module; each docstring lists what it creates."""

from __future__ import annotations

import pulumi


def get_child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None
) -> pulumi.ResourceOptions:
    """Options for a component's children: parented to it, waiting for what it waits for.

    Pulumi does not pass a component's `depends_on` on to its children, so each component
    hands it down itself: the APIs a component needs are enabled before any child is created.
    """
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None)


def with_depends_on(
    opts: pulumi.ResourceOptions, *resources: pulumi.Resource
) -> pulumi.ResourceOptions:
    """`opts` plus `resources` to wait for (e.g. the IAM grants a resource relies on)."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(resources)))
