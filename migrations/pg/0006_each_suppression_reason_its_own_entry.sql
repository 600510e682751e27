DROP INDEX "suppressions_hash_all_lists";--> statement-breakpoint
DROP INDEX "suppressions_hash_list";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "opted_out_at" bigint;--> statement-breakpoint
CREATE UNIQUE INDEX "suppressions_hash_all_lists" ON "suppressions" USING btree ("email_hash","reason") WHERE list_id is null;--> statement-breakpoint
CREATE UNIQUE INDEX "suppressions_hash_list" ON "suppressions" USING btree ("email_hash","list_id","reason") WHERE list_id is not null;