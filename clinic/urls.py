from django.urls import path

from clinic.views import (
    applications,
    appointments,
    availability,
    break_glass,
    chat,
    directory,
    doctor,
    doctor_patients,
    patients,
    prescriptions,
    records,
    sos,
    waitlist,
)

urlpatterns = [
    path("doctors/", directory.doctor_directory, name="doctor_directory"),
    path("doctors/apply/", applications.doctor_apply_view, name="doctor_apply"),
    path("doctors/application/", applications.doctor_application, name="doctor_application"),
    path(
        "doctors/documents/<uuid:public_id>/",
        applications.credential_document_download,
        name="credential_document",
    ),
    path("doctors/<uuid:public_id>/photo/", applications.doctor_photo, name="doctor_photo"),
    path("doctors/<uuid:public_id>/", directory.doctor_profile, name="doctor_profile"),
    path("doctors/<uuid:public_id>/book/", directory.doctor_book, name="doctor_book"),
    path("appointments/", appointments.appointment_list, name="appointment_list"),
    path(
        "appointments/<uuid:public_id>/",
        appointments.appointment_detail,
        name="appointment_detail",
    ),
    path(
        "appointments/<uuid:public_id>/cancel/",
        appointments.appointment_cancel_view,
        name="appointment_cancel",
    ),
    path(
        "appointments/<uuid:public_id>/calendar.ics",
        appointments.appointment_calendar_file,
        name="appointment_calendar_file",
    ),
    path(
        "appointments/<uuid:public_id>/reschedule/",
        appointments.appointment_reschedule_view,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<uuid:public_id>/rate/",
        appointments.appointment_rate_view,
        name="appointment_rate",
    ),
    path("doctor/agenda/", doctor.agenda, name="doctor_agenda"),
    *[
        path(
            f"appointments/<uuid:public_id>/{action}/",
            doctor.appointment_action,
            {"action": action},
            name=f"appointment_{action.replace('-', '_')}",
        )
        for action in doctor.ACTIONS
    ],
]

# The doctor's availability editor and her patients.
urlpatterns += [
    path("doctor/availability/", availability.availability, name="doctor_availability"),
    path(
        "doctor/availability/weekly/",
        availability.weekly_add,
        name="doctor_availability_weekly_add",
    ),
    path(
        "doctor/availability/weekly/remove/",
        availability.weekly_remove,
        name="doctor_availability_weekly_remove",
    ),
    path(
        "doctor/availability/exceptions/",
        availability.exception_add_view,
        name="doctor_availability_exception_add",
    ),
    path(
        "doctor/availability/exceptions/remove/",
        availability.exception_remove_view,
        name="doctor_availability_exception_remove",
    ),
    path(
        "doctor/availability/policy/",
        availability.policy_update_view,
        name="doctor_availability_policy",
    ),
    path("doctor/patients/", doctor_patients.patient_list, name="doctor_patients"),
]

# The waitlist (patients).
urlpatterns += [
    path("doctors/<uuid:public_id>/waitlist/", waitlist.waitlist_join_view, name="waitlist_join"),
    path("waitlist/", waitlist.waitlist_list, name="waitlist_list"),
    path("waitlist/<uuid:public_id>/leave/", waitlist.waitlist_leave_view, name="waitlist_leave"),
    path(
        "waitlist/offers/<uuid:public_id>/", waitlist.waitlist_offer_detail, name="waitlist_offer"
    ),
    path(
        "waitlist/offers/<uuid:public_id>/accept/",
        waitlist.waitlist_offer_accept_view,
        name="waitlist_offer_accept",
    ),
    path(
        "waitlist/offers/<uuid:public_id>/decline/",
        waitlist.waitlist_offer_decline_view,
        name="waitlist_offer_decline",
    ),
]

# Emergency ("break-the-glass") access and the patient's access log.
urlpatterns += [
    path("patients/find/", break_glass.patient_find, name="patient_find"),
    path(
        "patients/<uuid:public_id>/emergency-access/",
        break_glass.emergency_access,
        name="emergency_access",
    ),
    path(
        "operations/emergency-access/",
        break_glass.break_glass_review_list,
        name="break_glass_review_list",
    ),
    path(
        "operations/emergency-access/<uuid:public_id>/review/",
        break_glass.break_glass_review_view,
        name="break_glass_review",
    ),
    path("patient/access-log/", break_glass.access_log, name="access_log"),
]

