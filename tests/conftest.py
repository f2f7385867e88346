"""The cast of users every test file shares, a logged-in client per user, and a clean cache.

Cast: patients Amina and Ben; Dr Clara (doctor, TOTP), Dr Omar (doctor, no TOTP yet);
Ada (admin, TOTP); Eddie (editor, TOTP); Root (superuser admin, TOTP); anonymous is `client`.
"""

import copy
import uuid

import pytest
from django.conf import settings as django_settings
from django.test import Client

from core.models import Role
from tests.factories import (
    AdminUserFactory,
    DoctorUserFactory,
    EditorUserFactory,
    PatientUserFactory,
    UserFactory,
)


def pytest_configure(config):
    # Whitenoise looks for collected static files, which tests serve from the finders instead.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


REDIS_CACHE = "redis" in django_settings.CACHES["default"]["BACKEND"].lower()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests log in dozens of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_media_root(settings, tmp_path_factory):
    # Uploads (photos, credential scans) go to a temp dir, never into the checkout.
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Every test starts with an empty cache (rate limits, cached sessions, TOTP codes used).

    With Redis `cache.clear()` would FLUSHDB the whole database, wiping the channel layer and
    any other process using it (the browser tests run their own server against the same Redis).
    So each test gets a key prefix of its own instead, and its keys are deleted afterwards.
    """
    from django.core.cache import cache

    if not REDIS_CACHE:
        cache.clear()
        yield
        cache.clear()
        return
    prefix = f"hospital-test-{uuid.uuid4().hex}"
    caches = copy.deepcopy(django_settings.CACHES)
    caches["default"]["KEY_PREFIX"] = prefix
    settings.CACHES = caches  # resets django.core.cache.caches (setting_changed signal)
    yield
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def amina(db):
    return PatientUserFactory(email="amina@example.test", first_name="Amina", last_name="Okafor")


@pytest.fixture
def ben(db):
    return PatientUserFactory(email="ben@example.test", first_name="Ben", last_name="Keller")


@pytest.fixture
def dr_clara(db):
    """A doctor who has enrolled her authenticator app."""
    return DoctorUserFactory(email="clara@example.test", first_name="Clara", last_name="Weiss")


@pytest.fixture
def dr_omar(db):
    """A doctor who has not enrolled an authenticator app yet."""
    return DoctorUserFactory(
        email="omar@example.test", first_name="Omar", last_name="Haddad", totp=False
    )


@pytest.fixture
def ada(db):
    """An admin (role) with TOTP, but not a Django superuser."""
    return AdminUserFactory(email="ada@example.test", first_name="Ada", last_name="Admin")


@pytest.fixture
def eddie(db):
    return EditorUserFactory(email="eddie@example.test", first_name="Eddie", last_name="Editor")


@pytest.fixture
def root(db):
    """An admin who is also a Django superuser, with TOTP."""
    user = UserFactory(email="root@example.test", first_name="Root", role=Role.ADMIN, totp=True)
    user.is_superuser = True
    user.is_staff = True
    user.save(update_fields=["is_superuser", "is_staff"])
    return user


@pytest.fixture
def client_for(db):
    """A new test client logged in as the given user (force_login: no password, no MFA step)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def htmx(target: str | None = None, **extra) -> dict:
    """Headers of a (non-boosted) HTMX request aimed at the region with id `target`."""
    headers = {"HX-Request": "true"}
    if target:
        headers["HX-Target"] = target
    headers.update(extra)
    return {"headers": headers}
