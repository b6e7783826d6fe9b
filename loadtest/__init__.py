"""Staging stack, fake APIs, Locust load tests and the regression gate."""
