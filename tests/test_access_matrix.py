"""The access matrix: every object URL of a patient's data against every kind of actor.

One world (Amina, her son Noah, two proxies, the treating doctor, another doctor, two doctors
with emergency access, an editor, an admin, anonymous) and a written-down table of what each
actor must get on each URL: "ok", 403, 404 or "login". The table is derived from the product
rules, not from the code under test, so the code disagreeing shows up as a mismatch. Every pair
runs with a fresh client inside a rolled-back savepoint, so POSTs change nothing for the pairs
after them. Bodies are checked for leaks: nobody who may not know the patient sees her name or
anything clinical, and nobody who may not read her records sees their contents.
"""

from datetime import date, timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.utils import timezone

from clinic.models import (
    BreakGlassAccess,
    MedicalRecord,
    MedicalRecordUserObjectPermission,
    PatientDelegate,
    PatientScope,
    PatientUserObjectPermission,
    RecordKind,
)
from clinic.services.patients import dependent_add, proxy_invitation_accept, proxy_invite
from clinic.services.prescriptions import (
    address_add,
    delivery_request,
    prescription_issue,
    refill_request,
)
from clinic.services.records import (
    AnalyteInput,
    attachment_add,
    record_annotate,
    record_create,
)
from tests.factories import (
    DoctorUserFactory,
    PatientUserFactory,
    local_datetime,
    make_appointment,
    make_doctor,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ITEM = {"medication": "Amoxicillin", "strength": "500 mg", "dose": "1 tablet", "frequency": "3x"}

# What must never reach someone who may not know the patient (the family name, the home
# address, a profile detail) and what must never reach someone who may not read her records.
NAME_SECRETS = ("Okafor", "Hauptstr. 17", "Sesame anaphylaxis")
CLINICAL_SECRETS = {
    "amina": ("Wheezing in the left lower lobe", "Recheck the lungs", "Amoxicillin"),
    "noah": ("Otitis media clearing",),
}
HELD_SECRET = "Ferritin panel"  # the held lab result: only doctors who may read it see it

ACTORS = (
    "owner",
    "proxy_records",
    "proxy_no_records",
    "other_patient",
    "treating_doctor",
    "other_doctor",
    "break_glass_active",
    "break_glass_expired",
    "editor",
    "admin",
    "anonymous",
)
# Who may read each patient's records (and so may see the clinical secrets on an "ok" page).
CLINICAL_READERS = {
    "amina": {"owner", "proxy_records", "treating_doctor", "break_glass_active"},
    "noah": {"owner", "treating_doctor"},
}


def _accept_proxy(amina, proxy, scopes, capture, mailoutbox) -> None:
    """A proxy through the real invitation: the emailed token, accepted by the invitee."""
    with capture(execute=True):
        proxy_invite(
            patient=amina.patient, by=amina, email=proxy.email, relationship="other", scopes=scopes
        )
    token = mailoutbox[-1].body.split("/invitations/")[1].split("/")[0]
    proxy_invitation_accept(token=token, by=proxy)


@pytest.fixture
def world(
    amina, ben, dr_clara, dr_omar, eddie, ada, django_capture_on_commit_callbacks, mailoutbox
):
    amina.patient.allergies = "Sesame anaphylaxis"
    amina.patient.date_of_birth = date(1990, 4, 2)
    amina.patient.save(update_fields=["allergies", "date_of_birth"])
    noah = dependent_add(
        by=amina,
        first_name="Noah",
        last_name="Okafor",
        date_of_birth=timezone.localdate() - timedelta(days=6 * 365),
        relationship=PatientDelegate.Relationship.CHILD,
    )
    proxy_records = PatientUserFactory(
        email="grace@example.test", first_name="Grace", last_name="Mensah"
    )
    proxy_no_records = PatientUserFactory(
        email="paul@example.test", first_name="Paul", last_name="Roth"
    )
    capture = django_capture_on_commit_callbacks
    _accept_proxy(
        amina,
        proxy_records,
        [PatientScope.VIEW, PatientScope.BOOK, PatientScope.RECORDS],
        capture,
        mailoutbox,
    )
    _accept_proxy(
        amina, proxy_no_records, [PatientScope.VIEW, PatientScope.BOOK], capture, mailoutbox
    )

    clara = make_doctor(dr_clara)
    # Dr Omar of the cast has no authenticator yet; the staff MFA gate would send him to enrol
    # on every page, which is not what this matrix is about.
    TOTP.activate(dr_omar, generate_totp_secret())
    make_doctor(dr_omar)
    glass_active = DoctorUserFactory(email="bg.active@example.test", first_name="Ines")
    glass_expired = DoctorUserFactory(email="bg.expired@example.test", first_name="Yusuf")
    now = timezone.now()
    BreakGlassAccess.objects.create(
        doctor=make_doctor(glass_active),
        patient=amina.patient,
        reason="Unconscious arrival, need allergies and medication now.",
        started_at=now - timedelta(hours=1),
        expires_at=now + timedelta(hours=2),
    )
    BreakGlassAccess.objects.create(
        doctor=make_doctor(glass_expired),
        patient=amina.patient,
        reason="Unconscious arrival, need allergies and medication now.",
        started_at=now - timedelta(hours=5),
        expires_at=now - timedelta(hours=2),
    )

    # Dr Clara treats both: completed visits with prescriptions, and upcoming appointments.
    earlier = make_appointment(clara, amina.patient, now - timedelta(hours=3), booked_by=amina)
    spare = prescription_issue(appointment=earlier, by=dr_clara, items=[ITEM])
    visit = make_appointment(clara, amina.patient, now - timedelta(minutes=10), booked_by=amina)
    prescription = prescription_issue(appointment=visit, by=dr_clara, items=[ITEM])
    upcoming = make_appointment(clara, amina.patient, local_datetime(7, 10), booked_by=amina)
    make_appointment(clara, noah, local_datetime(8, 10), booked_by=amina)
    home = address_add(
        owner=amina,
        fields={
            "recipient_name": "Amina Okafor",
            "line1": "Hauptstr. 17",
            "postal_code": "10115",
            "city": "Berlin",
        },
    )
    grace_home = address_add(
        owner=proxy_records,
        fields={
            "recipient_name": "Grace Mensah",
            "line1": "Ringweg 3",
            "postal_code": "10117",
            "city": "Berlin",
        },
    )
    refill = refill_request(prescription=prescription, by=amina)
    delivery = delivery_request(prescription=prescription, address=home, by=amina)

    note = record_create(
        patient=amina.patient,
        author=clara,
        kind=RecordKind.VISIT_NOTE,
        title="Bronchitis follow-up",
        text="Wheezing in the left lower lobe.",
        appointment=visit,
    )
    record_annotate(record=note, by=clara, text="Recheck the lungs in two weeks.")
    attachment = attachment_add(
        record=note,
        by=clara,
        upload=SimpleUploadedFile("xray.pdf", PDF, content_type="application/pdf"),
    )
    held = record_create(
        patient=amina.patient,
        author=clara,
        kind=RecordKind.LAB_RESULT,
        title=HELD_SECRET,
        analytes=[AnalyteInput(name="Ferritin", value=8, unit="ng/mL")],
    )
    assert held.released_at is None, "lab results are held until review"
    noah_note = record_create(
        patient=noah,
        author=clara,
        kind=RecordKind.VISIT_NOTE,
        title="Ear check",
        text="Otitis media clearing.",
    )

    users = {
        "owner": amina,
        "proxy_records": proxy_records,
        "proxy_no_records": proxy_no_records,
        "other_patient": ben,
        "treating_doctor": dr_clara,
        "other_doctor": dr_omar,
        "break_glass_active": glass_active,
        "break_glass_expired": glass_expired,
        "editor": eddie,
        "admin": ada,
        "anonymous": None,
    }
    objects = {
        "amina": amina.patient,
        "noah": noah,
        "visit": visit,
        "upcoming": upcoming,
        "prescription": prescription,
        "spare": spare,
        "refill": refill,
        "delivery": delivery,
        "home": home,
        "grace_home": grace_home,
        "note": note,
        "held": held,
        "attachment": attachment,
        "noah_note": noah_note,
        # Amina's open SOS; Dr Clara (the treating doctor) is on duty, the other doctors not.
        "sos": _sos_world(amina, clara),
        # Amina's online consultation with Dr Clara, on now: its chat is open.
        "chat": _chat_world(amina, clara),
    }
    return users, objects


def _sos_world(amina, clara):
    from clinic.services.sos import sos_raise

    clara.on_duty_since = timezone.now()
    clara.save(update_fields=["on_duty_since"])
    sos, _created = sos_raise(by=amina, patient=amina.patient, description="Matrix SOS")
    return sos


def _chat_world(amina, clara):
    from clinic.models import ConsultationMode

    return make_appointment(
        clara,
        amina.patient,
        timezone.now() - timedelta(minutes=5),
        booked_by=amina,
        mode=ConsultationMode.ONLINE,
    )


def _profile_post(patient, *, with_birth_date: bool) -> dict:
    data = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "sex": patient.sex,
        "blood_type": "",
        "allergies": "Sesame anaphylaxis",
        "chronic_conditions": "",
        "current_medications": "",
        "emergency_contact_name": "",
        "emergency_contact_phone": "",
        "insurance_id": "",
        "national_id": "",
    }
    if with_birth_date:
        data["date_of_birth"] = patient.date_of_birth.isoformat()
    return data


