CREATE TABLE "ip_blocks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"cidr" text NOT NULL,
	"reason" text NOT NULL,
	"source" text NOT NULL,
	"created_by" uuid,
	"incident_id" uuid,
	"created_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone,
	"removed_at" timestamp (3) with time zone,
	"removed_by" uuid
);
--> statement-breakpoint
CREATE TABLE "ip_flags" (
	"ip" text PRIMARY KEY NOT NULL,
	"reason" text NOT NULL,
	"incident_id" uuid,
	"created_at" timestamp (3) with time zone NOT NULL,
	"until" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "detection_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"rule" text NOT NULL,
	"key" text NOT NULL,
	"member" text,
	"weight" integer DEFAULT 1 NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "detection_firings" (
	"rule" text NOT NULL,
	"key" text NOT NULL,
	"fired_at" timestamp with time zone NOT NULL,
	CONSTRAINT "detection_firings_rule_key_pk" PRIMARY KEY("rule","key")
);
--> statement-breakpoint
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
ALTER TABLE "ip_blocks" ADD CONSTRAINT "ip_blocks_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_blocks" ADD CONSTRAINT "ip_blocks_incident_id_incidents_id_fk" FOREIGN KEY ("incident_id") REFERENCES "public"."incidents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_blocks" ADD CONSTRAINT "ip_blocks_removed_by_users_id_fk" FOREIGN KEY ("removed_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_flags" ADD CONSTRAINT "ip_flags_incident_id_incidents_id_fk" FOREIGN KEY ("incident_id") REFERENCES "public"."incidents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lockdown_events" ADD CONSTRAINT "lockdown_events_lockdown_id_lockdowns_id_fk" FOREIGN KEY ("lockdown_id") REFERENCES "public"."lockdowns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lockdowns" ADD CONSTRAINT "lockdowns_engaged_by_users_id_fk" FOREIGN KEY ("engaged_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lockdowns" ADD CONSTRAINT "lockdowns_lifted_by_users_id_fk" FOREIGN KEY ("lifted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ip_blocks_cidr_idx" ON "ip_blocks" USING btree ("cidr","removed_at");--> statement-breakpoint
CREATE INDEX "ip_blocks_created_idx" ON "ip_blocks" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "ip_flags_until_idx" ON "ip_flags" USING btree ("until");--> statement-breakpoint
CREATE INDEX "detection_events_rule_key_at_idx" ON "detection_events" USING btree ("rule","key","at");--> statement-breakpoint
CREATE UNIQUE INDEX "lockdowns_one_active_idx" ON "lockdowns" USING btree (("lifted_at" is null)) WHERE "lockdowns"."lifted_at" is null;--> statement-breakpoint
CREATE INDEX "lockdowns_engaged_at_idx" ON "lockdowns" USING btree ("engaged_at");