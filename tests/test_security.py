"""Production settings pass Django's deploy check; every page carries the security headers."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def _csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_deploy_check_is_clean_with_production_environment():
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing from the developer's shell may soften the production defaults.
        if not key.startswith(("DEBUG", "SECURE_", "STAFF_MFA", "SECRET_KEY", "TRUST_"))
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="hospital.example",
        CSRF_TRUSTED_ORIGINS="https://hospital.example",
        DJANGO_SETTINGS_MODULE="hospital.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in result.stdout, output
    assert "WARNINGS" not in output and "ERRORS" not in output


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DEBUG="false", ALLOWED_HOSTS="hospital.example")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/articles/"])
def test_public_pages_carry_strict_security_headers(client, path):
    response = client.get(path)

    assert response.status_code == 200
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    vary = [v.strip().lower() for v in response["Vary"].split(",")]
    assert "hx-request" in vary


@pytest.mark.django_db
def test_signed_in_pages_carry_strict_policy_too(client_for, amina):
    response = client_for(amina).get("/patient/")

    assert response.status_code == 200
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "hx-request" in response["Vary"].lower()


@pytest.mark.django_db
def test_only_the_cms_gets_the_relaxed_admin_policy(client_for, eddie):
    client = client_for(eddie)

    cms = client.get("/cms/")
    site = client.get("/editorial/")

    assert cms.status_code == 200
    cms_csp = _csp(cms)
    assert "'unsafe-inline'" in cms_csp["script-src"]
    # Even the relaxed policy forbids plugins, <base> and framing by other sites.
    assert cms_csp["object-src"] == ["'none'"]
    assert cms_csp["base-uri"] == ["'none'"]
    assert cms_csp["frame-ancestors"] == ["'self'"]
    assert site.status_code == 200
    assert _csp(site)["script-src"] == ["'self'"]


@pytest.mark.django_db
def test_a_path_that_merely_starts_like_cms_keeps_the_strict_policy(client):
    # "/cmsx" is not under /cms/: no relaxed policy leaks to look-alike paths.
    response = client.get("/cmsx/")

    assert response.status_code == 404
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
