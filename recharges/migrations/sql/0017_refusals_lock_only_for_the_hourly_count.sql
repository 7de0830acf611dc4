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

--- reverse
-- Why a sale's debit was refused, asked under the seller's row lock (taken
-- here, held to commit): 403 with the first limit passed (amounts, then the
-- number's hourly count), else 402 {"balance", "amount"}; NULLs when neither
-- applies any more (a credit came in meanwhile), and the caller debits again
-- under the lock it now holds. The order of checks is the contract's.
CREATE OR REPLACE FUNCTION sale_refusal(
    p_seller bigint, p_phones text[], p_amounts bigint[], p_day date, OUT out_status integer, OUT out_body jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_seller sellers_seller%ROWTYPE;
    v_total bigint;
BEGIN
    SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller FOR NO KEY UPDATE;
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
    SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debit(p_seller, v_recharge, v_amount, v_day);
    IF v_balance IS NULL THEN
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, ARRAY[p_phone], ARRAY[v_amount], v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
        -- Nothing refuses it now (a credit came in meanwhile), under the lock sale_refusal holds.
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debit(p_seller, v_recharge, v_amount, v_day);
    ELSIF v_number_hourly_count IS NOT NULL THEN
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
    SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debits(p_seller, v_ids, v_amounts, v_day);
    IF v_balance IS NULL THEN
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, p_phones, v_amounts, v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debits(p_seller, v_ids, v_amounts, v_day);
    ELSIF v_number_hourly_count IS NOT NULL THEN
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
