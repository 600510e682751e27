CREATE TABLE `data_migrations` (
	`name` text PRIMARY KEY NOT NULL,
	`applied_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `webhook_tokens` (
	`token` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`event_ids` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_tokens_expiry` ON `webhook_tokens` (`expires_at`);