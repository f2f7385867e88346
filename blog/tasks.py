"""Periodic jobs of the articles section."""


def articles_publish_scheduled() -> None:
    """Publish approved articles whose go-live time has come, and unpublish expired ones."""
