"""Monitoring of a subscriber site: status model, expiry alarms, Prometheus metrics.

* :mod:`.status` gathers what the site looks like (database, cache indexes, outbox, trust store)
  into plain dataclasses;
* :mod:`.alarms` turns expiry dates and failures into OK / WARNING / CRITICAL (pure);
* :mod:`.metrics` builds a prometheus_client registry from the model and writes the textfile;
* :mod:`.record` keeps the last update of each subscription and counters in the database.
"""
