-- A migration that fails on the data: a unique constraint over (account_id, kind),
-- which repeat in every account, fails with a unique violation at step 2.
ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';

ALTER TABLE events ADD CONSTRAINT events_account_kind_key UNIQUE (account_id, kind);

UPDATE events SET note = kind WHERE note = 'none';
