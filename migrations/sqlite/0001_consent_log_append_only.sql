-- The consent log is proof: rows are added, and deleted only by an erasure, never rewritten.
CREATE TRIGGER `consent_events_no_update` BEFORE UPDATE ON `consent_events`
BEGIN
  SELECT RAISE(ABORT, 'consent_events is append-only');
END;
--> statement-breakpoint
INSERT INTO `lists` (`slug`, `name`, `created_at`) VALUES ('default', 'Newsletter', CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT DO NOTHING;
