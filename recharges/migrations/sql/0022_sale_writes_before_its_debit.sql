-- Sales and batches write their numbers and recharges before their debit (the
-- seller's row is locked for less) and raise their refusals; the number limit
-- leaves out the sale's own recharges, already written.
DROP FUNCTION sale_over_number_limit(bigint, integer, text[]);
DROP FUNCTION sale_refusal(bigint, text[], bigint[], date);
DROP FUNCTION number_limit_refusal(bigint, integer, text[]);

-- Whether selling to these numbers (one per recharge) would pass the
-- seller's number_hourly_count: NULL, or the 403's {"limit", "allowed",
-- "used"} for the first number over it (`used`: its recharges in the last 60
-- minutes that have not failed, but for p_selling, the recharges of the sale
-- being decided, already written). Call it under the seller's row lock, from a
-- statement that began after the lock was taken: VOLATILE, so its count sees
-- every sale committed before (they held the lock first). Its plan is the
-- generic one, kept: a custom plan, which PostgreSQL otherwise picks because
-- it cannot know the array's length, is planned again at every call (0.54
-- against 0.11 ms a call, measured), while the seller's row is locked.
CREATE OR REPLACE FUNCTION number_limit_refusal(
    p_seller bigint, p_allowed integer, p_phones text[], p_selling bigint[] DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object('limit', 'number_hourly_count', 'allowed', p_allowed, 'used', recent.used)
          FROM (SELECT phone, min(ord) AS first, count(*) AS asked
                  FROM unnest(p_phones) WITH ORDINALITY AS u(phone, ord) GROUP BY phone) asked
         CROSS JOIN LATERAL (
                SELECT count(*) AS used
                  FROM recharges_phonenumber pn
                  JOIN recharges_recharge r ON r.phone_number_id = pn.id
                 WHERE pn.e164 = asked.phone AND r.created_at > now() - interval '60 minutes'
                   AND r.seller_id = p_seller AND r.status <> 'failed' AND r.id <> ALL (p_selling)) recent
         WHERE recent.used + asked.asked > p_allowed
         ORDER BY asked.first
         LIMIT 1);
END
$$;

