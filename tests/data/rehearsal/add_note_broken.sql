-- A migration whose second step fails: the column it updates does not exist.
ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';

UPDATE events SET nope = kind;

CREATE INDEX CONCURRENTLY events_note ON events (note);
