"""Medical records: writing, review and release, annotations, attachments, the timeline, the
printable summary, and who may open which record URL (with an audit line for every read)."""

import hashlib
import io
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm
from PIL import Image

from clinic.models import (
    LabAnalyte,
    MedicalRecord,
    Patient,
    RecordAnnotation,
    RecordAttachment,
    RecordKind,
)
from clinic.permissions import patient_access
from clinic.selectors import patient_timeline
from clinic.services.records import (
    AnalyteInput,
    RecordError,
    attachment_add,
    record_annotate,
    record_create,
    record_review,
)
from core.models import AuditEvent, Notification
from tests.conftest import htmx
from tests.factories import DoctorUserFactory, local_datetime, make_appointment, make_doctor

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def clara(dr_clara, amina):
    """Dr Clara treats Amina (a confirmed appointment next week)."""
    doctor = make_doctor(dr_clara)
    make_appointment(doctor, amina.patient, local_datetime(7, 10))
    return doctor


@pytest.fixture
def omar(db):
    """A verified doctor (with TOTP enrolled, so the staff MFA rule lets him in) who does not
    treat Amina."""
    return make_doctor(
        DoctorUserFactory(email="nadia@example.test", first_name="Nadia", last_name="Berg")
    )


@pytest.fixture
def child(amina, clara):
    """Amina's son, no login; Amina holds view-records on him and Dr Clara treats him."""
    son = Patient.objects.create(first_name="Sami", last_name="Okafor")
    for perm in ("view_patient", "view_records_patient", "book_for_patient"):
        assign_perm(f"clinic.{perm}", amina, son)
    make_appointment(clara, son, local_datetime(8, 10), booked_by=amina)
    return son


def _note(clara, patient, **fields):
    return record_create(
        patient=patient,
        author=clara,
        kind=fields.pop("kind", RecordKind.VISIT_NOTE),
        title=fields.pop("title", "Check-up"),
        text=fields.pop("text", "Feels well."),
        **fields,
    )


def _lab(clara, patient, value="6.1"):
    return record_create(
        patient=patient,
        author=clara,
        kind=RecordKind.LAB_RESULT,
        title="Potassium",
        analytes=[
            AnalyteInput(
                name="Potassium",
                value=Decimal(value),
                unit="mmol/L",
                reference_low=Decimal("3.5"),
                reference_high=Decimal("5.1"),
            ),
            AnalyteInput(name="Sodium", value=Decimal("140"), unit="mmol/L"),
        ],
    )


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [path for path in root.rglob("*") if path.is_file()]


# --- Services --------------------------------------------------------------------------------


def test_diagnosis_without_text_is_refused(clara, amina):
    with pytest.raises(RecordError, match="A diagnosis needs a text"):
        _note(clara, amina.patient, kind=RecordKind.DIAGNOSIS, text="  ")
    assert not MedicalRecord.objects.exists()


def test_visit_note_is_capped(clara, amina):
    with pytest.raises(RecordError, match="under 10000 characters"):
        _note(clara, amina.patient, text="x" * 10_001)


def test_only_a_treating_doctor_writes(omar, clara, amina):
    with pytest.raises(PermissionDenied):
        _note(omar, amina.patient)


def test_appointment_must_be_between_this_doctor_and_patient(clara, amina, ben):
    other = make_appointment(clara, ben.patient, local_datetime(9, 10))
    with pytest.raises(RecordError, match="between you and this patient"):
        _note(clara, amina.patient, appointment=other)


def test_vitals_outside_physiological_bounds_are_refused(clara, amina):
    with pytest.raises(RecordError, match="between 50 and 100") as error:
        record_create(
            patient=amina.patient,
            author=clara,
            kind=RecordKind.VITALS,
            vitals={"spo2_percent": 130},
        )
    assert error.value.field == "spo2_percent"
    record = record_create(
        patient=amina.patient,
        author=clara,
        kind=RecordKind.VITALS,
        vitals={"systolic_mmhg": 120, "diastolic_mmhg": 80, "temperature_c": Decimal("37.2")},
    )
    assert record.vitals.systolic_mmhg == 120
    assert record.released_at is not None


