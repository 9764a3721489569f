"""The status page under /ui: server-rendered pipelines, partition grid, runs and backfills."""
