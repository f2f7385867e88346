"""CMS screen of users: list and search by role, deactivate, reactivate, reset MFA, change role."""
