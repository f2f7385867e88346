from django.urls import path

from clinic.views import (
    applications,
    appointments,
    availability,
    break_glass,
    directory,
    doctor,
    doctor_patients,
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
