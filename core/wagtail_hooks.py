"""Wagtail loads this module; each CMS screen of core's lives in `core/cms/` and registers
itself there."""

from core.cms import analytics, audit, users  # noqa: F401
