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
ALTER TABLE "ip_blocks" ADD CONSTRAINT "ip_blocks_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_blocks" ADD CONSTRAINT "ip_blocks_incident_id_incidents_id_fk" FOREIGN KEY ("incident_id") REFERENCES "public"."incidents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_blocks" ADD CONSTRAINT "ip_blocks_removed_by_users_id_fk" FOREIGN KEY ("removed_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_flags" ADD CONSTRAINT "ip_flags_incident_id_incidents_id_fk" FOREIGN KEY ("incident_id") REFERENCES "public"."incidents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ip_blocks_cidr_idx" ON "ip_blocks" USING btree ("cidr","removed_at");--> statement-breakpoint
CREATE INDEX "ip_blocks_created_idx" ON "ip_blocks" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "ip_flags_until_idx" ON "ip_flags" USING btree ("until");--> statement-breakpoint
CREATE INDEX "detection_events_rule_key_at_idx" ON "detection_events" USING btree ("rule","key","at");