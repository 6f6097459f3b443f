ALTER TABLE "audit_chains" ADD COLUMN "legacy_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "legacy_hash" text;--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "audit_chains" ADD COLUMN "mac" text;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "earlier_secrets" jsonb DEFAULT '[]'::jsonb NOT NULL;