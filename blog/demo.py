"""Demo articles for `make run`: published, in review and sent back. Idempotent."""

from clinic.models import Doctor
from core.models import User


def demo_articles_seed(*, clara: Doctor, omar: Doctor, editor: User) -> None:
    """A few published articles by the demo doctors, reviewed by the demo editor, and one
    waiting in the "Medical review" workflow."""
