-- The consent log is proof: rows are added, and deleted only by an erasure, never rewritten.
-- Mirrors the SQLite trigger: every UPDATE is refused, including the one a foreign key's
-- "on delete set null" would make, so erasure deletes a contact's events before the contact.
CREATE FUNCTION consent_events_refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'consent_events is append-only';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
FOR EACH ROW EXECUTE FUNCTION consent_events_refuse_update();
--> statement-breakpoint
INSERT INTO lists (slug, name, created_at)
VALUES ('default', 'Newsletter', (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
ON CONFLICT DO NOTHING;
