"""Writes for clinical objects, one module per area.

Each service is atomic and audited; side effects run on commit."""
