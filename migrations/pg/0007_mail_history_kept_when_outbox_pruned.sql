CREATE TABLE "mail_history" (
	"id" text PRIMARY KEY NOT NULL,
	"subscription_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"created_at" bigint NOT NULL,
	"sent_at" bigint,
	"opted_out_at" bigint
);
--> statement-breakpoint
ALTER TABLE "broadcasts" ADD COLUMN "pruned_sent" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "broadcasts" ADD COLUMN "pruned_dropped" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "broadcasts" ADD COLUMN "pruned_cancelled" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "mail_history" ADD CONSTRAINT "mail_history_subscription_id_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscriptions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mail_history_subscription" ON "mail_history" USING btree ("subscription_id","created_at");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_finished" ON "webhook_deliveries" USING btree ("finished_at");