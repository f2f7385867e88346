"""The analytics dashboard on the Wagtail admin home.

A home panel (a Wagtail `Component`) shown to those who may oversee appointments
(`clinic.view_appointment`: the admins). Its figures come from `core.analytics`, a fixed number
of aggregate queries; the charts are drawn by the vendored Chart.js from figures handed over
with `json_script`, and every chart has the same numbers in a table for those who cannot see
the canvas.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from wagtail import hooks
from wagtail.admin.ui.components import Component

from core.analytics import WINDOW_DAYS, AnalyticsDashboard, analytics_dashboard

VIEW_PERMISSION = "clinic.view_appointment"


def duration_text(duration: timedelta | None) -> str:
    """A response time as people say it: "45 s", "2 min 05 s", "1 h 03 min"."""
    if duration is None:
        return "—"
    seconds = round(duration.total_seconds())
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": seconds}
    return _("%(seconds)d s") % {"seconds": seconds}


def chart_payload(dashboard: AnalyticsDashboard) -> dict:
    """The charts' figures with display labels for their axes."""
    data = dashboard.chart_data()
    data["daily"]["display"] = [date_format(day, "j M") for day in dashboard.daily.days]
    data["patients"]["display"] = [date_format(w.week_start, "j M") for w in dashboard.weeks]
    return data


class AnalyticsPanel(Component):
    name = "analytics"
    # Before Wagtail's own panels (100 and up): it is what an admin comes to the CMS home for.
    order = 50
    template_name = "core/cms/analytics_panel.html"

    class Media:
        js = ["vendor/chartjs/chart.umd.min.js", "js/cms-analytics.js"]
        css = {"all": ["css/cms-analytics.css"]}

    def get_context_data(self, parent_context: Mapping[str, Any] | None = None) -> dict:
        dashboard = analytics_dashboard()
        return {
            "dashboard": dashboard,
            "window_days": WINDOW_DAYS,
            "chart_data": chart_payload(dashboard),
            "sos_median": duration_text(dashboard.sos.median),
            "sos_p95": duration_text(dashboard.sos.p95),
        }


@hooks.register("construct_homepage_panels")
def add_analytics_panel(request, panels) -> None:
    if request.user.has_perm(VIEW_PERMISSION):
        panels.append(AnalyticsPanel())
