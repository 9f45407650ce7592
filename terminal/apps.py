"""Listed in INSTALLED_APPS as every part of Parley is; it has no models, views or URLs: the
terminal client talks to the server over its public doors only."""

from django.apps import AppConfig


class TerminalConfig(AppConfig):
    name = "terminal"
    verbose_name = "Terminal client"
