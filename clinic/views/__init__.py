"""Clinic pages, one module per area: appointments (patients), directory and booking, doctor."""
