-- Durable timers: moves the scheduled messages due at $1 (epoch ms), at most $2 of them, oldest
-- first, into the outbox, in one statement. The due rows are claimed with SKIP LOCKED (another
-- process releasing at the same time takes other rows), deleted and copied atomically. Returns one
-- row per message released.
--
-- Placeholder, filled in by postgres-schema.ts: {{schema}} (quoted identifier).
WITH due AS (
  SELECT seq FROM {{schema}}.scheduled_messages WHERE due_at <= $1
   ORDER BY due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED
), moved AS (
  DELETE FROM {{schema}}.scheduled_messages m USING due WHERE m.seq = due.seq
  RETURNING m.seq, m.due_at, m.envelope
)
INSERT INTO {{schema}}.outbox (id, type, envelope)
SELECT envelope->>'id', envelope->>'type', envelope FROM moved ORDER BY due_at, seq
RETURNING seq
