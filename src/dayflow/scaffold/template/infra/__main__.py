"""Pulumi entry point of this project: dayflow's Pulumi program (dayflow.infra), for
the spec beside Pulumi.yaml."""

from pathlib import Path

from dayflow.infra.program import run

run(Path(__file__).resolve().parent.parent)
