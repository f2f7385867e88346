from django.contrib import admin

from clinic.models import Doctor, Patient, Specialty


@admin.register(Specialty)
class SpecialtyAdmin(admin.ModelAdmin):
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Doctor)
class DoctorAdmin(admin.ModelAdmin):
    list_display = ["__str__", "specialty", "licence_number", "status"]
    list_filter = ["status", "specialty"]
    raw_id_fields = ["user"]


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["__str__", "date_of_birth", "user"]
    raw_id_fields = ["user"]
