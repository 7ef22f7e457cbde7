-- The migration the tests rehearse: a column with a default (no rewrite), filled from
-- kind in one statement, indexed without blocking writes.
ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';

UPDATE events SET note = kind WHERE note = 'none';

CREATE INDEX CONCURRENTLY events_note ON events (note);
