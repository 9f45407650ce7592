"""Accounts against the real database: usernames' skeletons, sign-up refusing look-alikes, and
failed logins throttled per username and per address (django-axes with accounts.throttle)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.models import UsernameSkeleton, looks_registered
from accounts.skeleton import skeletons
from tests.accounts.test_skeleton import LOOK_ALIKES

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


def stored(user) -> set[str]:
    return set(UsernameSkeleton.objects.filter(user=user).values_list("skeleton", flat=True))


# --- Skeletons kept with the users -----------------------------------------------------------------


def test_a_new_user_gets_its_skeletons_and_a_rename_replaces_them():
    user = get_user_model().objects.create_user("Ian", password=PASSWORD)
    assert stored(user) == set(skeletons("Ian")) == {"ian", "lan"}
    user.username = "rtowner"
    user.save()
    assert stored(user) == {"rtowner"}
    user.last_name = "Kim"
    user.save(update_fields=["last_name"])
    assert stored(user) == {"rtowner"}
    user.delete()
    assert not UsernameSkeleton.objects.exists()


def test_the_data_migration_fills_skeletons_of_existing_users():
    user = get_user_model().objects.create_user("rtowner", password=PASSWORD)
    UsernameSkeleton.objects.all().delete()  # as before the migration
    fill = importlib.import_module("accounts.migrations.0002_fill_username_skeletons").fill
    fill(apps, None)
    assert stored(user) == {"rtowner"}
    fill(apps, None)  # running it twice changes nothing
    assert UsernameSkeleton.objects.count() == 1


@pytest.mark.parametrize("kind", LOOK_ALIKES)
def test_every_look_alike_looks_registered(kind):
    get_user_model().objects.create_user("rtowner", password=PASSWORD)
    assert looks_registered(LOOK_ALIKES[kind])
    assert not looks_registered("rtowners")


# --- Sign-up --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cyrillic o", "other case", "digit zero for o", "cyrillic capitals"])
def test_sign_up_refuses_a_look_alike_of_an_existing_username(client, kind):
    get_user_model().objects.create_user("rtowner", password=PASSWORD)
    name = LOOK_ALIKES[kind]
    response = client.post(reverse("signup"), {"username": name, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 400
    errors = response.context["form"].errors["username"]
    assert errors and ("looks too much like" in errors[0] or "already exists" in errors[0])
    assert 'id="username-errors"' in response.content.decode()
    assert not get_user_model().objects.filter(username=name).exists()


def test_sign_up_refuses_a_look_alike_with_a_clear_message(client):
    get_user_model().objects.create_user("rtowner", password=PASSWORD)
    name = LOOK_ALIKES["cyrillic o"]
    response = client.post(reverse("signup"), {"username": name, "password1": PASSWORD, "password2": PASSWORD})
    assert "looks too much like the name of an existing account" in response.content.decode()
    korean = client.post(
        reverse("signup"), {"username": name, "password1": PASSWORD, "password2": PASSWORD}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert "기존 계정" in korean.content.decode()


def test_sign_up_still_accepts_a_different_name(client):
    get_user_model().objects.create_user("rtowner", password=PASSWORD)
    response = client.post(reverse("signup"), {"username": "rtowner2", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert stored(get_user_model().objects.get(username="rtowner2")) == {"rtowner2"}


# --- Login throttling -----------------------------------------------------------------------------


@pytest.fixture
def limits(settings):
    settings.PARLEY_LOGIN_FAILURES_PER_USERNAME = 3
    settings.PARLEY_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.PARLEY_LOGIN_COOLOFF = 600
    return settings


def log_in(username: str, password: str, *, address: str = "10.0.0.1", **extra):
    return Client(REMOTE_ADDR=address).post(reverse("login"), {"username": username, "password": password}, **extra)


def logged_in(response) -> bool:
    return response.status_code == 302


def refused_as_throttled(response) -> bool:
    text = response.content.decode()
    return response.status_code == 429 and 'id="login-throttled"' in text and "Try again in 10 minutes" in text


def test_a_username_is_locked_after_its_failures_even_with_the_right_password(limits):
    get_user_model().objects.create_user("ada", password=PASSWORD)
    for _ in range(2):
        response = log_in("ada", "wrong")
        assert response.status_code == 200 and response.context["form"].errors
    third = log_in("ada", "wrong")  # the third failure reaches the limit: said at once
    assert refused_as_throttled(third)
    assert refused_as_throttled(log_in("ada", PASSWORD))  # the password is not even tried
    # From another address too: the limit is the username's.
    assert refused_as_throttled(log_in("ada", PASSWORD, address="10.0.0.2"))
    # Another username from the first address is still fine (its address is under its own limit).
    get_user_model().objects.create_user("grace", password=PASSWORD)
    assert logged_in(log_in("grace", PASSWORD))


def test_the_lock_ends_after_the_cooloff(limits):
    from axes.models import AccessAttempt
    from django.utils import timezone

    get_user_model().objects.create_user("ada", password=PASSWORD)
    for _ in range(3):
        log_in("ada", "wrong")
    assert refused_as_throttled(log_in("ada", PASSWORD))
    AccessAttempt.objects.update(attempt_time=timezone.now() - timezone.timedelta(seconds=601))
    assert logged_in(log_in("ada", PASSWORD))


def test_an_address_is_locked_after_its_failures_over_many_usernames(limits):
    get_user_model().objects.create_user("ada", password=PASSWORD)
    for i in range(4):
        assert log_in(f"nobody{i}", "wrong").status_code == 200
    assert refused_as_throttled(log_in("nobody4", "wrong"))
    assert refused_as_throttled(log_in("ada", PASSWORD))  # a real user behind the locked address
    assert logged_in(log_in("ada", PASSWORD, address="10.0.0.9"))  # elsewhere, fine


def test_the_address_is_the_forwarded_one_only_from_a_trusted_proxy(limits):
    limits.PARLEY_TRUSTED_PROXIES = ["10.0.0.100"]
    for i in range(5):
        log_in(f"nobody{i}", "wrong", address="10.0.0.100", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    # Five clients behind the proxy, one failure each: none is locked.
    assert log_in("nobody9", "wrong", address="10.0.0.100", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 200
    # An untrusted peer cannot spread its failures over invented addresses.
    for i in range(4):
        log_in(f"nobody{i}", "wrong", address="10.0.0.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    assert refused_as_throttled(log_in("x", "wrong", address="10.0.0.7", HTTP_X_FORWARDED_FOR="198.51.100.99"))


def test_a_successful_login_does_not_count_and_forgives_that_names_failures(limits):
    get_user_model().objects.create_user("ada", password=PASSWORD)
    for _round in range(3):
        for _ in range(2):
            assert log_in("ada", "wrong").status_code == 200
        assert logged_in(log_in("ada", PASSWORD))
    # Six failures in all, never three in a row without a success: never locked, and successes
    # added nothing to the address's count either.
    for i in range(4):
        assert log_in(f"nobody{i}", "wrong").status_code == 200


def test_zero_turns_the_limits_off(limits):
    limits.PARLEY_LOGIN_FAILURES_PER_USERNAME = 0
    limits.PARLEY_LOGIN_FAILURES_PER_ADDRESS = 0
    get_user_model().objects.create_user("ada", password=PASSWORD)
    for _ in range(8):
        assert log_in("ada", "wrong").status_code == 200
    assert logged_in(log_in("ada", PASSWORD))


def test_the_throttled_page_is_parleys_login_page_in_korean(limits):
    get_user_model().objects.create_user("ada", password=PASSWORD)
    for _ in range(3):
        log_in("ada", "wrong")
    response = log_in("ada", PASSWORD, HTTP_ACCEPT_LANGUAGE="ko")
    text = response.content.decode()
    assert response.status_code == 429 and 'id="login-form"' in text
    assert "10분 후에 다시 시도하세요" in text
