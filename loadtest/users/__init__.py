"""Telegram users for Locust: the client (telegram.py), arrival schedules (arrivals.py), and the Locust
side (locust_glue.py, open_workload.py: these import locust, so only Locust processes import them)."""
