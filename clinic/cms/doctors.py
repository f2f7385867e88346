"""CMS screen of doctor applications: filter, inspect, verify or reject. Admins only."""
