"""Render a page, or only the named partial of the region an HTMX request targets."""

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def render_page(
    request: HttpRequest,
    template: str,
    context: dict | None = None,
    *,
    partials: dict[str, str] | None = None,
    status: int = 200,
) -> TemplateResponse | HttpResponse:
    """`partials` maps the id of a region on the page to the partial that renders it.

    A non-boosted HTMX request whose target is one of those regions gets just that partial;
    everything else gets the whole page.
    """
    if request.htmx and not request.htmx.boosted and partials:
        partial = partials.get(request.htmx.target or "")
        if partial:
            template = f"{template}#{partial}"
    return TemplateResponse(request, template, context or {}, status=status)
