CREATE TABLE "data_migrations" (
	"name" text PRIMARY KEY NOT NULL,
	"applied_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "revoked_admin_sessions" (
	"session_id" text PRIMARY KEY NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_tokens" (
	"token" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"event_ids" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "pending_name" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "ended_by_link" bigint;--> statement-breakpoint
ALTER TABLE "suppressions" ADD COLUMN "created_by_link" bigint;--> statement-breakpoint
CREATE INDEX "webhook_tokens_expiry" ON "webhook_tokens" USING btree ("expires_at");