def test_lab_result_is_held_until_review_and_flagged(clara, amina, child):
    record = _lab(clara, amina.patient)
    potassium, sodium = record.analytes.all()
    assert potassium.out_of_range is True
    assert sodium.out_of_range is False
    assert record.released_at is None
    assert not MedicalRecord.objects.released().filter(pk=record.pk).exists()

    record_review(record=record, by=clara)

    record.refresh_from_db()
    assert record.released_at is not None
    assert record.reviewed_by == clara
    notices = Notification.objects.filter(title="A new result is available")
    assert list(notices.values_list("recipient", flat=True)) == [amina.pk]
    assert "Potassium" not in notices.get().body  # no health details in a notification
    record_review(record=record, by=clara)  # twice changes nothing
    assert notices.count() == 1


def test_annotations_are_append_only(clara, amina):
    record = _note(clara, amina.patient)
    first = record_annotate(record=record, by=clara, text="Repeat in 3 months.")
    record_annotate(record=record, by=clara, text="Patient informed.")
    assert list(record.annotations.values_list("text", flat=True)) == [
        "Repeat in 3 months.",
        "Patient informed.",
    ]
    with pytest.raises(RecordError):
        record_annotate(record=record, by=clara, text="")
    # No URL edits or removes an annotation, and the database refuses to drop a record's.
    first.refresh_from_db()
    assert first.text == "Repeat in 3 months."
    assert not any("annotation" in name and "edit" in name for name in _url_names())


def _url_names() -> list[str]:
    from clinic.urls import urlpatterns

    return [pattern.name or "" for pattern in urlpatterns]


def test_timeline_query_count_does_not_grow(clara, amina, django_assert_num_queries):
    def count_for(records: int) -> int:
        while MedicalRecord.objects.count() < records:
            record = _lab(clara, amina.patient)
            record_annotate(record=record, by=clara, text="Seen.")
            attachment_add(
                record=record, by=clara, upload=SimpleUploadedFile("r.pdf", PDF, "application/pdf")
            )
            _note(clara, amina.patient, kind=RecordKind.VITALS, vitals={"heart_rate_bpm": 70})
        access = patient_access(clara.user, amina.patient)
        with CaptureQueriesContext(connection) as queries:
            rows = list(patient_timeline(amina.patient, access=access))
            for row in rows:
                list(row.analytes.all())
                list(row.attachments.all())
                getattr(row, "vitals", None)
                _ = row.author.user.email, row.annotation_count
        assert len(rows) >= records
        return len(queries)

    assert count_for(10) == count_for(50)


# --- Pages -----------------------------------------------------------------------------------


def test_doctor_opens_the_records_list(client_for, clara, amina):
    _note(clara, amina.patient, title="First visit")
    _lab(clara, amina.patient)
    vitals = _note(
        clara,
        amina.patient,
        kind=RecordKind.VITALS,
        vitals={"systolic_mmhg": 128, "diastolic_mmhg": 84, "spo2_percent": 97},
    )
    client = client_for(clara.user)
    response = client.get(reverse("patient_records", args=[amina.patient.public_id]))
    assert response.status_code == 200
    assert b"128/84 mmHg" in response.content
    detail = client.get(reverse("record_detail", args=[vitals.public_id]))
    assert b"128/84 mmHg" in detail.content
    assert b"Mark reviewed" in detail.content
    assert b"Correct the text" in detail.content
    assert b"First visit" in response.content
    assert b"awaiting review" in response.content  # the doctor sees the held lab result


def test_patient_sees_released_records_only(client_for, clara, amina):
    _note(clara, amina.patient, title="First visit")
    held = _lab(clara, amina.patient)
    client = client_for(amina)
    response = client.get(reverse("patient_records", args=[amina.patient.public_id]))
    assert b"First visit" in response.content
    assert b"Potassium" not in response.content
    assert client.get(reverse("record_detail", args=[held.public_id])).status_code == 404

    record_review(record=held, by=clara)
    response = client.get(reverse("record_detail", args=[held.public_id]))
    assert response.status_code == 200
    assert b"High \xe2\x80\x94 out of range" in response.content  # said in words, not colour


def test_patient_cannot_edit_records(client_for, clara, amina):
    record = _note(clara, amina.patient)
    client = client_for(amina)
    url = reverse("record_edit", args=[record.public_id])
    assert client.get(url).status_code == 403
    assert client.post(url, {"title": "Mine", "text": "Changed"}).status_code == 403
    for name in ("record_annotate", "record_review", "record_attachment_add"):
        assert client.post(reverse(name, args=[record.public_id]), {"text": "x"}).status_code == 403
    new = reverse("record_new", args=[amina.patient.public_id])
    assert client.post(new, {"kind": "visit_note", "text": "x"}).status_code == 403
    record.refresh_from_db()
    assert record.text == "Feels well."


