"""The ingest_events function's internals: settings, envelope parsing, validation, BigQuery writes.

Self-contained (no `dayflow` import) so the folder deploys on its own as a Cloud Function gen2.
Every module imports only the standard library, to keep the cold start close to a bare
functions-framework app's.
"""
