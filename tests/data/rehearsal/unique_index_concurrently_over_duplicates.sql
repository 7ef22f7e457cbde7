-- A migration that fails on the data and leaves something behind: a unique index
-- built CONCURRENTLY over (account_id, kind), which repeat, fails and is left INVALID.
ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';

CREATE UNIQUE INDEX CONCURRENTLY events_account_kind ON events (account_id, kind);

UPDATE events SET note = kind WHERE note = 'none';
