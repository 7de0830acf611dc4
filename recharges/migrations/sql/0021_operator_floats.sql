-- The operators among these whose float is tracked (a row in
-- recharges_operatorfloat), read without a lock: a sale reads it before it
-- writes its recharges (float_reserved), and reserves on these only at its
-- end (operator_float_reserve). Without tracked floats it is one probe of a
-- primary key, and NULL: the sale then takes no float lock at all.
CREATE OR REPLACE FUNCTION operator_floats_tracked(p_operators text[]) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT array_agg(operator_id) FROM recharges_operatorfloat WHERE operator_id = ANY(p_operators));
END
$$;
-- Reserves, on the float of each tracked operator (one with a row in
-- recharges_operatorfloat), what a sale sells of it: pending grows by the
-- items' total. Called last in the sale statement, after everything else is
-- written, so that the float rows (every sale to the operator takes its row)
-- are held only until the commit, and taken after every other lock of the
-- sale; in operator order, so that batches to several operators never wait
-- in a cycle. Raises operator_unavailable (the 409's details as the DETAIL,
-- JSON) when a float, less what is pending on it, cannot cover its items:
-- that undoes the whole statement. p_tracked is what the sale read of the
-- floats before (operator_floats_tracked): an operator that began to be
-- tracked since is not reserved, as its recharges say (float_reserved).
CREATE OR REPLACE FUNCTION operator_float_reserve(p_tracked text[], p_operators text[], p_amounts bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_refused text;
BEGIN
    PERFORM 1 FROM recharges_operatorfloat WHERE operator_id = ANY(p_tracked) ORDER BY operator_id FOR NO KEY UPDATE;
    WITH wanted AS (
        SELECT operator, sum(amount) AS total
          FROM unnest(p_operators, p_amounts) AS i(operator, amount)
         WHERE operator = ANY(p_tracked)
         GROUP BY operator
    )
    SELECT f.operator_id INTO v_refused
      FROM recharges_operatorfloat f JOIN wanted w ON w.operator = f.operator_id
     WHERE f.balance - f.pending < w.total
     ORDER BY f.operator_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'operator_unavailable' USING ERRCODE = 'check_violation', CONSTRAINT = 'operator_unavailable',
            DETAIL = jsonb_build_object('operator', v_refused)::text;
    END IF;
    UPDATE recharges_operatorfloat f
       SET pending = f.pending + w.total
      FROM (SELECT operator, sum(amount) AS total
              FROM unnest(p_operators, p_amounts) AS i(operator, amount)
             WHERE operator = ANY(p_tracked)
             GROUP BY operator) w
     WHERE f.operator_id = w.operator;
END
$$;
-- Draws the floats down by recharges this transaction has just made
-- successful: for each tracked operator, the balance falls by their total
-- and pending by the part they had reserved, and each recharge gets its
-- entry, continuing the operator's running balance (entries in recharge id
-- order). The float rows are locked first, in operator order, after the
-- recharges and their sellers (recharges/delivery.py, "Lock order"). A
-- recharge sold before its operator's float was tracked draws too (the
-- operator charged it), reserved nothing; if the float cannot cover it the
-- CHECK refuses the success, which then waits for staff. A recharge draws
-- once (UNIQUE on its entry).
CREATE OR REPLACE FUNCTION operator_float_draw(p_recharges bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM recharges_operatorfloat
     WHERE operator_id IN (SELECT operator FROM recharges_recharge WHERE id = ANY(p_recharges))
     ORDER BY operator_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    WITH drawn AS (
        SELECT r.id, r.operator, r.amount, r.float_reserved,
               sum(r.amount) OVER w AS running, row_number() OVER w AS n
          FROM recharges_recharge r
          JOIN recharges_operatorfloat f ON f.operator_id = r.operator
         WHERE r.id = ANY(p_recharges) AND r.status = 'successful'
        WINDOW w AS (PARTITION BY r.operator ORDER BY r.id)
    ), totals AS (
        SELECT operator, sum(amount) AS total, coalesce(sum(amount) FILTER (WHERE float_reserved), 0) AS reserved,
               count(*) AS entries
          FROM drawn GROUP BY operator
    ), moved AS (
        UPDATE recharges_operatorfloat f
           SET balance = f.balance - t.total, pending = f.pending - t.reserved, sequence = f.sequence + t.entries
          FROM totals t
         WHERE f.operator_id = t.operator
        RETURNING f.operator_id, f.balance + t.total AS balance_before, f.sequence - t.entries AS sequence_before
    )
    INSERT INTO recharges_floatentry (operator_id, sequence, kind, amount, balance_after, recharge_id, note, created_at)
    SELECT d.operator, m.sequence_before + d.n, 'draw', -d.amount, m.balance_before - d.running, d.id, '', now()
      FROM drawn d JOIN moved m ON m.operator_id = d.operator
     ORDER BY d.operator, d.n;  -- each entry after its predecessor (float_entry_running_balance)
END
$$;
-- Each tracked operator float as staff and the alerts read it: the balance,
-- what is pending on it, what is available for sales (balance - pending),
-- its burn rate (rials drawn by deliveries in the last hour) and the hours
-- the available float lasts at that rate (NULL when nothing was drawn), and
-- the hours under which it warns. One pass over the last hour's draws
-- (the BRIN index on created_at), whatever the size of the history.
CREATE OR REPLACE FUNCTION operator_float_state(
    OUT operator text, OUT balance bigint, OUT pending bigint, OUT available bigint, OUT burn_per_hour bigint,
    OUT hours_left double precision, OUT alert_below_hours integer
) RETURNS SETOF record
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT f.operator_id::text, f.balance, f.pending, f.balance - f.pending, coalesce(d.drawn, 0)::bigint,
           CASE WHEN d.drawn > 0 THEN (f.balance - f.pending)::double precision / d.drawn END,
           f.alert_below_hours
      FROM recharges_operatorfloat f
      LEFT JOIN (SELECT e.operator_id, -sum(e.amount) AS drawn
                   FROM recharges_floatentry e
                  WHERE e.kind = 'draw' AND e.created_at >= now() - interval '1 hour'
                  GROUP BY e.operator_id) d ON d.operator_id = f.operator_id
     ORDER BY f.operator_id;
END
$$;
-- Float entries are never updated or deleted.
CREATE OR REPLACE FUNCTION float_entry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'float entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'float_entry_append_only';
END
$$;

CREATE OR REPLACE TRIGGER float_entry_append_only
BEFORE UPDATE OR DELETE ON recharges_floatentry
FOR EACH ROW EXECUTE FUNCTION float_entry_append_only();
-- Each float entry continues its operator's running balance: sequence n
-- follows n-1 and balance_after = previous balance_after + amount.
CREATE OR REPLACE FUNCTION float_entry_running_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bigint := 0;
BEGIN
    IF NEW.sequence > 1 THEN
        SELECT balance_after INTO previous FROM recharges_floatentry
         WHERE operator_id = NEW.operator_id AND sequence = NEW.sequence - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'float entry %#% has no predecessor', NEW.operator_id, NEW.sequence
                USING ERRCODE = 'check_violation', CONSTRAINT = 'float_entry_running_balance';
        END IF;
    END IF;
    IF NEW.balance_after IS DISTINCT FROM previous + NEW.amount THEN
        RAISE EXCEPTION 'float entry %#%: balance_after % is not % + %',
            NEW.operator_id, NEW.sequence, NEW.balance_after, previous, NEW.amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'float_entry_running_balance';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER float_entry_running_balance
BEFORE INSERT ON recharges_floatentry
FOR EACH ROW EXECUTE FUNCTION float_entry_running_balance();
-- At commit, an operator float's balance and sequence equal its last
-- entry's: no code can move a float without a matching entry. Not fired by
-- a sale's reservation, which moves only `pending`.
CREATE OR REPLACE FUNCTION operator_float_matches_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
    current_sequence bigint;
    last_balance bigint := 0;
    last_sequence bigint := 0;
BEGIN
    -- Read the row as it is now: an earlier event of the same transaction
    -- carries a stale NEW.
    SELECT balance, sequence INTO current_balance, current_sequence
      FROM recharges_operatorfloat WHERE operator_id = NEW.operator_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT balance_after, sequence INTO last_balance, last_sequence FROM recharges_floatentry
     WHERE operator_id = NEW.operator_id ORDER BY sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        last_balance := 0;
        last_sequence := 0;
    END IF;
    IF current_balance <> last_balance OR current_sequence <> last_sequence THEN
        RAISE EXCEPTION 'float at %: balance % / sequence % does not match its entries (% / %)',
            NEW.operator_id, current_balance, current_sequence, last_balance, last_sequence
            USING ERRCODE = 'check_violation', CONSTRAINT = 'operator_float_matches_entries';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS operator_float_matches_entries ON recharges_operatorfloat;
CREATE CONSTRAINT TRIGGER operator_float_matches_entries
AFTER INSERT OR UPDATE OF balance, sequence ON recharges_operatorfloat
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION operator_float_matches_entries();
-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else check what is sold (operator_refusal:
-- 400), debit the seller within its limits (ledger_post_debit: the
-- conditional UPDATE is the row lock), write the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery) with
-- the seller's commission rate for its operator, and store the response
-- under the key. A refusal writes nothing: 400 with the operator_refusal, 403
-- or 402 with sale_refusal's body (the caller renders the error and stores a
-- 403 or 402 under the key); a number over its hourly count raises
-- limit_exceeded (sale_over_number_limit), undoing the statement; one whose
-- operator's tracked float cannot cover it raises operator_unavailable
-- (operator_float_reserve, last, so that the float row is held only to the
-- commit), undoing it too.
-- p_amount is NULL for a product sold without one; p_time_zone is the
-- business time zone, whose day daily_amount counts.
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone bigint;
    v_recharge bigint;
    v_amount bigint;
    v_day date := business_day(now(), p_time_zone);
    v_balance bigint;
    v_number_hourly_count integer;
    v_tracked text[];
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT * INTO v_amount, out_body FROM operator_refusal(p_operator, p_amount, p_product);
    IF out_body IS NOT NULL THEN
        out_status := 400;
        RETURN;
    END IF;
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    v_recharge := nextval('recharges_recharge_id_seq');
    LOOP
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debit(p_seller, v_recharge, v_amount, v_day);
        EXIT WHEN v_balance IS NOT NULL;
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, ARRAY[p_phone], ARRAY[v_amount], v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
        -- Nothing refuses it now (a credit came in meanwhile): debit again.
    END LOOP;
    IF v_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_number_hourly_count, ARRAY[p_phone]);
    END IF;
    v_tracked := operator_floats_tracked(ARRAY[p_operator]);
    -- A new number is inserted only once the sale is certain (a refusal writes nothing).
    IF v_phone IS NULL THEN
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO UPDATE SET e164 = EXCLUDED.e164
        RETURNING id INTO v_phone;
    END IF;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error, float_reserved)
    VALUES (v_recharge, p_seller, v_phone, v_amount, p_operator, p_product,
            coalesce((SELECT rate FROM recharges_commissionrate WHERE seller_id = p_seller AND operator_id = p_operator), 0),
            p_key, now(), 'pending', now(), 0, '', v_tracked IS NOT NULL);
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, ARRAY[p_operator], ARRAY[v_amount]);
    END IF;
