"""The analytics dashboard on the Wagtail admin home."""
