CREATE TYPE "public"."engine_run_state" AS ENUM('running', 'stopped');--> statement-breakpoint
CREATE TABLE "engine_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "engine_state" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"state" "engine_run_state" DEFAULT 'stopped' NOT NULL,
	"started_at" timestamp with time zone,
	"stopped_at" timestamp with time zone,
	"max_position_per_symbol" integer DEFAULT 50 NOT NULL,
	"max_daily_notional_per_user" double precision DEFAULT 10000000 NOT NULL,
	"limit_price_band_pct" double precision DEFAULT 5 NOT NULL,
	"max_order_quantity" integer DEFAULT 100 NOT NULL,
	"limits_updated_at" timestamp with time zone,
	"limits_updated_by" text,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"version" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "engine_state_single_row" CHECK ("engine_state"."id" = 1),
	CONSTRAINT "engine_state_max_order_quantity" CHECK ("engine_state"."max_order_quantity" between 1 and 100),
	CONSTRAINT "engine_state_max_position" CHECK ("engine_state"."max_position_per_symbol" >= 1),
	CONSTRAINT "engine_state_daily_notional" CHECK ("engine_state"."max_daily_notional_per_user" > 0),
	CONSTRAINT "engine_state_price_band" CHECK ("engine_state"."limit_price_band_pct" > 0 and "engine_state"."limit_price_band_pct" <= 100)
);
--> statement-breakpoint
CREATE INDEX "engine_events_at_idx" ON "engine_events" USING btree ("at");