END
$$;
-- sell_recharge for many items, all or nothing, with one balance update:
-- each item becomes its own pending recharge and ledger entry, in item order
-- (ids ascend in item order). Limits judge the items together. A refusal
-- writes nothing: 400 with {"items": [{"index", <operator_refusal>}, ...]},
-- or sale_refusal's 403 or 402; a number over its hourly count raises
-- limit_exceeded; a float that cannot cover its operator's items raises
-- operator_unavailable for the whole batch (operator_float_reserve, last, as
-- in sell_recharge). p_amounts holds NULL for a product sold without an amount.
CREATE OR REPLACE FUNCTION sell_recharge_batch(
    p_seller bigint, p_phones text[], p_operators text[], p_amounts bigint[], p_products text[], p_key text,
    p_request_hash text, p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_phones);
    v_amounts bigint[];
    v_total bigint;
    v_ids bigint[];
    v_batch bigint;
    v_day date := business_day(now(), p_time_zone);
    v_balance bigint;
    v_number_hourly_count integer;
    v_tracked text[];
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharge-batches', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT array_agg((i.checked).out_amount ORDER BY i.ord),
           jsonb_agg(jsonb_build_object('index', i.ord - 1) || (i.checked).out_refusal ORDER BY i.ord)
               FILTER (WHERE (i.checked).out_refusal IS NOT NULL)
      INTO v_amounts, out_body
      FROM (SELECT ord, operator_refusal(operator, amount, product) AS checked
              FROM unnest(p_operators, p_amounts, p_products) WITH ORDINALITY AS u(operator, amount, product, ord)) i;
    IF out_body IS NOT NULL THEN
        out_status := 400;
        out_body := jsonb_build_object('items', out_body);
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(v_amounts) a;
    SELECT array_agg(id ORDER BY id) INTO v_ids
      FROM (SELECT nextval('recharges_recharge_id_seq') AS id FROM generate_series(1, v_count)) ids;
    LOOP
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debits(p_seller, v_ids, v_amounts, v_day);
        EXIT WHEN v_balance IS NOT NULL;
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, p_phones, v_amounts, v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
    END LOOP;
    IF v_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_number_hourly_count, p_phones);
    END IF;
    v_tracked := operator_floats_tracked(p_operators);
    -- Sorted, so sales sharing new numbers take their unique-index locks in one order.
    INSERT INTO recharges_phonenumber (e164, created_at)
    SELECT DISTINCT e, now() FROM unnest(p_phones) e ORDER BY e
    ON CONFLICT (e164) DO NOTHING;
    INSERT INTO recharges_rechargebatch (seller_id, count, total_amount, idempotency_key, created_at)
    VALUES (p_seller, v_count, v_total, p_key, now())
    RETURNING id INTO v_batch;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, batch_id, created_at,
            status, next_attempt_at, attempts, last_error, float_reserved)
    SELECT i.id, p_seller, pn.id, i.amount, i.operator, i.product, coalesce(c.rate, 0), v_batch, now(),
           'pending', now(), 0, '', coalesce(i.operator = ANY(v_tracked), false)
      FROM unnest(v_ids, p_phones, p_operators, v_amounts, p_products) AS i(id, phone, operator, amount, product)
      JOIN recharges_phonenumber pn ON pn.e164 = i.phone
      LEFT JOIN recharges_commissionrate c ON c.seller_id = p_seller AND c.operator_id = i.operator
     ORDER BY i.id;
    out_status := 201;
    out_body := recharge_batch_json(v_batch);
    PERFORM idempotency_store(p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, p_operators, v_amounts);
    END IF;
