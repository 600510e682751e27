ALTER TABLE `subscriptions` ADD `pending_name` text;--> statement-breakpoint
ALTER TABLE `subscriptions` ADD `ended_by_link` integer;--> statement-breakpoint
ALTER TABLE `suppressions` ADD `created_by_link` integer;