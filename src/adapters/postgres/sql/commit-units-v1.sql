-- commit_units_v1: a group of units of work in one call and one transaction (the PostgreSQL event
-- store's only write path; postgres-group-commit.ts calls it, docs/postgres.md explains it).
--
--   SELECT * FROM <schema>.commit_units_v1($1::jsonb)   with   {"o": origin, "units": [unit, …]}
--
-- A unit's JSON is built by `prepareUnit` (postgres-group-commit.ts), which documents it. Each unit
-- succeeds or fails on its own: one whose inbox mark is already recorded is `duplicate`, one whose
-- expected version does not match is `conflict` (with the append's index and the actual version),
-- and neither writes anything; the others are written together. An error (a race the checks could
-- not see: the same event id or inbox mark written concurrently; bad data) rolls the whole call
-- back, and the caller retries each unit alone.
--
-- Replaced on every start (CREATE OR REPLACE), so existing schemas get the current body. Its result
-- columns cannot change in place: a change of signature or result takes a new name (`_v2`, a new
-- file), and old processes keep calling theirs during a rolling upgrade. The lock keys are those of
-- the previous, client-side commit path (`hashtext('<schema>:streams')`,
-- `hashtext('<schema>:sequencer')`), so processes of both versions exclude each other correctly.
--
-- Steps, all before the events INSERT only read or take advisory locks:
-- 1. units whose inbox mark is recorded → `duplicate`;
-- 2. per-stream advisory transaction locks for every stream the group appends to, in hash order, in
--    one statement (no deadlock between groups or with single units);
-- 3. per event: already stored (caller-supplied id) or repeated within its append → skipped; unit
--    by unit, in order: inbox mark taken by an earlier unit of the group → `duplicate`; per append,
--    every event stored → the original append's version and position; else the expected version is
--    checked against the stream's version as left by the earlier appends and units of the group;
--    mismatch → `conflict` (and the unit's tentative versions are dropped);
-- 4. the sequencer: session advisory lock, ONE insert of the new events of every passing unit — the
--    transaction's first write, so its xid is assigned here — and unlock, right after the statement;
-- 5. streams upsert; inbox marks; outbox rows; per unit cancelled timers, later timers (and their
--    NOTIFY) and checkpoint; one NOTIFY of the written events (split under 7,000 bytes per payload,
--    NOTIFY's limit being 8,000: `{"o": origin, "e": [[streamId, type, correlationId], …]}`).
--
-- An error inside the sequencer's INSERT (a unique violation) leaves the session lock held: the
-- caller releases it.
--
-- `u`, every unit of the group with its 1-based number k (integer, for subscripts) and its time, is
-- the same subquery in each statement. Rows that get sorted must not carry the unit's whole JSON x
-- (a sort of n events × a 100 kB unit took 0.6 s): what is needed is taken from it there, and
-- OFFSET 0 keeps the planner from flattening the subquery (which would carry x up to the sorts).
--
-- Placeholders, filled in by postgres-schema.ts: {{schema}} (quoted identifier), {{streams_lock}},
-- {{sequencer_lock}}, {{events_channel}}, {{scheduled_channel}}, {{duplicate_inbox_sqlstate}}
-- (string literals).
CREATE OR REPLACE FUNCTION {{schema}}.commit_units_v1(
  p jsonb,
  OUT outcomes text[],
  OUT conflict_appends integer[],
  OUT conflict_actuals bigint[],
  OUT next_versions bigint[],
  OUT last_positions bigint[],
  OUT written boolean[],
  OUT written_ids text[]
) LANGUAGE plpgsql AS $commit$
DECLARE
  v_units integer := jsonb_array_length(p->'units');
  v_unit jsonb;
  v_offsets integer[];
  v_counts integer[];
  v_appends integer;
  v_fresh boolean[];
  v_streams text[];
  v_expected jsonb[];
  v_totals bigint[];
  v_stored bigint[];
  v_fresh_counts bigint[];
  v_stored_versions bigint[];
  v_stored_positions bigint[];
  v_bases bigint[] := '{}';
  v_known_streams text[] := '{}';
  v_known_versions bigint[] := '{}';
  v_saved_streams text[];
  v_saved_versions bigint[];
  v_claimed jsonb[] := '{}';
  v_k integer;
  v_current bigint;
  v_matches boolean;
  v_unit_fresh boolean;
  v_any_fresh boolean := false;
  v_marks integer := 0;
  v_rows integer;
  v_has_messages boolean := false;
  v_has_rest boolean := false;
  v_entries text[];
  v_entry text;
  v_batch text := '';
  v_size integer := 0;
  v_sent boolean := false;
  v_prefix text;
BEGIN
  -- 1. Marks already recorded; where each unit's appends start in the group's list of appends.
  --    (Lookups by index whatever the planner guesses of jsonb_array_elements, 100 rows: one probe
  --    per row, as LATERAL … LIMIT 1 is never turned into a hash join.)
  SELECT array_agg(CASE WHEN d.found THEN 'duplicate' ELSE 'ok' END ORDER BY u.k),
         array_agg(jsonb_array_length(coalesce(u.x->'appends', '[]')) ORDER BY u.k),
         array_agg(NULL::integer ORDER BY u.k),
         array_agg(NULL::bigint ORDER BY u.k)
    INTO outcomes, v_counts, conflict_appends, conflict_actuals
    FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
            FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
    LEFT JOIN LATERAL (
      SELECT true AS found FROM {{schema}}.inbox i
       WHERE u.x ? 'inbox' AND i.consumer = u.x#>>'{inbox,c}' AND i.message_id = u.x#>>'{inbox,m}' LIMIT 1
    ) AS d ON true;
  v_offsets := '{}';
  v_appends := 0;
  FOR v_u IN 1..v_units LOOP
    v_offsets[v_u] := v_appends;
    v_appends := v_appends + v_counts[v_u];
  END LOOP;
  next_versions := array_fill(-1::bigint, ARRAY[v_appends]);
  last_positions := array_fill(-1::bigint, ARRAY[v_appends]);
  written := array_fill(false, ARRAY[v_appends]);
  v_bases := array_fill(0::bigint, ARRAY[v_appends]);

  IF v_appends > 0 THEN
    -- 2. Stream locks: advisory, so no transaction id yet.
    PERFORM pg_advisory_xact_lock(hashtext({{streams_lock}}), l.h)
       FROM (SELECT DISTINCT hashtext(a.x->>'s') AS h
               FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
                       FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
              CROSS JOIN LATERAL jsonb_array_elements(u.x->'appends') AS a(x)
              WHERE outcomes[u.k] = 'ok' ORDER BY 1) AS l;
    SELECT coalesce(array_agg(st.stream_id), '{}'), coalesce(array_agg(st.version), '{}')
      INTO v_known_streams, v_known_versions
      FROM {{schema}}.streams st
     WHERE st.stream_id = ANY (ARRAY(
       SELECT a.x->>'s'
         FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
                 FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
        CROSS JOIN LATERAL jsonb_array_elements(u.x->'appends') AS a(x)
        WHERE outcomes[u.k] = 'ok'));
    -- 3. Per event (n: in the group, in order) and per append (g: in the group, in order).
    WITH ap AS (
      SELECT v_offsets[u.k] + a.j::integer AS g, a.x
        FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
                FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
       CROSS JOIN LATERAL jsonb_array_elements(u.x->'appends') WITH ORDINALITY AS a(x, j)
    ), e AS (
      SELECT row_number() OVER (ORDER BY u.k, t.i) AS n,
             v_offsets[u.k] + (t.x->>'a')::integer AS g, ev.version AS sv, ev.position AS sp,
             ev.position IS NULL
               AND row_number() OVER (PARTITION BY u.k, t.x->>'a', t.x->>'id' ORDER BY t.i) = 1 AS fresh
        FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
                FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
       CROSS JOIN LATERAL jsonb_array_elements(u.x->'events') WITH ORDINALITY AS t(x, i)
        LEFT JOIN LATERAL (
          SELECT e1.version, e1.position FROM {{schema}}.events e1 WHERE e1.id = t.x->>'id' LIMIT 1
        ) AS ev ON true
    ), per_append AS (
      SELECT e.g, count(*) AS total, count(e.sp) AS stored, count(*) FILTER (WHERE e.fresh) AS fresh,
             (array_agg(e.sv ORDER BY e.n DESC))[1] AS sv, (array_agg(e.sp ORDER BY e.n DESC))[1] AS sp
        FROM e GROUP BY e.g
    )
    SELECT (SELECT array_agg(e.fresh ORDER BY e.n) FROM e),
           array_agg(ap.x->>'s' ORDER BY ap.g),
           array_agg(ap.x->'x' ORDER BY ap.g),
           array_agg(coalesce(pa.total, 0) ORDER BY ap.g),
           array_agg(coalesce(pa.stored, 0) ORDER BY ap.g),
           array_agg(coalesce(pa.fresh, 0) ORDER BY ap.g),
           array_agg(pa.sv ORDER BY ap.g),
           array_agg(pa.sp ORDER BY ap.g)
      INTO v_fresh, v_streams, v_expected, v_totals, v_stored, v_fresh_counts, v_stored_versions,
           v_stored_positions
      FROM ap LEFT JOIN per_append pa ON pa.g = ap.g;
  END IF;

  FOR v_u IN 1..v_units LOOP
    CONTINUE WHEN outcomes[v_u] <> 'ok';
    v_unit := p->'units'->(v_u - 1);
    IF v_unit ? 'inbox' AND array_position(v_claimed, v_unit->'inbox') IS NOT NULL THEN
      outcomes[v_u] := 'duplicate';
      CONTINUE;
    END IF;
    v_saved_streams := v_known_streams;
    v_saved_versions := v_known_versions;
    v_unit_fresh := false;
    FOR v_g IN v_offsets[v_u] + 1 .. v_offsets[v_u] + v_counts[v_u] LOOP
      IF v_totals[v_g] > 0 AND v_stored[v_g] = v_totals[v_g] THEN
        -- Every event already stored (a retry after a lost reply): what the original append reported.
        next_versions[v_g] := v_stored_versions[v_g];
        last_positions[v_g] := v_stored_positions[v_g];
        CONTINUE;
      END IF;
      v_k := array_position(v_known_streams, v_streams[v_g]);
      v_current := CASE WHEN v_k IS NULL THEN -1 ELSE v_known_versions[v_k] END;
      v_matches := CASE jsonb_typeof(v_expected[v_g])
        WHEN 'number' THEN v_current = v_expected[v_g]::numeric
        WHEN 'string' THEN CASE v_expected[v_g] #>> '{}'
          WHEN 'any' THEN true
          WHEN 'no_stream' THEN v_current = -1
          WHEN 'stream_exists' THEN v_current > -1
          ELSE false END
        ELSE false END;
      IF NOT v_matches THEN
        outcomes[v_u] := 'conflict';
        conflict_appends[v_u] := v_g - v_offsets[v_u] - 1;
        conflict_actuals[v_u] := v_current;
        EXIT;
      END IF;
      v_bases[v_g] := v_current;
      next_versions[v_g] := v_current + v_fresh_counts[v_g];
      IF v_fresh_counts[v_g] > 0 THEN
        written[v_g] := true;
        v_unit_fresh := true;
        IF v_k IS NULL THEN
          v_known_streams := array_append(v_known_streams, v_streams[v_g]);
          v_known_versions := array_append(v_known_versions, next_versions[v_g]);
        ELSE
          v_known_versions[v_k] := next_versions[v_g];
        END IF;
      END IF;
    END LOOP;
    IF outcomes[v_u] = 'conflict' THEN
      v_known_streams := v_saved_streams;
      v_known_versions := v_saved_versions;
      FOR v_g IN v_offsets[v_u] + 1 .. v_offsets[v_u] + v_counts[v_u] LOOP
        written[v_g] := false;
      END LOOP;
      CONTINUE;
    END IF;
    IF v_unit ? 'inbox' THEN
      v_claimed := array_append(v_claimed, v_unit->'inbox');
      v_marks := v_marks + 1;
    END IF;
    v_any_fresh := v_any_fresh OR v_unit_fresh;
    v_has_messages := v_has_messages OR v_unit ? 'messages';
    v_has_rest := v_has_rest OR v_unit ? 'cancel' OR v_unit ? 'later' OR v_unit ? 'checkpoint';
  END LOOP;

  IF v_any_fresh THEN
    -- 4. The sequencer: this INSERT is the transaction's first write, so the xid is assigned here,
    --    and every position drawn, while no other writer does the same.
    PERFORM pg_advisory_lock(hashtext({{sequencer_lock}}), 0);
    WITH ins AS (
      INSERT INTO {{schema}}.events (stream_id, version, id, type, data, metadata, correlation_id, time)
      SELECT v_streams[w.g], v_bases[w.g] + row_number() OVER (PARTITION BY w.g ORDER BY w.n),
             w.x->>'id', w.x->>'type', coalesce(w.x->'data', 'null'::jsonb), w.x->'meta', w.x->>'corr', w.at
        FROM (SELECT t.x, u.k, u.at,
                     row_number() OVER (ORDER BY u.k, t.i)::integer AS n,
                     v_offsets[u.k] + (t.x->>'a')::integer AS g
                FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
                        FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
               CROSS JOIN LATERAL jsonb_array_elements(u.x->'events') WITH ORDINALITY AS t(x, i)) AS w
       WHERE v_fresh[w.n] AND outcomes[w.k] = 'ok'
       ORDER BY w.n
      RETURNING events.position, events.stream_id, events.version, events.id, events.type, events.correlation_id
    )
    SELECT (SELECT array_agg(CASE WHEN pl.w THEN ins.position ELSE pl.lp END ORDER BY pl.g)
              FROM unnest(v_streams, next_versions, written, last_positions) WITH ORDINALITY AS pl(sid, nv, w, lp, g)
              LEFT JOIN ins ON pl.w AND ins.stream_id = pl.sid AND ins.version = pl.nv),
           (SELECT array_agg(ins.id ORDER BY ins.position) FROM ins),
           (SELECT array_agg('[' || to_json(ins.stream_id)::text || ',' || to_json(ins.type)::text || ','
                             || coalesce(to_json(ins.correlation_id)::text, 'null') || ']' ORDER BY ins.position)
              FROM ins)
      INTO last_positions, written_ids, v_entries;
    PERFORM pg_advisory_unlock(hashtext({{sequencer_lock}}), 0);

    -- 5. Everything else.
    INSERT INTO {{schema}}.streams (stream_id, version)
    SELECT pl.sid, max(pl.nv) FROM unnest(v_streams, next_versions, written) AS pl(sid, nv, w)
     WHERE pl.w GROUP BY pl.sid
    ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version;
  END IF;

  IF v_marks > 0 THEN
    -- Waits for a concurrent transaction holding one of the marks; no row means it committed first.
    INSERT INTO {{schema}}.inbox (consumer, message_id, handled_at)
    SELECT u.x#>>'{inbox,c}', u.x#>>'{inbox,m}', u.at
      FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
              FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
     WHERE outcomes[u.k] = 'ok' AND u.x ? 'inbox'
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows < v_marks THEN
      RAISE EXCEPTION 'inbox mark recorded concurrently' USING ERRCODE = {{duplicate_inbox_sqlstate}};
    END IF;
  END IF;
  IF v_has_messages THEN
    INSERT INTO {{schema}}.outbox (id, type, envelope)
    SELECT m.x->>'id', m.x->>'type', m.x->'env'
      FROM (SELECT u0.x, u0.k::integer AS k, (u0.x->>'at')::timestamptz AS at
              FROM jsonb_array_elements(p->'units') WITH ORDINALITY AS u0(x, k) OFFSET 0) AS u
     CROSS JOIN LATERAL jsonb_array_elements(u.x->'messages') WITH ORDINALITY AS m(x, i)
     WHERE outcomes[u.k] = 'ok'
     ORDER BY u.k, m.i;
  END IF;
  IF v_has_rest THEN
    -- Unit by unit: a later unit may cancel a timer an earlier one scheduled.
    FOR v_u IN 1..v_units LOOP
      CONTINUE WHEN outcomes[v_u] <> 'ok';
      v_unit := p->'units'->(v_u - 1);
      IF v_unit ? 'cancel' THEN
        DELETE FROM {{schema}}.scheduled_messages m
         WHERE m.message_id = ANY (ARRAY(SELECT jsonb_array_elements_text(v_unit->'cancel')));
      END IF;
      IF v_unit ? 'later' THEN
        INSERT INTO {{schema}}.scheduled_messages (due_at, envelope, message_id)
        SELECT (t.x->>'due')::bigint, t.x->'env', t.x->>'id'
          FROM jsonb_array_elements(v_unit->'later') WITH ORDINALITY AS t(x, i) ORDER BY t.i;
        PERFORM pg_notify({{scheduled_channel}}, v_unit->>'sp');
      END IF;
      IF v_unit ? 'checkpoint' THEN
        INSERT INTO {{schema}}.checkpoints (subscription_id, position, updated_at)
        VALUES (v_unit#>>'{checkpoint,id}', (v_unit#>>'{checkpoint,pos}')::bigint, (v_unit->>'at')::timestamptz)
        ON CONFLICT (subscription_id) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at;
      END IF;
    END LOOP;
  END IF;

  IF v_entries IS NOT NULL THEN
    v_prefix := '{"o":' || to_json(p->>'o')::text || ',"e":[';
    FOREACH v_entry IN ARRAY v_entries LOOP
      IF v_size + octet_length(v_entry) + 1 > 7000 AND v_batch <> '' THEN
        PERFORM pg_notify({{events_channel}}, v_prefix || v_batch || ']}');
        v_sent := true;
        v_batch := '';
        v_size := 0;
      END IF;
      -- An entry too large on its own is left out (the wake-up still happens).
      IF octet_length(v_entry) + 1 <= 7000 THEN
        v_batch := CASE WHEN v_batch = '' THEN v_entry ELSE v_batch || ',' || v_entry END;
        v_size := v_size + octet_length(v_entry) + 1;
      END IF;
    END LOOP;
    IF v_batch <> '' OR NOT v_sent THEN
      PERFORM pg_notify({{events_channel}}, v_prefix || v_batch || ']}');
    END IF;
  END IF;
END
$commit$;
