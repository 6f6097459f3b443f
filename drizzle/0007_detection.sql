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
CREATE INDEX "detection_events_rule_key_at_idx" ON "detection_events" USING btree ("rule","key","at");