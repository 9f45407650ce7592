"""``make bench``: Parley against the Channels tutorial's design, on the same Redis and load generator.

``python -m bench --help`` lists the options; docs/performance.md has the method and the results.
"""
