-- A small pre-migration schema for the rehearsal tests: accounts and their events.
CREATE TABLE accounts (
    id   uuid PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE events (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES accounts (id),
    kind       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX events_account_id ON events (account_id);
