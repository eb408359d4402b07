"""What the worker writes and the readers read: the one contract between the two sides.

``keys`` names every Redis key (and the bucket resolutions), ``counts`` is a bucket's counts
with the values derived from them (and the sentiment labels), ``live`` is the announcement the
worker publishes after each applied batch. The worker and the readers import from here, never
from each other (tests/core/test_layout.py).
"""