# Prescriptions, refills, saved addresses and delivery.
urlpatterns += [
    path(
        "appointments/<uuid:public_id>/prescription/new/",
        prescriptions.prescription_issue_view,
        name="prescription_issue",
    ),
    path("prescriptions/", prescriptions.my_prescriptions, name="my_prescriptions"),
    path(
        "patients/<uuid:public_id>/prescriptions/",
        prescriptions.patient_prescriptions,
        name="patient_prescriptions",
    ),
    path(
        "prescriptions/<uuid:public_id>/",
        prescriptions.prescription_detail,
        name="prescription_detail",
    ),
    path(
        "prescriptions/<uuid:public_id>/print/",
        prescriptions.prescription_print,
        name="prescription_print",
    ),
    path(
        "prescriptions/<uuid:public_id>/refill/",
        prescriptions.refill_request_view,
        name="prescription_refill",
    ),
    path(
        "prescriptions/<uuid:public_id>/delivery/",
        prescriptions.delivery_request_view,
        name="prescription_delivery",
    ),
    path("deliveries/<uuid:public_id>/", prescriptions.delivery_detail, name="delivery_detail"),
    path(
        "deliveries/<uuid:public_id>/cancel/",
        prescriptions.delivery_cancel_view,
        name="delivery_cancel",
    ),
    path("doctor/refills/", prescriptions.doctor_refills, name="doctor_refills"),
    path(
        "refills/<uuid:public_id>/decide/",
        prescriptions.refill_decide_view,
        name="refill_decide",
    ),
    path("account/addresses/", prescriptions.addresses, name="addresses"),
    path(
        "account/addresses/<uuid:public_id>/edit/",
        prescriptions.address_edit,
        name="address_edit",
    ),
    path(
        "account/addresses/<uuid:public_id>/default/",
        prescriptions.address_default,
        name="address_default",
    ),
    path(
        "account/addresses/<uuid:public_id>/archive/",
        prescriptions.address_archive_view,
        name="address_archive",
    ),
    path(
        "operations/deliveries/",
        prescriptions.operations_deliveries,
        name="operations_deliveries",
    ),
    path(
        "operations/deliveries/<uuid:public_id>/advance/",
        prescriptions.operations_delivery_advance,
        name="operations_delivery_advance",
    ),
]

# Patient profiles and family access (dependents, proxies, claims).
urlpatterns += [
    path("patient/profile/", patients.patient_profile, name="patient_profile"),
    path("patients/<uuid:public_id>/", patients.patient_detail, name="patient_detail"),
    path("family/", patients.family, name="family"),
    path("family/dependents/", patients.family_dependent_add, name="family_dependent_add"),
    path("family/proxies/", patients.family_proxy_invite, name="family_proxy_invite"),
    path("family/claims/", patients.family_claim_invite, name="family_claim_invite"),
    path(
        "family/delegates/<uuid:public_id>/revoke/",
        patients.family_delegate_revoke,
        name="family_delegate_revoke",
    ),
    path(
        "family/invitations/<uuid:public_id>/withdraw/",
        patients.family_invitation_withdraw,
        name="family_invitation_withdraw",
    ),
    path("invitations/<str:token>/", patients.invitation, name="invitation"),
]

# Medical records: timeline, record, writing, annotations, attachments, printable summary.
urlpatterns += [
    path("records/", records.my_records, name="my_records"),
    path("patients/<uuid:public_id>/records/", records.patient_records, name="patient_records"),
    path("patients/<uuid:public_id>/records/new/", records.record_new, name="record_new"),
    path(
        "patients/<uuid:public_id>/records/summary/",
        records.records_summary,
        name="records_summary",
    ),
    path(
        "records/attachments/<uuid:public_id>/",
        records.attachment_download,
        name="record_attachment",
    ),
    path("records/<uuid:public_id>/", records.record_detail, name="record_detail"),
    path("records/<uuid:public_id>/edit/", records.record_edit, name="record_edit"),
    path("records/<uuid:public_id>/review/", records.record_review_view, name="record_review"),
    path(
        "records/<uuid:public_id>/annotations/",
        records.record_annotate_view,
        name="record_annotate",
    ),
    path(
        "records/<uuid:public_id>/attachments/",
        records.attachment_upload,
        name="record_attachment_add",
    ),
]

# Consultation chat of an online appointment: the transcript (and sending without JavaScript),
# and the doctor ending it. The live socket is ws/chat/<id>/ (core/routing.py).
urlpatterns += [
    path("appointments/<uuid:public_id>/chat/", chat.chat_page, name="appointment_chat"),
    path("appointments/<uuid:public_id>/chat/end/", chat.chat_end, name="appointment_chat_end"),
]

# SOS: the patient's button and status page, the staff board, going on duty, the actions.
urlpatterns += [
    path("sos/", sos.sos_page, name="sos"),
    path("sos/board/", sos.sos_board, name="sos_board"),
    path("sos/duty/", sos.sos_duty, name="sos_duty"),
    path("sos/<uuid:public_id>/", sos.sos_detail, name="sos_detail"),
    *[
        path(f"sos/<uuid:public_id>/{action}/", sos.sos_action, {"action": action}, name=name)
        for action, name in (
            ("acknowledge", "sos_acknowledge"),
            ("dispatch", "sos_dispatch"),
            ("resolve", "sos_resolve"),
            ("false-alarm", "sos_false_alarm"),
            ("cancel", "sos_cancel"),
        )
    ],
]
