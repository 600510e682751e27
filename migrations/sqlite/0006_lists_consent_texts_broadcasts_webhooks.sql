CREATE TABLE `broadcasts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`list_id` integer NOT NULL,
	`subject` text NOT NULL,
	`body` text NOT NULL,
	`format` text NOT NULL,
	`status` text NOT NULL,
	`send_at` integer,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`total` integer DEFAULT 0 NOT NULL,
	`queued_through` integer,
	`unsubscribed` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`list_id`) REFERENCES `lists`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `broadcasts_status_send_at` ON `broadcasts` (`status`,`send_at`);--> statement-breakpoint
CREATE TABLE `consent_texts` (
	`version` text PRIMARY KEY NOT NULL,
	`list_id` integer NOT NULL,
	`text` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`list_id`) REFERENCES `lists`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `consent_texts_list` ON `consent_texts` (`list_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `daily_list_stats` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`day` text NOT NULL,
	`list_id` integer NOT NULL,
	`signups` integer DEFAULT 0 NOT NULL,
	`confirmations` integer DEFAULT 0 NOT NULL,
	`unsubscribes` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`list_id`) REFERENCES `lists`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `daily_list_stats_day_list` ON `daily_list_stats` (`day`,`list_id`);--> statement-breakpoint
CREATE TABLE `webhook_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`delivery_id` text NOT NULL,
	`at` integer NOT NULL,
	`status_code` integer,
	`duration_ms` integer NOT NULL,
	`error` text,
	FOREIGN KEY (`delivery_id`) REFERENCES `webhook_deliveries`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_attempts_delivery` ON `webhook_attempts` (`delivery_id`,`at`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`endpoint_id` text NOT NULL,
	`event_type` text NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_status_code` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`handed_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`endpoint_id`) REFERENCES `webhook_endpoints`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_status_created` ON `webhook_deliveries` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_endpoint_created` ON `webhook_deliveries` (`endpoint_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `webhook_endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`description` text,
	`events` text NOT NULL,
	`secret` text NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`disabled_reason` text,
	`failing_since` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `consent_events` ADD `consent_version` text;--> statement-breakpoint
CREATE INDEX `consent_events_list_action` ON `consent_events` (`list_id`,`action`,`at`);--> statement-breakpoint
ALTER TABLE `contacts` ADD `minimized_at` integer;--> statement-breakpoint
ALTER TABLE `lists` ADD `name_by_locale` text;--> statement-breakpoint
ALTER TABLE `lists` ADD `description` text;--> statement-breakpoint
ALTER TABLE `lists` ADD `confirmed_url` text;--> statement-breakpoint
ALTER TABLE `lists` ADD `from_name` text;--> statement-breakpoint
ALTER TABLE `lists` ADD `from_email` text;--> statement-breakpoint
ALTER TABLE `lists` ADD `public` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `lists` ADD `archived_at` integer;--> statement-breakpoint
ALTER TABLE `lists` ADD `welcome_message` text;--> statement-breakpoint
ALTER TABLE `lists` ADD `goodbye_email` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `lists` ADD `require_consent` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `lists` ADD `consent_version` text;--> statement-breakpoint
ALTER TABLE `outbox` ADD `broadcast_id` integer REFERENCES broadcasts(id);--> statement-breakpoint
CREATE INDEX `outbox_broadcast_status` ON `outbox` (`broadcast_id`,`status`);--> statement-breakpoint
CREATE INDEX `subscriptions_list_status` ON `subscriptions` (`list_id`,`status`,`id`);