def test_treating_doctor_edits_and_the_change_persists(client_for, clara, amina):
    record = _note(clara, amina.patient)
    client = client_for(clara.user)
    url = reverse("record_edit", args=[record.public_id])
    assert client.get(url).status_code == 200
    response = client.post(url, {"title": "Check-up", "text": "Feels well. BP fine."})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.text == "Feels well. BP fine."
    event = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE, target_id=record.public_id)
    assert event.get().details == {
        "before": {"title": 8, "text": 11},
        "after": {"title": 8, "text": 20},
    }


def test_another_treating_doctor_may_not_edit_the_authors_record(client_for, clara, omar, amina):
    make_appointment(omar, amina.patient, local_datetime(10, 10))
    record = _note(clara, amina.patient)
    url = reverse("record_edit", args=[record.public_id])
    assert client_for(omar.user).post(url, {"title": "x", "text": "y"}).status_code == 403


def test_new_diagnosis_page_refuses_a_missing_text(client_for, clara, amina):
    client = client_for(clara.user)
    url = reverse("record_new", args=[amina.patient.public_id])
    assert client.get(url + "?kind=diagnosis").status_code == 200
    response = client.post(url, {"kind": "diagnosis", "title": "Hypertension", "text": ""})
    assert response.status_code == 400
    assert b"A diagnosis needs a text" in response.content
    assert not MedicalRecord.objects.exists()


def test_new_lab_result_page_with_analyte_rows(client_for, clara, amina):
    client = client_for(clara.user)
    url = reverse("record_new", args=[amina.patient.public_id])
    page = client.get(url + "?kind=lab_result")
    assert page.content.count(b'name="analytes-4-name"') == 1  # five blank rows
    data = {
        "kind": "lab_result",
        "title": "Kidney panel",
        "analytes-TOTAL_FORMS": "5",
        "analytes-INITIAL_FORMS": "0",
        "analytes-0-name": "Creatinine",
        "analytes-0-value": "180",
        "analytes-0-unit": "µmol/L",
        "analytes-0-reference_low": "60",
        "analytes-0-reference_high": "110",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    analyte = LabAnalyte.objects.get()
    assert analyte.out_of_range is True
    assert analyte.record.released_at is None


def test_new_vitals_page_shows_the_bound_next_to_the_field(client_for, clara, amina):
    response = client_for(clara.user).post(
        reverse("record_new", args=[amina.patient.public_id]),
        {"kind": "vitals", "vitals-heart_rate_bpm": "900"},
    )
    assert response.status_code == 400
    assert b"Heart rate (beats/min) must be between 20 and 300" in response.content


def test_review_page_action_releases(client_for, clara, amina):
    record = _lab(clara, amina.patient)
    response = client_for(clara.user).post(reverse("record_review", args=[record.public_id]))
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.released_at is not None


def test_annotation_by_htmx_returns_the_region(client_for, clara, amina):
    record = _note(clara, amina.patient)
    response = client_for(clara.user).post(
        reverse("record_annotate", args=[record.public_id]),
        {"text": "Discussed diet."},
        **htmx("annotations"),
    )
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<section id="annotations"')
    assert b"Discussed diet." in response.content
    assert RecordAnnotation.objects.count() == 1


def test_htmx_filter_returns_the_timeline_partial(client_for, clara, amina):
    _note(clara, amina.patient, title="First visit")
    _note(clara, amina.patient, kind=RecordKind.DIAGNOSIS, title="Asthma", text="Mild.")
    url = reverse("patient_records", args=[amina.patient.public_id]) + "?kind=diagnosis"
    response = client_for(amina).get(url, **htmx("record-timeline"))
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<section id="record-timeline"')
    assert b"Asthma" in response.content
    assert b"First visit" not in response.content
    # A plain GET of the same URL gives the whole page, filter kept.
    page = client_for(amina).get(url)
    assert b"<html" in page.content
    assert re.search(rb'<input[^>]*value="diagnosis"[^>]*checked', page.content)
    assert not re.search(rb'<input[^>]*value="visit_note"[^>]*checked', page.content)


def test_summary_is_printable_and_audited(client_for, clara, amina):
    _note(clara, amina.patient, title="First visit")
    response = client_for(amina).get(reverse("records_summary", args=[amina.patient.public_id]))
    assert response.status_code == 200
    assert b"css/print.css" in response.content
    assert b"First visit" in response.content
    assert b"style=" not in response.content
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.PRINT, patient_public_id=amina.patient.public_id
    ).exists()


