"""Load-test harness: Locust runs, RunBundles, the regression gate (loadtest/harness)."""
