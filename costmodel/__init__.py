"""Unit economics per tier, break-even, sensitivity and uncertainty."""
