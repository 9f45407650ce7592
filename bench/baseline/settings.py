"""Settings of the tutorial baseline: the minimum the tutorial's project needs to serve WebSockets."""

import os

SECRET_KEY = "bench-baseline-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# What the tutorial's project has installed (auth and sessions back its AuthMiddlewareStack).
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
ROOT_URLCONF = "bench.baseline.urls"
ASGI_APPLICATION = "bench.baseline.asgi.application"

# Never touched by a WebSocket without a session cookie (the session and user are lazy).
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# The tutorial's layer with its defaults (capacity 100, expiry 60), on the bench's Redis. BASELINE_LAYER=pubsub
# serves the same consumer on channels_redis' RedisPubSubChannelLayer instead (the bench's "layer" target):
# PUBLISH/SUBSCRIBE rather than a Redis list per channel, to compare the layer with Parley's direct use of
# redis-py pub/sub. It takes only hosts and prefix here (no capacity or expiry: nothing is queued in Redis).
LAYERS = {"core": "channels_redis.core.RedisChannelLayer", "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer"}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": LAYERS[os.environ.get("BASELINE_LAYER", "core")],  # a misspelt layer fails at startup
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("BASELINE_REDIS_PREFIX", "bench-baseline"),
        },
    }
}
