from django.urls import path

from clinic import views

urlpatterns = [
    path("appointments/", views.appointment_list, name="appointment_list"),
    path("appointments/<uuid:public_id>/", views.appointment_detail, name="appointment_detail"),
    path(
        "appointments/<uuid:public_id>/cancel/",
        views.appointment_cancel_view,
        name="appointment_cancel",
    ),
    path(
        "appointments/<uuid:public_id>/calendar.ics",
        views.appointment_calendar_file,
        name="appointment_calendar_file",
    ),
]
