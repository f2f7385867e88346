from clinic.models import Doctor


def doctor_applications_pending_count() -> int:
    return Doctor.objects.filter(status=Doctor.Status.PENDING).count()
