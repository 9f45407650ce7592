"""The REST API v1 (``/api/v1``): what programs use to speak as a user with a personal token."""
