"""'My patients': everyone who has had, or has, an appointment with the signed-in doctor."""

from datetime import date

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from clinic.permissions import get_doctor_for_user
from clinic.scheduling import hospital_zone
from clinic.selectors import doctor_patients
from core.htmx import render_page
from core.models import AuditEvent, Role
from core.permissions import role_required
from core.services import audit_record

PAGE_SIZE = 25


class PatientSearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@require_GET
@role_required(Role.DOCTOR)
def patient_list(request: HttpRequest) -> HttpResponse:
    """The doctor's patients, searched by name and paginated; the list is a read of who sees
    which doctor, so it is audited."""
    doctor = get_doctor_for_user(request)
    form = PatientSearchForm(request.GET)
    q = form.cleaned_data["q"] if form.is_valid() else ""
    now = timezone.now()
    page = Paginator(doctor_patients(doctor, now=now, q=q), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    today = timezone.localdate(now, hospital_zone())
    for patient in page.object_list:
        patient.age = _age(patient.date_of_birth, today)
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=request.user,
        request=request,
        target=doctor,
        details={"list": "my_patients", "q": q, "page": page.number},
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "clinic/doctor_patients.html",
        {"form": form, "page": page, "query": query.urlencode()},
        partials={"patient-results": "results"},
    )
