"""Changing the password keeps the current session and signs out every other one."""

import pytest
from django.test import Client

from tests.factories import PASSWORD


@pytest.mark.django_db
def test_password_change_signs_out_other_sessions_but_not_this_one(amina):
    here, elsewhere = Client(), Client()
    here.force_login(amina)
    elsewhere.force_login(amina)
    assert elsewhere.get("/patient/").status_code == 200

    response = here.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a-new-long-passphrase-2026",
            "password2": "a-new-long-passphrase-2026",
        },
    )

    assert response.status_code == 302
    assert here.get("/patient/").status_code == 200
    after = elsewhere.get("/patient/")
    assert after.status_code == 302
    assert after["Location"].startswith("/accounts/login/")