-- Called by a sale right after its debit, under the row lock it took, when
-- the seller has a number_hourly_count: raises limit_exceeded (the 403's
-- details as the DETAIL, JSON) if the sale would pass it, which undoes the
-- whole statement, debit included. Raising costs the sale nothing when the
-- limit holds, where checking before the debit would need the lock first.
-- p_selling: the sale's own recharges, already written (number_limit_refusal).
CREATE OR REPLACE FUNCTION sale_over_number_limit(
    p_seller bigint, p_allowed integer, p_phones text[], p_selling bigint[] DEFAULT '{}'
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_refusal jsonb := number_limit_refusal(p_seller, p_allowed, p_phones, p_selling);
BEGIN
    IF v_refusal IS NOT NULL THEN
        RAISE EXCEPTION 'limit_exceeded' USING ERRCODE = 'check_violation', CONSTRAINT = 'limit_exceeded',
            DETAIL = v_refusal::text;
    END IF;
END
$$;

-- Why a sale's debit was refused: 403 with the first limit passed (amounts,
-- then the number's hourly count), else 402 {"balance", "amount"}; NULLs when
-- neither applies any more (a credit came in meanwhile): the caller then
-- debits again. The order of checks is the contract's. Only a seller with a
-- number_hourly_count has its row locked here (held to commit), since that
-- count is exact only under the lock; any other refusal reads the row as a
-- 402 always did, so refused sales of a hot seller queue for the lock once.
-- p_selling: the sale's own recharges, already written (number_limit_refusal).
CREATE OR REPLACE FUNCTION sale_refusal(
    p_seller bigint, p_phones text[], p_amounts bigint[], p_day date, p_selling bigint[] DEFAULT '{}',
    OUT out_status integer, OUT out_body jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_seller sellers_seller%ROWTYPE;
    v_total bigint;
BEGIN
    SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller;
    IF v_seller.number_hourly_count IS NOT NULL THEN
        SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller FOR NO KEY UPDATE;
    END IF;
    out_body := debit_limit_refusal(v_seller, p_day, p_amounts);
    IF out_body IS NULL AND v_seller.number_hourly_count IS NOT NULL THEN
        out_body := number_limit_refusal(p_seller, v_seller.number_hourly_count, p_phones, p_selling);
    END IF;
    IF out_body IS NOT NULL THEN
        out_status := 403;
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    IF v_seller.balance < v_total THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', v_seller.balance, 'amount', v_total);
    END IF;
END
$$;

-- Raises the 403 or 402 sale_refusal gave (its body as the DETAIL, JSON, under
-- the constraint name the caller maps to its error: limit_exceeded or
-- insufficient_balance), which undoes the sale's statement and all it wrote
-- before its debit; does nothing for no refusal.
CREATE OR REPLACE FUNCTION sale_refused(p_status integer, p_body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_status = 403 THEN
        RAISE EXCEPTION 'limit_exceeded' USING ERRCODE = 'check_violation', CONSTRAINT = 'limit_exceeded',
            DETAIL = p_body::text;
    ELSIF p_status = 402 THEN
        RAISE EXCEPTION 'insufficient_balance' USING ERRCODE = 'check_violation', CONSTRAINT = 'insufficient_balance',
            DETAIL = p_body::text;
    END IF;
END
$$;

-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else check what is sold (operator_refusal:
-- 400, nothing written), write the number and the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery) with
-- the seller's commission rate for its operator, and only then debit the
-- seller within its limits (ledger_post_debit: the conditional UPDATE is the
-- row lock, held to commit), so that a busy seller's row stays locked for
-- the entry, the response and the commit alone. Then store the response under
-- the key. A refusal raises, which undoes the whole statement: a debit
-- refused raises sale_refusal's 403 or 402 (sale_refused), a number over its
-- hourly count limit_exceeded (sale_over_number_limit), an operator whose
-- tracked float cannot cover it operator_unavailable (operator_float_reserve,
-- last, so that the float row is held only to the commit); the DETAIL is the error's details, JSON, and
-- the caller renders the error and stores it under the key.
-- p_amount is NULL for a product sold without one; p_time_zone is the
-- business time zone, whose day daily_amount counts. Every sale and batch
-- writes its numbers before its debit, so none waits for a number's lock while
-- it holds its seller's: a sale and a batch of one seller sharing a new number
-- would deadlock otherwise.
-- The functions it calls are called as expressions (x := f()), not as
-- SELECT ... FROM f(): an expression skips the executor (measured in
-- docs/serving.md).
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_replay record;
    v_sold record;
    v_debit record;
    v_refusal record;
    v_phone bigint;
    v_recharge bigint;
    v_tracked text[];
BEGIN
    v_replay := idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := v_replay.out_status IS NOT NULL;
    IF out_replayed THEN
        out_status := v_replay.out_status;
        out_body := v_replay.out_body;
        RETURN;
    END IF;
    v_sold := operator_refusal(p_operator, p_amount, p_product);
    IF v_sold.out_refusal IS NOT NULL THEN
        out_status := 400;
        out_body := v_sold.out_refusal;
        RETURN;
    END IF;
    v_tracked := operator_floats_tracked(ARRAY[p_operator]);
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    IF v_phone IS NULL THEN
        -- DO NOTHING, not DO UPDATE: an update would lock the number's row to
        -- the commit, and a sale holding its seller's queue would then wait
        -- for it at its commit's foreign-key check, while this sale waits for
        -- the queue.
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO NOTHING
        RETURNING id INTO v_phone;
        IF v_phone IS NULL THEN  -- inserted by a sale that committed meanwhile
            SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
        END IF;
    END IF;
    v_recharge := nextval('recharges_recharge_id_seq');
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error, float_reserved)
    VALUES (v_recharge, p_seller, v_phone, v_sold.out_amount, p_operator, p_product,
            coalesce((SELECT rate FROM recharges_commissionrate WHERE seller_id = p_seller AND operator_id = p_operator), 0),
            p_key, now(), 'pending', now(), 0, '', v_tracked IS NOT NULL);
    LOOP
        v_debit := ledger_post_debit(p_seller, v_recharge, v_sold.out_amount, business_day(now(), p_time_zone));
        EXIT WHEN v_debit.out_balance IS NOT NULL;
        v_refusal := sale_refusal(p_seller, ARRAY[p_phone], ARRAY[v_sold.out_amount], business_day(now(), p_time_zone),
                                  ARRAY[v_recharge]);
        PERFORM sale_refused(v_refusal.out_status, v_refusal.out_body);
        -- Nothing refuses it now (a credit came in meanwhile): debit again.
    END LOOP;
    IF v_debit.out_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_debit.out_number_hourly_count, ARRAY[p_phone], ARRAY[v_recharge]);
    END IF;
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, ARRAY[p_operator], ARRAY[v_sold.out_amount]);
    END IF;
