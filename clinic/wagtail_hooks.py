"""Wagtail loads this module; each CMS screen for clinic data lives in `clinic/cms/` and
registers itself there."""

from clinic.cms import doctors, oversight, sos  # noqa: F401
