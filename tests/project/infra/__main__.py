"""Pulumi entry point of this project: dayflow's program, for the spec beside Pulumi.yaml."""

from pathlib import Path

from dayflow.infra.program import run

run(Path(__file__).resolve().parent.parent)
