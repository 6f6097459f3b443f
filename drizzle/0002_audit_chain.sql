-- Rows written before the hash chain existed move aside; the server chains them into the log at
-- its next start (importLegacyAuditRows) and then drops this table.
CREATE TABLE "audit_logs_legacy" AS SELECT * FROM "audit_logs";--> statement-breakpoint
DELETE FROM "audit_logs";--> statement-breakpoint
CREATE TABLE "audit_chains" (
	"chain_id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"anchor_seq" bigint DEFAULT 0 NOT NULL,
	"anchor_hash" text NOT NULL,
	"head_seq" bigint DEFAULT 0 NOT NULL,
	"head_hash" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "audit_logs_at_idx";--> statement-breakpoint
DROP INDEX "audit_logs_action_idx";--> statement-breakpoint
ALTER TABLE "audit_logs" ALTER COLUMN "at" SET DATA TYPE timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "audit_logs" ALTER COLUMN "at" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "chain_id" text NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "seq" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "prev_hash" text NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "hash" text NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_logs_chain_seq_idx" ON "audit_logs" USING btree ("chain_id","seq");--> statement-breakpoint
CREATE INDEX "audit_logs_at_id_idx" ON "audit_logs" USING btree ("at","id");--> statement-breakpoint
CREATE INDEX "audit_logs_action_at_idx" ON "audit_logs" USING btree ("action","at");--> statement-breakpoint
CREATE INDEX "audit_logs_actor_at_idx" ON "audit_logs" USING btree ("actor_id","at");--> statement-breakpoint
CREATE INDEX "audit_logs_ip_at_idx" ON "audit_logs" USING btree ("ip","at");--> statement-breakpoint
CREATE INDEX "audit_logs_resource_at_idx" ON "audit_logs" USING btree ("resource_type","resource_id","at");--> statement-breakpoint
CREATE INDEX "audit_logs_severity_at_idx" ON "audit_logs" USING btree ("severity","at");--> statement-breakpoint
CREATE INDEX "audit_logs_outcome_at_idx" ON "audit_logs" USING btree ("outcome","at");