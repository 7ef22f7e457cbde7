-- A schema unlike the shipped ones: a schema-qualified, mixed-case table with a
-- bigint key and a quoted column, so the loader must quote every name it writes.
CREATE SCHEMA app;

CREATE TABLE app."Accounts" (
    id            bigint PRIMARY KEY,
    "displayName" text NOT NULL,
    plan          text NOT NULL
);

CREATE TABLE app.events (
    id         uuid PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES app."Accounts" (id),
    kind       text NOT NULL,
    payload    jsonb,
    amount     numeric(10, 2),
    at         timestamptz NOT NULL
);

CREATE INDEX events_at ON app.events (at DESC);