END
$$;
--- reverse
-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else check what is sold (operator_refusal:
-- 400), debit the seller within its limits (ledger_post_debit: the
-- conditional UPDATE is the row lock), write the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery) with
-- the seller's commission rate for its operator, and store the response
-- under the key. A refusal writes nothing: 400 with the operator_refusal, 403
-- or 402 with sale_refusal's body (the caller renders the error and stores a
-- 403 or 402 under the key); a number over its hourly count raises
-- limit_exceeded (sale_over_number_limit), undoing the statement.
-- p_amount is NULL for a product sold without one; p_time_zone is the
-- business time zone, whose day daily_amount counts.
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone bigint;
    v_recharge bigint;
    v_amount bigint;
    v_day date := business_day(now(), p_time_zone);
    v_balance bigint;
    v_number_hourly_count integer;
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT * INTO v_amount, out_body FROM operator_refusal(p_operator, p_amount, p_product);
    IF out_body IS NOT NULL THEN
        out_status := 400;
        RETURN;
    END IF;
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    v_recharge := nextval('recharges_recharge_id_seq');
    LOOP
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debit(p_seller, v_recharge, v_amount, v_day);
        EXIT WHEN v_balance IS NOT NULL;
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, ARRAY[p_phone], ARRAY[v_amount], v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
        -- Nothing refuses it now (a credit came in meanwhile): debit again.
    END LOOP;
    IF v_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_number_hourly_count, ARRAY[p_phone]);
    END IF;
    -- A new number is inserted only once the sale is certain (a refusal writes nothing).
    IF v_phone IS NULL THEN
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO UPDATE SET e164 = EXCLUDED.e164
        RETURNING id INTO v_phone;
    END IF;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error)
    VALUES (v_recharge, p_seller, v_phone, v_amount, p_operator, p_product,
            coalesce((SELECT rate FROM recharges_commissionrate WHERE seller_id = p_seller AND operator_id = p_operator), 0),
            p_key, now(), 'pending', now(), 0, '');
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
END
$$;
-- sell_recharge for many items, all or nothing, with one balance update:
-- each item becomes its own pending recharge and ledger entry, in item order
-- (ids ascend in item order). Limits judge the items together. A refusal
-- writes nothing: 400 with {"items": [{"index", <operator_refusal>}, ...]},
-- or sale_refusal's 403 or 402; a number over its hourly count raises
-- limit_exceeded. p_amounts holds NULL for a product sold without an amount.
CREATE OR REPLACE FUNCTION sell_recharge_batch(
    p_seller bigint, p_phones text[], p_operators text[], p_amounts bigint[], p_products text[], p_key text,
    p_request_hash text, p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_phones);
    v_amounts bigint[];
    v_total bigint;
    v_ids bigint[];
    v_batch bigint;
    v_day date := business_day(now(), p_time_zone);
    v_balance bigint;
    v_number_hourly_count integer;
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharge-batches', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT array_agg((i.checked).out_amount ORDER BY i.ord),
           jsonb_agg(jsonb_build_object('index', i.ord - 1) || (i.checked).out_refusal ORDER BY i.ord)
               FILTER (WHERE (i.checked).out_refusal IS NOT NULL)
      INTO v_amounts, out_body
      FROM (SELECT ord, operator_refusal(operator, amount, product) AS checked
              FROM unnest(p_operators, p_amounts, p_products) WITH ORDINALITY AS u(operator, amount, product, ord)) i;
    IF out_body IS NOT NULL THEN
        out_status := 400;
        out_body := jsonb_build_object('items', out_body);
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(v_amounts) a;
    SELECT array_agg(id ORDER BY id) INTO v_ids
      FROM (SELECT nextval('recharges_recharge_id_seq') AS id FROM generate_series(1, v_count)) ids;
    LOOP
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debits(p_seller, v_ids, v_amounts, v_day);
        EXIT WHEN v_balance IS NOT NULL;
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, p_phones, v_amounts, v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
    END LOOP;
    IF v_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_number_hourly_count, p_phones);
    END IF;
    -- Sorted, so sales sharing new numbers take their unique-index locks in one order.
    INSERT INTO recharges_phonenumber (e164, created_at)
    SELECT DISTINCT e, now() FROM unnest(p_phones) e ORDER BY e
    ON CONFLICT (e164) DO NOTHING;
    INSERT INTO recharges_rechargebatch (seller_id, count, total_amount, idempotency_key, created_at)
    VALUES (p_seller, v_count, v_total, p_key, now())
    RETURNING id INTO v_batch;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, batch_id, created_at,
            status, next_attempt_at, attempts, last_error)
    SELECT i.id, p_seller, pn.id, i.amount, i.operator, i.product, coalesce(c.rate, 0), v_batch, now(),
           'pending', now(), 0, ''
      FROM unnest(v_ids, p_phones, p_operators, v_amounts, p_products) AS i(id, phone, operator, amount, product)
      JOIN recharges_phonenumber pn ON pn.e164 = i.phone
      LEFT JOIN recharges_commissionrate c ON c.seller_id = p_seller AND c.operator_id = i.operator
     ORDER BY i.id;
    out_status := 201;
    out_body := recharge_batch_json(v_batch);
    PERFORM idempotency_store(p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body);
END
$$;
DROP TRIGGER operator_float_matches_entries ON recharges_operatorfloat;
DROP FUNCTION operator_float_matches_entries();
DROP TRIGGER float_entry_running_balance ON recharges_floatentry;
DROP FUNCTION float_entry_running_balance();
DROP TRIGGER float_entry_append_only ON recharges_floatentry;
DROP FUNCTION float_entry_append_only();
DROP FUNCTION operator_float_state();
DROP FUNCTION operator_float_draw(bigint[]);
DROP FUNCTION operator_float_reserve(text[], text[], bigint[]);
DROP FUNCTION operator_floats_tracked(text[]);
