-- The staging bot's schema: users, their notes, their digest schedules, and every digest sent.
-- digests_sent has no unique key on purpose: a duplicate send (scheduler lock off) must be recorded,
-- not hidden, so that tests and calibration can count duplicates (the model's A2 claim).
CREATE TABLE IF NOT EXISTS users (
    user_id     bigint PRIMARY KEY,
    chat_id     bigint NOT NULL,
    first_name  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notes (
    note_id     bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(user_id),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notes_user_idx ON notes (user_id, note_id DESC);

CREATE TABLE IF NOT EXISTS schedules (
    schedule_id   bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(user_id),
    chat_id       bigint NOT NULL,
    wanted_min    integer NOT NULL CHECK (wanted_min BETWEEN 0 AND 1439),   -- the time the user asked for
    slot_min      integer NOT NULL CHECK (slot_min BETWEEN 0 AND 1439),     -- the time it is sent at
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id)
);
CREATE INDEX IF NOT EXISTS schedules_slot_idx ON schedules (slot_min);

CREATE TABLE IF NOT EXISTS digests_sent (
    id            bigserial PRIMARY KEY,
    schedule_id   bigint NOT NULL REFERENCES schedules(schedule_id),
    user_id       bigint NOT NULL,
    day           date NOT NULL,
    slot_min      integer NOT NULL,
    instance      text NOT NULL,
    message_id    bigint,
    sent_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS digests_sent_day_idx ON digests_sent (day, schedule_id);
