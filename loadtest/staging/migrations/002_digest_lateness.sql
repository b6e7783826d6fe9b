-- The scheduler's own "now" (the settable clock) when each digest was sent, so that lateness
-- (clock_at - day + slot) can be measured in scheduler time even when the clock runs fast.
ALTER TABLE digests_sent ADD COLUMN IF NOT EXISTS clock_at timestamp;
