"""Reads of the editorial review queue: articles in the "Medical review" workflow."""


def articles_awaiting_review(limit: int = 50) -> list:
    """Articles in the "Medical review" workflow waiting for an editor, oldest first."""
    return []
