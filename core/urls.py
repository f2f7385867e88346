from django.urls import path

from core import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("home/", views.home, name="home"),
    path("patient/", views.patient_home, name="patient_home"),
    path("doctor/", views.doctor_home, name="doctor_home"),
    path("operations/", views.admin_home, name="admin_home"),
    path("editorial/", views.editor_home, name="editor_home"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path("notifications/settings/", views.notification_settings, name="notification_settings"),
    path("notifications/<uuid:public_id>/", views.notification_open, name="notification_open"),
    path(
        "notifications/<uuid:public_id>/read/",
        views.notification_read,
        name="notification_read",
    ),
]