def test_my_records_goes_to_own_records_or_offers_a_choice(client_for, amina, ben, child):
    assert client_for(ben).get(reverse("my_records")).url == reverse(
        "patient_records", args=[ben.patient.public_id]
    )
    response = client_for(amina).get(reverse("my_records"))
    assert response.status_code == 200
    assert b"Sami" in response.content


# --- Attachments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("results.pdf", b"MZ\x90\x00" + b"\x00" * 200, b"Only PDF, PNG and JPEG"),
        ("scan.pdf", b"%PDF-" + b"0" * (20 * 1024 * 1024), b"attachments can be at most 10"),
        ("empty.pdf", b"", b"The file is empty"),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, b"Only PDF, PNG and JPEG"),
    ],
)
def test_bad_attachments_are_refused_and_nothing_is_stored(
    client_for, clara, amina, settings, name, content, message
):
    record = _note(clara, amina.patient)
    response = client_for(clara.user).post(
        reverse("record_attachment_add", args=[record.public_id]),
        {"file": SimpleUploadedFile(name, content, "application/pdf")},
    )
    assert response.status_code == 400
    assert message in response.content
    assert not RecordAttachment.objects.exists()
    assert _stored_files(settings) == []


def test_good_pdf_is_stored_and_downloads_safely(client_for, clara, amina, settings):
    record = _note(clara, amina.patient)
    response = client_for(clara.user).post(
        reverse("record_attachment_add", args=[record.public_id]),
        {"file": SimpleUploadedFile('lab "report".pdf', PDF, "application/octet-stream")},
    )
    assert response.status_code == 302
    attachment = RecordAttachment.objects.get()
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.content_type == "application/pdf"
    assert "report" not in attachment.file.name  # random stored name
    assert attachment.file.name.endswith(".pdf")

    response = client_for(amina).get(reverse("record_attachment", args=[attachment.public_id]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert '"lab' not in response["Content-Disposition"].split("filename=")[1][1:]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.DOWNLOAD, target_id=attachment.public_id
    ).exists()


def test_png_attachment_and_non_ascii_name(client_for, clara, amina):
    record = _note(clara, amina.patient)
    attachment = attachment_add(
        record=record,
        by=clara,
        upload=SimpleUploadedFile("röntgen-thorax.exe", _png_bytes(), "application/x-msdownload"),
    )
    assert attachment.content_type == "image/png"
    assert attachment.original_name.endswith(".png")
    response = client_for(amina).get(reverse("record_attachment", args=[attachment.public_id]))
    disposition = response["Content-Disposition"]
    assert disposition.isascii()
    assert 'filename="rntgen-thorax.exe.png"' in disposition
    assert "filename*=utf-8''r%C3%B6ntgen-thorax.exe.png" in disposition


# --- Audit -----------------------------------------------------------------------------------


def test_every_read_is_audited_as_the_parent_acting_for_the_child(client_for, clara, amina, child):
    record = _note(clara, child)
    attachment = attachment_add(
        record=record, by=clara, upload=SimpleUploadedFile("a.pdf", PDF, "application/pdf")
    )
    client = client_for(amina)
    urls = {
        AuditEvent.Action.VIEW: [
            reverse("patient_records", args=[child.public_id]),
            reverse("record_detail", args=[record.public_id]),
        ],
        AuditEvent.Action.DOWNLOAD: [reverse("record_attachment", args=[attachment.public_id])],
        AuditEvent.Action.PRINT: [reverse("records_summary", args=[child.public_id])],
    }
    for action, action_urls in urls.items():
        for url in action_urls:
            before = AuditEvent.objects.count()
            assert client.get(url).status_code == 200, url
            event = AuditEvent.objects.order_by("-pk").first()
            assert AuditEvent.objects.count() == before + 1
            assert event.action == action
            assert event.actor == amina
            assert event.patient_public_id == child.public_id
            assert event.acting_for_patient is True


def test_own_reads_are_not_acting_for(client_for, clara, amina):
    record = _note(clara, amina.patient)
    client_for(amina).get(reverse("record_detail", args=[record.public_id]))
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW)
    assert event.patient_public_id == amina.patient.public_id
    assert event.acting_for_patient is False


