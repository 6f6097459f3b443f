CREATE TYPE "public"."bot_status" AS ENUM('stopped', 'running');--> statement-breakpoint
CREATE TYPE "public"."order_side" AS ENUM('BUY', 'SELL');--> statement-breakpoint
CREATE TYPE "public"."order_status" AS ENUM('working', 'filled', 'cancelled', 'rejected');--> statement-breakpoint
CREATE TYPE "public"."order_type" AS ENUM('market', 'limit');--> statement-breakpoint
CREATE TABLE "bots" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_id" uuid NOT NULL,
	"name" text NOT NULL,
	"strategy" text NOT NULL,
	"symbols" jsonb NOT NULL,
	"parameters" jsonb NOT NULL,
	"credentials" jsonb NOT NULL,
	"status" "bot_status" DEFAULT 'stopped' NOT NULL,
	"last_error" text,
	"started_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"version" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fills" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"order_id" uuid NOT NULL,
	"owner_id" uuid NOT NULL,
	"bot_id" uuid,
	"symbol" text NOT NULL,
	"side" "order_side" NOT NULL,
	"quantity" integer NOT NULL,
	"price" double precision NOT NULL,
	"notional" double precision NOT NULL,
	"print_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fills_quantity" CHECK ("fills"."quantity" > 0)
);
--> statement-breakpoint
CREATE TABLE "orders" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_id" uuid NOT NULL,
	"bot_id" uuid,
	"placed_by" text NOT NULL,
	"client_order_id" text NOT NULL,
	"request_hash" text NOT NULL,
	"symbol" text NOT NULL,
	"side" "order_side" NOT NULL,
	"type" "order_type" NOT NULL,
	"quantity" integer NOT NULL,
	"limit_price" double precision,
	"status" "order_status" NOT NULL,
	"filled_quantity" integer DEFAULT 0 NOT NULL,
	"average_fill_price" double precision,
	"notional" double precision DEFAULT 0 NOT NULL,
	"reason" text NOT NULL,
	"confidence" integer,
	"reject_rule" text,
	"reject_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "orders_quantity" CHECK ("orders"."quantity" >= 1),
	CONSTRAINT "orders_limit_price" CHECK (("orders"."type" = 'limit') = ("orders"."limit_price" is not null)),
	CONSTRAINT "orders_filled" CHECK ("orders"."filled_quantity" between 0 and "orders"."quantity")
);
--> statement-breakpoint
CREATE TABLE "positions" (
	"owner_id" uuid NOT NULL,
	"symbol" text NOT NULL,
	"quantity" integer DEFAULT 0 NOT NULL,
	"average_price" double precision DEFAULT 0 NOT NULL,
	"realized_pnl" double precision DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "positions_owner_id_symbol_pk" PRIMARY KEY("owner_id","symbol")
);
--> statement-breakpoint
CREATE TABLE "trading_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"kind" text NOT NULL,
	"owner_id" uuid,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "bots" ADD CONSTRAINT "bots_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_bot_id_bots_id_fk" FOREIGN KEY ("bot_id") REFERENCES "public"."bots"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_bot_id_bots_id_fk" FOREIGN KEY ("bot_id") REFERENCES "public"."bots"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "bots_owner_name_idx" ON "bots" USING btree ("owner_id","name");--> statement-breakpoint
CREATE INDEX "bots_status_idx" ON "bots" USING btree ("status");--> statement-breakpoint
CREATE INDEX "fills_owner_id_idx" ON "fills" USING btree ("owner_id","id");--> statement-breakpoint
CREATE INDEX "fills_order_idx" ON "fills" USING btree ("order_id");--> statement-breakpoint
CREATE INDEX "fills_bot_idx" ON "fills" USING btree ("bot_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "orders_owner_client_order_idx" ON "orders" USING btree ("owner_id","client_order_id");--> statement-breakpoint
CREATE INDEX "orders_owner_created_idx" ON "orders" USING btree ("owner_id","created_at","id");--> statement-breakpoint
CREATE INDEX "orders_created_idx" ON "orders" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "orders_working_idx" ON "orders" USING btree ("symbol") WHERE "orders"."status" = 'working';--> statement-breakpoint
CREATE INDEX "orders_bot_idx" ON "orders" USING btree ("bot_id");--> statement-breakpoint
CREATE INDEX "trading_events_kind_id_idx" ON "trading_events" USING btree ("kind","id");--> statement-breakpoint
CREATE INDEX "trading_events_owner_idx" ON "trading_events" USING btree ("owner_id","kind","id");