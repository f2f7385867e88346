# Clinic pages arrive with the scheduling and records issues.
urlpatterns: list = []