def test_writes_are_audited_with_the_patient(clara, amina):
    record = _lab(clara, amina.patient)
    record_review(record=record, by=clara)
    record_annotate(record=record, by=clara, text="Ok")
    events = AuditEvent.objects.filter(patient_public_id=amina.patient.public_id)
    assert list(events.order_by("pk").values_list("action", flat=True)) == [
        AuditEvent.Action.CREATE,
        AuditEvent.Action.UPDATE,
        AuditEvent.Action.CREATE,
    ]


# --- Access ----------------------------------------------------------------------------------


def _record_urls(record, attachment) -> list[tuple[str, str]]:
    patient_id = record.patient.public_id
    return [
        ("get", reverse("patient_records", args=[patient_id])),
        ("get", reverse("records_summary", args=[patient_id])),
        ("get", reverse("record_new", args=[patient_id]) + "?kind=visit_note"),
        ("get", reverse("record_detail", args=[record.public_id])),
        ("get", reverse("record_edit", args=[record.public_id])),
        ("post", reverse("record_review", args=[record.public_id])),
        ("post", reverse("record_annotate", args=[record.public_id])),
        ("post", reverse("record_attachment_add", args=[record.public_id])),
        ("get", reverse("record_attachment", args=[attachment.public_id])),
    ]


@pytest.fixture
def record_with_attachment(clara, amina):
    record = _note(clara, amina.patient)
    attachment = attachment_add(
        record=record, by=clara, upload=SimpleUploadedFile("a.pdf", PDF, "application/pdf")
    )
    return record, attachment


@pytest.mark.parametrize("who", ["ben", "omar", "eddie"])
def test_outsiders_get_404_on_every_record_url(
    client_for, record_with_attachment, who, omar, ben, eddie
):
    user = {"ben": ben, "omar": omar.user, "eddie": eddie}[who]
    client = client_for(user)
    before = AuditEvent.objects.count()
    for method, url in _record_urls(*record_with_attachment):
        assert getattr(client, method)(url).status_code == 404, (who, url)
    assert AuditEvent.objects.count() == before  # nothing read, nothing logged


def test_anonymous_is_sent_to_sign_in_on_every_record_url(client, record_with_attachment):
    for method, url in _record_urls(*record_with_attachment):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/accounts/login/" in response["Location"]


def test_admin_knows_the_patient_but_reads_no_records(client_for, ada, record_with_attachment):
    client = client_for(ada)
    for method, url in _record_urls(*record_with_attachment):
        assert getattr(client, method)(url).status_code == 403, url


def test_unreleased_record_is_404_for_the_patient_and_admin(client_for, clara, amina, ada):
    record = _lab(clara, amina.patient)
    url = reverse("record_detail", args=[record.public_id])
    assert client_for(amina).get(url).status_code == 404
    assert client_for(ada).get(url).status_code == 404
    assert client_for(clara.user).get(url).status_code == 200


def test_proxy_without_view_records_gets_403(client_for, clara, ben, amina):
    assign_perm("clinic.book_for_patient", ben, amina.patient)
    record = _note(clara, amina.patient)
    client = client_for(ben)
    assert client.get(reverse("patient_records", args=[amina.patient.public_id])).status_code == 403
    assert client.get(reverse("record_detail", args=[record.public_id])).status_code == 403


@pytest.mark.parametrize(
    ("method", "name", "kind"),
    [
        ("post", "patient_records", "patient"),
        ("post", "records_summary", "patient"),
        ("put", "record_new", "patient"),
        ("post", "record_detail", "record"),
        ("delete", "record_edit", "record"),
        ("get", "record_review", "record"),
        ("get", "record_annotate", "record"),
        ("get", "record_attachment_add", "record"),
        ("post", "record_attachment", "attachment"),
    ],
)
def test_wrong_method_is_405(client_for, clara, record_with_attachment, method, name, kind):
    record, attachment = record_with_attachment
    target = {"patient": record.patient, "record": record, "attachment": attachment}[kind]
    response = getattr(client_for(clara.user), method)(reverse(name, args=[target.public_id]))
    assert response.status_code == 405