END
$$;

-- sell_recharge for many items, all or nothing, with one balance update:
-- each item becomes its own pending recharge and ledger entry, in item order
-- (ids ascend in item order). Limits judge the items together. As in
-- sell_recharge, the numbers, the batch and its recharges are written before
-- the debit, and a refusal after them raises, undoing the statement: a debit
-- refused raises sale_refusal's 403 or 402 (sale_refused), a number over its
-- hourly count limit_exceeded, a float that cannot cover its operator's items
-- operator_unavailable for the whole batch (operator_float_reserve, last). An
-- item the operator does not take writes nothing: 400 with {"items":
-- [{"index", <operator_refusal>}, ...]}. p_amounts holds NULL for a product
-- sold without an amount.
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
    v_replay record;
    v_debit record;
    v_refusal record;
    v_tracked text[];
BEGIN
    v_replay := idempotency_replay(p_seller, p_key, 'recharge-batches', p_request_hash);
    out_replayed := v_replay.out_status IS NOT NULL;
    IF out_replayed THEN
        out_status := v_replay.out_status;
        out_body := v_replay.out_body;
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
    LOOP
        v_debit := ledger_post_debits(p_seller, v_ids, v_amounts, v_day);
        EXIT WHEN v_debit.out_balance IS NOT NULL;
        v_refusal := sale_refusal(p_seller, p_phones, v_amounts, v_day, v_ids);
        PERFORM sale_refused(v_refusal.out_status, v_refusal.out_body);
    END LOOP;
    IF v_debit.out_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_debit.out_number_hourly_count, p_phones, v_ids);
    END IF;
    out_status := 201;
    out_body := recharge_batch_json(v_batch);
    PERFORM idempotency_store(p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, p_operators, v_amounts);
    END IF;
END
$$;

-- A sale in one round trip: finds the seller whose valid API token has this
-- digest (the rules of config.api.TokenAuthentication: unexpired knox token,
-- active non-staff user, a seller) and sells as sell_recharge does. For any
-- other token it returns NULLs and writes nothing: the caller then goes the
-- general way, where authentication gives the error. Expiry is judged by the
-- database's clock, as TokenAuthentication judges it. A seller whose token is
-- bound to networks goes the general way too: only there is the client's
-- address known and checked (sellers.authentication).
CREATE OR REPLACE FUNCTION sell_recharge_by_token(
    p_digest text, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_seller bigint, OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_sale record;
BEGIN
    SELECT s.id INTO out_seller
      FROM knox_authtoken t
      JOIN auth_user u ON u.id = t.user_id
      JOIN sellers_seller s ON s.user_id = u.id
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff
       AND cardinality(s.allowed_networks) = 0;
    IF FOUND THEN
        v_sale := sell_recharge(out_seller, p_phone, p_operator, p_amount, p_product, p_key, p_request_hash, p_time_zone);
        out_status := v_sale.out_status;
        out_body := v_sale.out_body;
        out_replayed := v_sale.out_replayed;
    END IF;
END
$$;

--- reverse
DROP FUNCTION sale_refused(integer, jsonb);
DROP FUNCTION sale_over_number_limit(bigint, integer, text[], bigint[]);
DROP FUNCTION sale_refusal(bigint, text[], bigint[], date, bigint[]);
DROP FUNCTION number_limit_refusal(bigint, integer, text[], bigint[]);

-- Whether selling to these numbers (one per recharge) would pass the
-- seller's number_hourly_count: NULL, or the 403's {"limit", "allowed",
-- "used"} for the first number over it (`used`: its recharges in the last 60
-- minutes that have not failed). Call it under the seller's row lock, from a
-- statement that began after the lock was taken: VOLATILE, so its count sees
-- every sale committed before (they held the lock first). Its plan is the
-- generic one, kept: a custom plan, which PostgreSQL otherwise picks because
-- it cannot know the array's length, is planned again at every call (0.54
-- against 0.11 ms a call, measured), while the seller's row is locked.
CREATE OR REPLACE FUNCTION number_limit_refusal(p_seller bigint, p_allowed integer, p_phones text[]) RETURNS jsonb
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object('limit', 'number_hourly_count', 'allowed', p_allowed, 'used', recent.used)
          FROM (SELECT phone, min(ord) AS first, count(*) AS asked
                  FROM unnest(p_phones) WITH ORDINALITY AS u(phone, ord) GROUP BY phone) asked
         CROSS JOIN LATERAL (
                SELECT count(*) AS used
                  FROM recharges_phonenumber pn
                  JOIN recharges_recharge r ON r.phone_number_id = pn.id
                 WHERE pn.e164 = asked.phone AND r.created_at > now() - interval '60 minutes'
                   AND r.seller_id = p_seller AND r.status <> 'failed') recent
         WHERE recent.used + asked.asked > p_allowed
         ORDER BY asked.first
         LIMIT 1);
