"""SimPy model of the bot platform."""