# Columns, in the order of ACTORS:
#   owner  prox+R  prox-R  other  treat  odoc  bg-on  bg-off  editor  admin  anon
# "ok" = 2xx, or a redirect that is not to the sign-in page (a POST's success redirect, the
# issue form sending to the prescription already issued).
OK, L = "ok", "login"
# Who knows Amina and reads her records: herself, the proxy with the records scope, the
# treating doctor and the doctor in an emergency; the proxy without it and the admin know
# her (403); everyone else 404.
READ_AMINA = [OK, OK, 403, 404, OK, 404, OK, 404, 404, 403, L]
# Writing records: only the treating doctor; who knows the patient gets 403.
WRITE_AMINA = [403, 403, 403, 404, OK, 404, 403, 404, 404, 403, L]
# The held lab result: known only to doctors who may read everything (treating, emergency);
# the patient and her delegates learn of it at release, so 404 (test_records asserts it).
READ_HELD = [404, 404, 404, 404, OK, 404, OK, 404, 404, 404, L]
WRITE_HELD = [404, 404, 404, 404, OK, 404, 403, 404, 404, 404, L]
# Noah: his guardian and his doctor; Amina's proxies act for Amina only, so 404 for them.
READ_NOAH = [OK, 404, 404, 404, OK, 404, 404, 404, 404, 403, L]
# Acting for Amina with a prescription (refill, delivery): reading it and the booking scope.
# Readers who may not act (the treating and the emergency doctor) and the proxy without the
# records scope get 403.
ACT_AMINA = [OK, OK, 403, 404, 403, 404, 403, 404, 404, 403, L]
# A page for one role only: every other signed-in user 403, whatever the id (learns nothing).
PATIENTS_ONLY = [OK, OK, 403, 404, 403, 403, 403, 403, 403, 403, L]
DOCTORS_ONLY = [403, 403, 403, 403, OK, OK, OK, OK, 403, 403, L]
# An SOS request: followed by the patient's side, staff on duty and admins; handled by staff.
SOS_FOLLOW = [OK, 404, 404, 404, OK, 403, 403, 403, 404, OK, L]
SOS_HANDLE = [403, 404, 404, 404, OK, 403, 403, 403, 404, OK, L]
# A consultation chat: its doctor, the patient and delegates who read her records; 404 for
# everyone else (admins included: they oversee appointments, not conversations).
CHAT = [OK, OK, 404, 404, OK, 404, 404, 404, 404, 404, L]
# Saved addresses are their owner's alone: 404 for everyone else, admins included.
OWNER_ONLY = [OK, 404, 404, 404, 404, 404, 404, 404, 404, 404, L]


