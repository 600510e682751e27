DROP INDEX `suppressions_hash_all_lists`;--> statement-breakpoint
DROP INDEX `suppressions_hash_list`;--> statement-breakpoint
CREATE UNIQUE INDEX `suppressions_hash_all_lists` ON `suppressions` (`email_hash`,`reason`) WHERE list_id is null;--> statement-breakpoint
CREATE UNIQUE INDEX `suppressions_hash_list` ON `suppressions` (`email_hash`,`list_id`,`reason`) WHERE list_id is not null;--> statement-breakpoint
ALTER TABLE `outbox` ADD `opted_out_at` integer;