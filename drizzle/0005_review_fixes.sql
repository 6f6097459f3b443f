CREATE TABLE "audit_outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"actor_type" text NOT NULL,
	"actor_id" text,
	"action" text NOT NULL,
	"outcome" text NOT NULL,
	"severity" text NOT NULL,
	"resource_type" text,
	"resource_id" text,
	"ip" text,
	"user_agent" text,
	"request_id" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "legacy_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "legacy_hash" text;--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "mac" text;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "earlier_secrets" jsonb DEFAULT '[]'::jsonb NOT NULL;