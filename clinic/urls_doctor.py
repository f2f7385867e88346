from django.urls import path

from clinic.views import doctor

urlpatterns = [
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
