"""The Channels tutorial's chat (https://channels.readthedocs.io/en/stable/tutorial/), as it is.

A separate, tiny Django project: its own settings module, no database access, channels_redis
``RedisChannelLayer`` on the same Redis as Parley (its own prefix), served by uvicorn with the same
flags as ``parley.serve``. It is the benchmark's baseline, not part of Parley. With BASELINE_LAYER=pubsub
the same project runs on ``RedisPubSubChannelLayer`` (the bench's "layer" target, see settings).
"""