END
$$;

-- Called by a sale right after its debit, under the row lock it took, when
-- the seller has a number_hourly_count: raises limit_exceeded (the 403's
-- details as the DETAIL, JSON) if the sale would pass it, which undoes the
-- whole statement, debit included. Raising costs the sale nothing when the
-- limit holds, where checking before the debit would need the lock first.
CREATE OR REPLACE FUNCTION sale_over_number_limit(p_seller bigint, p_allowed integer, p_phones text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_refusal jsonb := number_limit_refusal(p_seller, p_allowed, p_phones);
BEGIN
    IF v_refusal IS NOT NULL THEN
        RAISE EXCEPTION 'limit_exceeded' USING ERRCODE = 'check_violation', CONSTRAINT = 'limit_exceeded',
            DETAIL = v_refusal::text;
    END IF;
END
$$;

-- Why a sale's debit was refused: 403 with the first limit passed (amounts,
-- then the number's hourly count), else 402 {"balance", "amount"}; NULLs when
-- neither applies any more (a credit came in meanwhile): the caller then
-- debits again. The order of checks is the contract's. Only a seller with a
-- number_hourly_count has its row locked here (held to commit), since that
-- count is exact only under the lock; any other refusal reads the row as a
-- 402 always did, so refused sales of a hot seller queue for the lock once.
CREATE OR REPLACE FUNCTION sale_refusal(
    p_seller bigint, p_phones text[], p_amounts bigint[], p_day date, OUT out_status integer, OUT out_body jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_seller sellers_seller%ROWTYPE;
    v_total bigint;
BEGIN
    SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller;
    IF v_seller.number_hourly_count IS NOT NULL THEN
        SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller FOR NO KEY UPDATE;
    END IF;
    out_body := debit_limit_refusal(v_seller, p_day, p_amounts);
    IF out_body IS NULL AND v_seller.number_hourly_count IS NOT NULL THEN
        out_body := number_limit_refusal(p_seller, v_seller.number_hourly_count, p_phones);
    END IF;
    IF out_body IS NOT NULL THEN
        out_status := 403;
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    IF v_seller.balance < v_total THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', v_seller.balance, 'amount', v_total);
    END IF;
END
$$;

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

-- A sale in one round trip: finds the seller whose valid API token has this
-- digest (the rules of config.api.TokenAuthentication: unexpired knox token,
-- active non-staff user, a seller) and sells as sell_recharge does. For any
-- other token it returns NULLs and writes nothing: the caller then goes the
-- general way, where authentication gives the error. Expiry is judged by the
-- database's clock, as TokenAuthentication judges it. A seller whose token is
-- bound to networks goes the general way too: only there is the client's
-- address known and checked (sellers.authentication).
CREATE OR REPLACE FUNCTION sell_recharge_by_token(
    p_digest text, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_seller bigint, OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.id INTO out_seller
      FROM knox_authtoken t
      JOIN auth_user u ON u.id = t.user_id
      JOIN sellers_seller s ON s.user_id = u.id
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff
       AND cardinality(s.allowed_networks) = 0;
    IF FOUND THEN
        SELECT * INTO out_status, out_body, out_replayed
          FROM sell_recharge(out_seller, p_phone, p_operator, p_amount, p_product, p_key, p_request_hash, p_time_zone);
    END IF;
END
$$;