def _table(objects) -> list[tuple[str, str, str, dict | None, list, str]]:
    """(label, method, url, post data or None, expected per actor, whose secrets)."""
    o = objects
    amina, noah = o["amina"].public_id, o["noah"].public_id
    note, held = o["note"].public_id, o["held"].public_id
    rx, spare = o["prescription"].public_id, o["spare"].public_id
    delivery, home = o["delivery"].public_id, o["home"].public_id
    sos = o["sos"].public_id
    chat = f"/appointments/{o['chat'].public_id}/chat/"
    amina_profile = _profile_post(o["amina"], with_birth_date=True)
    noah_profile = _profile_post(o["noah"], with_birth_date=False)
    return [
        # Patient profile (Amina) and the dependent's (Noah).
        # Profile: everyone who knows her reads it (both proxies have the view scope, the
        # emergency doctor too); the admin knows she exists but reads nothing (403).
        ("profile", "get", f"/patients/{amina}/", None,
         [OK, OK, OK, 404, OK, 404, OK, 404, 404, 403, L], "amina"),
        ("profile save", "post", f"/patients/{amina}/", amina_profile,
         [OK, 403, 403, 404, 403, 404, 403, 404, 404, 403, L], "amina"),
        ("dependent profile", "get", f"/patients/{noah}/", None, READ_NOAH, "noah"),
        ("dependent profile save", "post", f"/patients/{noah}/", noah_profile,
         [OK, 404, 404, 404, 403, 404, 404, 404, 404, 403, L], "noah"),
        # Emergency access is for patients a doctor does not know yet, so any verified
        # doctor may open the page for any patient; everyone else is refused by role.
        ("emergency access page", "get", f"/patients/{amina}/emergency-access/", None,
         DOCTORS_ONLY, "amina"),
        # Records: timeline, new record, summary (print/export), one record, its attachment.
        ("records", "get", f"/patients/{amina}/records/", None, READ_AMINA, "amina"),
        ("record new", "get", f"/patients/{amina}/records/new/", None, WRITE_AMINA, "amina"),
        ("records summary", "get", f"/patients/{amina}/records/summary/", None,
         READ_AMINA, "amina"),
        ("record", "get", f"/records/{note}/", None, READ_AMINA, "amina"),
        ("held lab result", "get", f"/records/{held}/", None, READ_HELD, "amina"),
        ("attachment", "get", f"/records/attachments/{o['attachment'].public_id}/", None,
         READ_AMINA, "amina"),
        # Editing is the author's (Dr Clara's); others who may write would get 403 too.
        ("record edit", "get", f"/records/{note}/edit/", None, WRITE_AMINA, "amina"),
        ("record edit save", "post", f"/records/{note}/edit/",
         {"title": "Bronchitis follow-up", "text": "Wheezing in the left lower lobe."},
         WRITE_AMINA, "amina"),
        ("annotation add", "post", f"/records/{note}/annotations/",
         {"text": "Matrix annotation."}, WRITE_AMINA, "amina"),
        ("attachment add", "post", f"/records/{note}/attachments/",
         {"file": SimpleUploadedFile("more.pdf", PDF, content_type="application/pdf")},
         WRITE_AMINA, "amina"),
        ("held result review", "post", f"/records/{held}/review/", {}, WRITE_HELD, "amina"),
        ("dependent records", "get", f"/patients/{noah}/records/", None, READ_NOAH, "noah"),
        ("dependent summary", "get", f"/patients/{noah}/records/summary/", None,
         READ_NOAH, "noah"),
        ("dependent record", "get", f"/records/{o['noah_note'].public_id}/", None,
         READ_NOAH, "noah"),
        # Who viewed my records: a patient page; for a patient she may not know, 404.
        ("access log", "get", f"/patient/access-log/?patient={amina}", None,
         PATIENTS_ONLY, "amina"),
        ("dependent access log", "get", f"/patient/access-log/?patient={noah}", None,
         [OK, 404, 404, 404, 403, 403, 403, 403, 403, 403, L], "noah"),
        # Prescriptions: the list, one, its print sheet; the prescribing doctor is the
        # treating doctor here.
        ("prescriptions", "get", f"/patients/{amina}/prescriptions/", None,
         READ_AMINA, "amina"),
        ("dependent prescriptions", "get", f"/patients/{noah}/prescriptions/", None,
         READ_NOAH, "noah"),
        ("prescription", "get", f"/prescriptions/{rx}/", None, READ_AMINA, "amina"),
        ("prescription print", "get", f"/prescriptions/{rx}/print/", None, READ_AMINA, "amina"),
        ("refill request", "post", f"/prescriptions/{spare}/refill/", {"note": "Please"},
         ACT_AMINA, "amina"),
        ("delivery request", "post", f"/prescriptions/{spare}/delivery/", "address",
         ACT_AMINA, "amina"),
        # The visit behind the prescription: the issue form is the doctor's, by role; her own
        # visit answers with a redirect to the prescription already issued.
        ("prescription issue", "get", f"/appointments/{o['visit'].public_id}/prescription/new/",
         None, [403, 403, 403, 403, OK, 404, 404, 404, 403, 403, L], "amina"),
        # The refill decision is the prescribing doctor's; other doctors who may read the
        # prescription get 403, doctors who may not 404; non-doctors are refused by role.
        ("refill decide", "post", f"/refills/{o['refill'].public_id}/decide/",
         {"decision": "decline", "reason": "Come in first."},
         [403, 403, 403, 403, OK, 404, 403, 404, 403, 403, L], "amina"),
        # Delivery: whoever reads the prescription follows it, and admins who run deliveries;
        # without the records scope it is 404 (the helper does not tell that it exists).
        ("delivery", "get", f"/deliveries/{delivery}/", None,
         [OK, OK, 404, 404, OK, 404, OK, 404, 404, OK, L], "amina"),
        # Only its requester (Amina) calls it off; others who may see it get 403.
        ("delivery cancel", "post", f"/deliveries/{delivery}/cancel/", {},
         [OK, 403, 404, 404, 403, 404, 403, 404, 404, 403, L], "amina"),
        ("delivery advance", "post", f"/operations/deliveries/{delivery}/advance/",
         {"status": "preparing"}, [403] * 9 + [OK, L], "amina"),
        # Appointments: whoever books for the patient (both proxies hold the booking scope),
        # the doctor in it, and admins (who oversee appointments).
        ("appointment", "get", f"/appointments/{o['upcoming'].public_id}/", None,
         [OK, OK, OK, 404, OK, 404, 404, 404, 404, OK, L], "amina"),
        ("appointment calendar", "get",
         f"/appointments/{o['upcoming'].public_id}/calendar.ics", None,
         [OK, OK, OK, 404, OK, 404, 404, 404, 404, OK, L], "amina"),
        # Saved addresses.
        ("address edit", "get", f"/account/addresses/{home}/edit/", None, OWNER_ONLY, "amina"),
        ("address save", "post", f"/account/addresses/{home}/edit/",
         {"recipient_name": "A. Okafor", "line1": "Hauptstr. 17", "postal_code": "10115",
          "city": "Berlin", "country": "Germany"}, OWNER_ONLY, "amina"),
        ("address default", "post", f"/account/addresses/{home}/default/", {},
         OWNER_ONLY, "amina"),
        ("address archive", "post", f"/account/addresses/{home}/archive/", {},
         OWNER_ONLY, "amina"),
        # SOS: the patient's side (Amina; her proxies lack the SOS scope, so 404 for them),
        # staff on duty (Dr Clara) and admins; verified doctors off duty know SOS requests
        # exist (403); raising is for patients only, by role.
        ("sos raise", "post", "/sos/", {"patient": str(amina), "description": "Matrix"},
         [OK, 403, 403, 404, 403, 403, 403, 403, 403, 403, L], "amina"),
        ("sos raise for dependent", "post", "/sos/", {"patient": str(noah)},
         [OK, 404, 404, 404, 403, 403, 403, 403, 403, 403, L], "noah"),
        ("sos status", "get", f"/sos/{sos}/", None, SOS_FOLLOW, "amina"),
        ("sos acknowledge", "post", f"/sos/{sos}/acknowledge/", {}, SOS_HANDLE, "amina"),
        ("sos false alarm", "post", f"/sos/{sos}/false-alarm/", {"reason": "Matrix"},
         SOS_HANDLE, "amina"),
        ("sos cancel", "post", f"/sos/{sos}/cancel/", {"reason": "Matrix"}, SOS_FOLLOW,
         "amina"),
        ("sos board", "get", "/sos/board/", None,
         [403, 403, 403, 403, OK, OK, OK, OK, 403, OK, L], "amina"),
        # Consultation chat: the transcript, sending without JavaScript, and ending it (the
        # doctor's; the patient's side knows the chat, so 403).
        ("chat", "get", chat, None, CHAT, "amina"),
        ("chat send", "post", chat, {"body": "Matrix message"}, CHAT, "amina"),
        ("chat end", "post", f"{chat}end/", {},
         [403, 403, 404, 404, OK, 404, 404, 404, 404, 404, L], "amina"),
    ]  # fmt: skip


