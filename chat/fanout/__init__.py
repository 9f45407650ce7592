"""Fan-out: what happens to a change after it is committed, until it is on every reader's socket.

- ``events``: the event built once after commit and handed to the Hub (``publish_on_commit``).
- ``busevents``: the typed events that travel on a bus (publications, control events).
- ``pubsub``: the buses, in-process (``LocalBus``) and Redis pub/sub (``RedisBus``).
- ``broadcast``: the ``Hub``, one per process: joins, indexes connections by room and user, delivers.
- ``outbox``: a connection's ordered queue of frames and the task that writes them to its socket.
- ``redisconn``: Redis clients from ``REDIS_URL`` (a primary, Sentinel, or a Redis Cluster).
- ``clusterbus``, ``shardsub``: the Redis bus on a Redis Cluster (sharded pub/sub, one shard per room).
"""
