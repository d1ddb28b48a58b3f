-- The PostgreSQL schema of the event store, applied by every start (postgres-schema.ts, under an
-- advisory lock): every statement is idempotent. Every table lives in one schema named after
-- ORDERFLOW_NAMESPACE, so several deployments (and test runs) share one server.
--
-- `tx` columns record the writing transaction (`pg_current_xact_id()`, xid8). Catch-up readers use
-- them to decide which positions are final; see postgres-reads.ts and docs/postgres.md.
--
-- Placeholders, filled in by postgres-schema.ts: {{schema}} (quoted identifier), {{schema_literal}}
-- (the name as a string literal).
CREATE SCHEMA IF NOT EXISTS {{schema}};

CREATE TABLE IF NOT EXISTS {{schema}}.streams (
  stream_id text PRIMARY KEY,
  version bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS {{schema}}.events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id text NOT NULL,
  version bigint NOT NULL,
  id text NOT NULL UNIQUE,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb,
  correlation_id text,
  time timestamptz NOT NULL,
  tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
  UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_by_correlation ON {{schema}}.events (correlation_id, position)
  WHERE correlation_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS {{schema}}.inbox (
  consumer text NOT NULL,
  message_id text NOT NULL,
  handled_at timestamptz NOT NULL,
  PRIMARY KEY (consumer, message_id)
);

CREATE TABLE IF NOT EXISTS {{schema}}.checkpoints (
  subscription_id text PRIMARY KEY,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS {{schema}}.outbox (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL,
  type text NOT NULL,
  target_group text,
  envelope jsonb NOT NULL,
  created timestamptz NOT NULL DEFAULT now(),
  tx xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE TABLE IF NOT EXISTS {{schema}}.scheduled_messages (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  due_at bigint NOT NULL,
  envelope jsonb NOT NULL,
  message_id text
);
CREATE INDEX IF NOT EXISTS scheduled_messages_due ON {{schema}}.scheduled_messages (due_at, seq);
-- Cancellable timers (message_id). Schemas made before the column get it once: ALTER TABLE takes an
-- exclusive lock even when the column exists, which deadlocks with running stores, so look first.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = {{schema_literal}}
                 AND table_name = 'scheduled_messages' AND column_name = 'message_id') THEN
    ALTER TABLE {{schema}}.scheduled_messages ADD COLUMN message_id text;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS scheduled_messages_by_id ON {{schema}}.scheduled_messages (message_id);