def _outcome(response) -> str:
    if response.status_code in (301, 302) and "/accounts/login/" in response.get("Location", ""):
        return L
    if 200 <= response.status_code < 300 or response.status_code == 302:
        return OK
    return response.status_code


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("latin-1")
    return response.content.decode("utf-8", "replace")


def _leaks(actor: str, expected, whose: str, body: str) -> list[str]:
    """The secrets this actor may not see that the body shows anyway."""
    forbidden = []
    if expected != OK:
        forbidden += NAME_SECRETS
    if actor not in CLINICAL_READERS[whose] or expected != OK:
        forbidden += CLINICAL_SECRETS[whose]
    if actor not in {"treating_doctor", "break_glass_active"}:
        forbidden.append(HELD_SECRET)
    return [secret for secret in forbidden if secret in body]


def _request(user, method: str, url: str, data):
    client = Client()
    if user is not None:
        client.force_login(user)
    if method == "get":
        return client.get(url)
    return client.post(url, data)


@pytest.mark.django_db
def test_every_object_url_answers_every_actor_as_designed(world, capsys):
    users, objects = world
    table = _table(objects)
    addresses = {"owner": objects["home"], "proxy_records": objects["grace_home"]}
    tried, mismatches = 0, []
    for label, method, url, data, expected_row, whose in table:
        assert len(expected_row) == len(ACTORS), label
        for actor, expected in zip(ACTORS, expected_row, strict=True):
            payload = data
            if data == "address":
                # One's own saved address; who has none tries Amina's.
                payload = {"address": str(addresses.get(actor, objects["home"]).public_id)}
            elif isinstance(data, dict):
                payload = dict(data)
                for value in payload.values():
                    if hasattr(value, "seek"):
                        value.seek(0)
            # Each pair in a savepoint rolled back afterwards: a POST changes nothing for the
            # pairs after it, so the order of the table does not matter.
            with transaction.atomic():
                response = _request(users[actor], method, url, payload)
                got = _outcome(response)
                body = _body(response)
                transaction.set_rollback(True)
            tried += 1
            if got != expected:
                mismatches.append(
                    f"{actor:20} {method.upper():4} {label:24} {url}: "
                    f"expected {expected}, got {got} ({response.status_code})"
                )
            leaked = _leaks(actor, expected, whose, body)
            if leaked:
                mismatches.append(f"{actor:20} {method.upper():4} {label:24} {url}: leaks {leaked}")
    with capsys.disabled():
        print(f"\naccess matrix: {tried} pairs tried, {len(mismatches)} mismatches")
    assert not mismatches, "\n" + "\n".join(mismatches)


