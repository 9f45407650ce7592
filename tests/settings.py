"""The test suite's settings: Parley's own (``parley.settings``), with one change.

Passwords are hashed with Django's ``MD5PasswordHasher``, which Django's documentation recommends
for test runs: the default PBKDF2 costs ~0.3 s of CPU per hash here, and the suite signs up, logs
in and checks the passwords of hundreds of users, in its own process and on the servers it starts
(they inherit ``DJANGO_SETTINGS_MODULE``: ``tests/servers.py``). ``make run`` and ``make bench``
keep Django's default hashers. Nothing else differs.
"""

from parley.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
