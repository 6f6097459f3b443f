CREATE TABLE "lockdown_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"kind" text NOT NULL,
	"lockdown_id" uuid NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lockdowns" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"reason" text NOT NULL,
	"engaged_by" uuid,
	"engaged_at" timestamp (3) with time zone NOT NULL,
	"incident_id" uuid,
	"lifted_by" uuid,
	"lifted_at" timestamp (3) with time zone,
	"lift_reason" text
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "suspended_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "suspended_by_lockdown" uuid;--> statement-breakpoint
ALTER TABLE "lockdown_events" ADD CONSTRAINT "lockdown_events_lockdown_id_lockdowns_id_fk" FOREIGN KEY ("lockdown_id") REFERENCES "public"."lockdowns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lockdowns" ADD CONSTRAINT "lockdowns_engaged_by_users_id_fk" FOREIGN KEY ("engaged_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lockdowns" ADD CONSTRAINT "lockdowns_lifted_by_users_id_fk" FOREIGN KEY ("lifted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "lockdowns_one_active_idx" ON "lockdowns" USING btree (("lifted_at" is null)) WHERE "lockdowns"."lifted_at" is null;--> statement-breakpoint
CREATE INDEX "lockdowns_engaged_at_idx" ON "lockdowns" USING btree ("engaged_at");