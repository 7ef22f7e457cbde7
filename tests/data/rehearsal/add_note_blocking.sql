-- The same migration with a step that holds ACCESS EXCLUSIVE on events for 400 ms,
-- as a table rewrite would: every writer stalls behind it.
ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';

DO $$
BEGIN
    LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
    PERFORM pg_sleep(0.4);
END
$$;

UPDATE events SET note = kind WHERE note = 'none';
