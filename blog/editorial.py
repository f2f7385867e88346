"""The editorial set-up: who may do what in the articles section, and the "Medical review"
workflow. Idempotent; run after every migrate and by `manage.py setup_roles`."""


def editorial_setup() -> None:
    """Grant page and image permissions to the doctor and editor groups and attach the
    "Medical review" workflow to the article index."""