# --- No orphan permission rows a new object could inherit ------------------------------------


@pytest.mark.django_db
def test_deleting_a_dependent_leaves_no_permission_rows(amina):
    noah = dependent_add(
        by=amina,
        first_name="Noah",
        last_name="Okafor",
        date_of_birth=timezone.localdate() - timedelta(days=6 * 365),
        relationship=PatientDelegate.Relationship.CHILD,
    )
    pk = noah.pk
    assert PatientUserObjectPermission.objects.filter(content_object_id=pk).count() == 5
    PatientDelegate.objects.filter(patient=noah).delete()  # the delegation PROTECTs him
    noah.delete()
    assert not PatientUserObjectPermission.objects.filter(content_object_id=pk).exists()


@pytest.mark.django_db
def test_deleting_a_record_leaves_no_permission_rows(amina, dr_clara):
    from guardian.shortcuts import assign_perm

    clara = make_doctor(dr_clara)
    make_appointment(clara, amina.patient, local_datetime(7, 10))
    # A bare record: annotations and attachments PROTECT the ones that have them.
    record = record_create(
        patient=amina.patient, author=clara, kind=RecordKind.VISIT_NOTE, title="T", text="x"
    )
    assign_perm("clinic.view_medicalrecord", amina, record)
    pk = record.pk
    assert MedicalRecordUserObjectPermission.objects.filter(content_object_id=pk).exists()
    MedicalRecord.objects.filter(pk=pk).delete()
    assert not MedicalRecordUserObjectPermission.objects.filter(content_object_id=pk).exists()
