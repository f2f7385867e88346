"""WSGI entry point: gunicorn serves every page in production (see README.md, Serving)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
application = get_wsgi_application()
