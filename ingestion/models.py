"""Ingestion ledger models (the file ledger arrives with event-driven ingestion)."""
