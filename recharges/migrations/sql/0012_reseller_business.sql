DROP FUNCTION sell_recharge_by_token(text, text, text, bigint, text, text);
DROP FUNCTION sell_recharge(bigint, text, text, bigint, text, text);
DROP FUNCTION sell_recharge_batch(bigint, text[], text[], bigint[], text, text);
DROP FUNCTION operator_refusal(text, bigint);
-- The commission a recharge of `amount` rials earns at `rate` basis points:
-- floor(amount * rate / 10000), computed without overflowing bigint (amount
-- may be 10^15, rate 10^4).
CREATE OR REPLACE FUNCTION commission_of(p_amount bigint, p_rate integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_amount / 10000) * p_rate + (p_amount % 10000) * p_rate / 10000
$$;

-- What a sale item sells, or why it cannot be sold. out_amount is the amount
-- to debit: the package's for a product (an amount sent with it must equal
-- it), else the amount asked. out_refusal is NULL, or a 400's reason: the
-- operator is unknown or disabled; airtime outside the operator's range or
-- not one of its denominations; a product unknown, disabled, of another
-- operator or of another amount. Staff edit operators and products in the
-- admin; the sale reads them here, in its own statement, so an edit applies
-- to the next sale on every server.
CREATE OR REPLACE FUNCTION operator_refusal(
    p_operator text, p_amount bigint, p_product text, OUT out_amount bigint, OUT out_refusal jsonb
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_operator recharges_operator%ROWTYPE;
    v_product recharges_product%ROWTYPE;
BEGIN
    out_amount := p_amount;
    SELECT * INTO v_operator FROM recharges_operator WHERE code = p_operator;
    IF NOT FOUND THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'unknown');
    ELSIF NOT v_operator.enabled THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'disabled');
    ELSIF p_product IS NOT NULL THEN
        SELECT * INTO v_product FROM recharges_product WHERE code = p_product;
        IF NOT FOUND OR NOT v_product.enabled THEN
            out_refusal := jsonb_build_object('product', p_product, 'problem', CASE WHEN FOUND THEN 'product_disabled' ELSE 'product_unknown' END);
        ELSIF v_product.operator_id <> p_operator THEN
            out_refusal := jsonb_build_object('product', p_product, 'problem', 'product_operator',
                                              'operator', p_operator, 'product_operator', v_product.operator_id);
        ELSIF p_amount IS NOT NULL AND p_amount <> v_product.amount THEN
            out_refusal := jsonb_build_object('product', p_product, 'problem', 'product_amount', 'amount', v_product.amount);
        END IF;
        out_amount := v_product.amount;
    ELSIF p_amount NOT BETWEEN v_operator.min_amount AND v_operator.max_amount THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'amount',
                                          'min_amount', v_operator.min_amount, 'max_amount', v_operator.max_amount);
    ELSIF v_operator.denominations IS NOT NULL AND p_amount <> ALL (v_operator.denominations) THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'denomination',
                                          'denominations', to_jsonb(v_operator.denominations));
    END IF;
END
$$;

-- Whether selling to these numbers (one per recharge) would pass the
-- seller's number_hourly_count: NULL, or the 403's {"limit", "allowed",
-- "used"} for the first number over it (`used`: its recharges in the last 60
-- minutes that have not failed). Call it under the seller's row lock, from a
-- statement that began after the lock was taken: VOLATILE, so its count sees
-- every sale committed before (they held the lock first).
CREATE OR REPLACE FUNCTION number_limit_refusal(p_seller bigint, p_allowed integer, p_phones text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
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

-- The one rendering of a recharge: the sale's 201 (stored for replays), GET,
-- the lists, batches and callback events all use it. PL/pgSQL, not SQL: its
-- plan is kept for the session, where a SQL function with a FROM is planned
-- at every call (113 against 15 microseconds a call, a sale calls it once).
CREATE OR REPLACE FUNCTION recharge_json(p_recharge bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
               'id', r.id, 'phone_number', pn.e164, 'amount', r.amount, 'balance_after', l.balance_after,
               'created_at', api_time(r.created_at), 'operator', r.operator, 'status', r.status,
               'operator_reference', r.operator_reference, 'product', r.product,
               'commission_rate', r.commission_rate,
               'commission', CASE WHEN r.status = 'successful' THEN commission_of(r.amount, r.commission_rate) ELSE 0 END,
               'failure', CASE WHEN r.failure_code IS NOT NULL
                               THEN jsonb_build_object('code', r.failure_code, 'message', r.failure_message) END,
               'completed_at', api_time(r.completed_at))
      FROM recharges_recharge r
      JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id
      JOIN ledger_ledgerentry l ON l.recharge_id = r.id AND l.kind = 'recharge'
     WHERE r.id = p_recharge);
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

-- A sale in one round trip: finds the seller whose valid API token has this
-- digest (the rules of config.api.TokenAuthentication: unexpired knox token,
-- active non-staff user, a seller) and sells as sell_recharge does. For any
-- other token it returns NULLs and writes nothing: the caller then goes the
-- general way, where authentication gives the error. Expiry is judged by the
-- database's clock, as TokenAuthentication judges it.
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
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff;
    IF FOUND THEN
        SELECT * INTO out_status, out_body, out_replayed
          FROM sell_recharge(out_seller, p_phone, p_operator, p_amount, p_product, p_key, p_request_hash, p_time_zone);
    END IF;
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

-- What was sold never changes (its commission rate included), nor the reference the operator knows it by,
-- and a final status (successful or failed) never changes again: only a
-- pending recharge's delivery fields move.
CREATE OR REPLACE FUNCTION recharge_final_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.seller_id, NEW.phone_number_id, NEW.amount, NEW.operator, NEW.created_at, NEW.batch_id, NEW.idempotency_key,
        NEW.topup_reference, NEW.product, NEW.commission_rate)
           IS DISTINCT FROM (OLD.seller_id, OLD.phone_number_id, OLD.amount, OLD.operator, OLD.created_at, OLD.batch_id,
                             OLD.idempotency_key, OLD.topup_reference, OLD.product, OLD.commission_rate)
       OR (OLD.status <> 'pending'
           AND (NEW.status, NEW.operator_reference, NEW.failure_code, NEW.failure_message, NEW.completed_at, NEW.resolved_by_id)
               IS DISTINCT FROM
               (OLD.status, OLD.operator_reference, OLD.failure_code, OLD.failure_message, OLD.completed_at, OLD.resolved_by_id)) THEN
        RAISE EXCEPTION 'recharge %: a sale never changes and a final status is final', OLD.id
            USING ERRCODE = 'restrict_violation', CONSTRAINT = 'recharge_final_is_final';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER recharge_final_is_final
BEFORE UPDATE ON recharges_recharge
FOR EACH ROW EXECUTE FUNCTION recharge_final_is_final();

-- A commission entry pays a successful recharge's seller exactly
-- commission_of(amount, commission_rate), the rate fixed at sale.
-- (One commission per recharge is UNIQUE (recharge, kind) on the ledger.)
CREATE OR REPLACE FUNCTION recharge_commission_matches() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM recharges_recharge
      WHERE id = NEW.recharge_id AND status = 'successful' AND seller_id = NEW.seller_id
        AND commission_of(amount, commission_rate) = NEW.amount;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'commission of recharge %: only a successful recharge earns it, at its rate, to its seller', NEW.recharge_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'recharge_commission_matches';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER recharge_commission_matches
BEFORE INSERT ON ledger_ledgerentry
FOR EACH ROW WHEN (NEW.kind = 'commission') EXECUTE FUNCTION recharge_commission_matches();

-- At commit, a recharge that became successful with a commission to earn has
-- its commission entry: the status and the money move together or not at all.
CREATE OR REPLACE FUNCTION recharge_successful_is_commissioned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ledger_ledgerentry WHERE recharge_id = NEW.id AND kind = 'commission';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recharge % successful without its commission', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'recharge_successful_is_commissioned';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS recharge_successful_is_commissioned ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_successful_is_commissioned
AFTER UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'successful' AND commission_of(NEW.amount, NEW.commission_rate) > 0)
EXECUTE FUNCTION recharge_successful_is_commissioned();

--- reverse
DROP TRIGGER recharge_successful_is_commissioned ON recharges_recharge;
DROP FUNCTION recharge_successful_is_commissioned();
DROP TRIGGER recharge_commission_matches ON ledger_ledgerentry;
DROP FUNCTION recharge_commission_matches();
DROP FUNCTION sell_recharge_by_token(text, text, text, bigint, text, text, text, text);
DROP FUNCTION sell_recharge(bigint, text, text, bigint, text, text, text, text);
DROP FUNCTION sell_recharge_batch(bigint, text[], text[], bigint[], text[], text, text, text);
DROP FUNCTION sale_over_number_limit(bigint, integer, text[]);
DROP FUNCTION sale_refusal(bigint, text[], bigint[], date);
DROP FUNCTION number_limit_refusal(bigint, integer, text[]);
DROP FUNCTION operator_refusal(text, bigint, text);
-- Why an operator does not take this top-up, or NULL if it does: the code is
-- unknown, the operator is disabled, or the amount is outside its range.
-- Staff edit operators in the admin; the sale reads them here, in its own
-- statement, so an edit applies to the next sale on every server.
CREATE OR REPLACE FUNCTION operator_refusal(p_operator text, p_amount bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_operator recharges_operator%ROWTYPE;
BEGIN
    SELECT * INTO v_operator FROM recharges_operator WHERE code = p_operator;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('operator', p_operator, 'problem', 'unknown');
    ELSIF NOT v_operator.enabled THEN
        RETURN jsonb_build_object('operator', p_operator, 'problem', 'disabled');
    ELSIF p_amount NOT BETWEEN v_operator.min_amount AND v_operator.max_amount THEN
        RETURN jsonb_build_object('operator', p_operator, 'problem', 'amount',
                                  'min_amount', v_operator.min_amount, 'max_amount', v_operator.max_amount);
    END IF;
    RETURN NULL;
END
$$;

-- The one rendering of a recharge: the sale's 201 (stored for replays), GET,
-- the lists, batches and callback events all use it. PL/pgSQL, not SQL: its
-- plan is kept for the session, where a SQL function with a FROM is planned
-- at every call (113 against 15 microseconds a call, a sale calls it once).
CREATE OR REPLACE FUNCTION recharge_json(p_recharge bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
               'id', r.id, 'phone_number', pn.e164, 'amount', r.amount, 'balance_after', l.balance_after,
               'created_at', api_time(r.created_at), 'operator', r.operator, 'status', r.status,
               'operator_reference', r.operator_reference,
               'failure', CASE WHEN r.failure_code IS NOT NULL
                               THEN jsonb_build_object('code', r.failure_code, 'message', r.failure_message) END,
               'completed_at', api_time(r.completed_at))
      FROM recharges_recharge r
      JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id
      JOIN ledger_ledgerentry l ON l.recharge_id = r.id AND l.kind = 'recharge'
     WHERE r.id = p_recharge);
END
$$;

-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else debit the seller (ledger_post_debit:
-- the conditional UPDATE is the row lock), write the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery), and
-- store the response under the key. A refusal writes nothing: 400 with the
-- operator_refusal, or 402 with {"balance", "amount"}; the caller renders the
-- error (and stores a 402 under the key).
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone bigint;
    v_recharge bigint;
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    out_body := operator_refusal(p_operator, p_amount);
    IF out_body IS NOT NULL THEN
        out_status := 400;
        RETURN;
    END IF;
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    v_recharge := nextval('recharges_recharge_id_seq');
    IF ledger_post_debit(p_seller, v_recharge, p_amount) IS NULL THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', (SELECT balance FROM sellers_seller WHERE id = p_seller), 'amount', p_amount);
        RETURN;
    END IF;
    -- A new number is inserted only once the sale is certain (a 402 writes nothing).
    IF v_phone IS NULL THEN
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO UPDATE SET e164 = EXCLUDED.e164
        RETURNING id INTO v_phone;
    END IF;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error)
    VALUES (v_recharge, p_seller, v_phone, p_amount, p_operator, p_key, now(), 'pending', now(), 0, '');
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
END
$$;

-- A sale in one round trip: finds the seller whose valid API token has this
-- digest (the rules of config.api.TokenAuthentication: unexpired knox token,
-- active non-staff user, a seller) and sells as sell_recharge does. For any
-- other token it returns NULLs and writes nothing: the caller then goes the
-- general way, where authentication gives the error. Expiry is judged by the
-- database's clock, as TokenAuthentication judges it.
CREATE OR REPLACE FUNCTION sell_recharge_by_token(
    p_digest text, p_phone text, p_operator text, p_amount bigint, p_key text, p_request_hash text,
    OUT out_seller bigint, OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.id INTO out_seller
      FROM knox_authtoken t
      JOIN auth_user u ON u.id = t.user_id
      JOIN sellers_seller s ON s.user_id = u.id
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff;
    IF FOUND THEN
        SELECT * INTO out_status, out_body, out_replayed
          FROM sell_recharge(out_seller, p_phone, p_operator, p_amount, p_key, p_request_hash);
    END IF;
END
$$;

-- sell_recharge for many items, all or nothing, with one balance update:
-- each item becomes its own pending recharge and ledger entry, in item order
-- (ids ascend in item order). A refusal writes nothing: 400 with
-- {"items": [{"index", <operator_refusal>}, ...]}, or 402 with {"balance", "amount"}.
CREATE OR REPLACE FUNCTION sell_recharge_batch(
    p_seller bigint, p_phones text[], p_operators text[], p_amounts bigint[], p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_phones);
    v_total bigint;
    v_ids bigint[];
    v_batch bigint;
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharge-batches', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('index', i.ord - 1) || i.refusal ORDER BY i.ord) INTO out_body
      FROM (SELECT ord, operator_refusal(operator, amount) AS refusal
              FROM unnest(p_operators, p_amounts) WITH ORDINALITY AS u(operator, amount, ord)) i
     WHERE i.refusal IS NOT NULL;
    IF out_body IS NOT NULL THEN
        out_status := 400;
        out_body := jsonb_build_object('items', out_body);
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    SELECT array_agg(id ORDER BY id) INTO v_ids
      FROM (SELECT nextval('recharges_recharge_id_seq') AS id FROM generate_series(1, v_count)) ids;
    IF ledger_post_debits(p_seller, v_ids, p_amounts) IS NULL THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', (SELECT balance FROM sellers_seller WHERE id = p_seller), 'amount', v_total);
        RETURN;
    END IF;
    -- Sorted, so sales sharing new numbers take their unique-index locks in one order.
    INSERT INTO recharges_phonenumber (e164, created_at)
    SELECT DISTINCT e, now() FROM unnest(p_phones) e ORDER BY e
    ON CONFLICT (e164) DO NOTHING;
    INSERT INTO recharges_rechargebatch (seller_id, count, total_amount, idempotency_key, created_at)
    VALUES (p_seller, v_count, v_total, p_key, now())
    RETURNING id INTO v_batch;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, batch_id, created_at,
            status, next_attempt_at, attempts, last_error)
    SELECT i.id, p_seller, pn.id, i.amount, i.operator, v_batch, now(), 'pending', now(), 0, ''
      FROM unnest(v_ids, p_phones, p_operators, p_amounts) AS i(id, phone, operator, amount)
      JOIN recharges_phonenumber pn ON pn.e164 = i.phone
     ORDER BY i.id;
    out_status := 201;
    out_body := recharge_batch_json(v_batch);
    PERFORM idempotency_store(p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body);
END
$$;

-- What was sold never changes, nor the reference the operator knows it by,
-- and a final status (successful or failed) never changes again: only a
-- pending recharge's delivery fields move.
CREATE OR REPLACE FUNCTION recharge_final_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.seller_id, NEW.phone_number_id, NEW.amount, NEW.operator, NEW.created_at, NEW.batch_id, NEW.idempotency_key,
        NEW.topup_reference)
           IS DISTINCT FROM (OLD.seller_id, OLD.phone_number_id, OLD.amount, OLD.operator, OLD.created_at, OLD.batch_id,
                             OLD.idempotency_key, OLD.topup_reference)
       OR (OLD.status <> 'pending'
           AND (NEW.status, NEW.operator_reference, NEW.failure_code, NEW.failure_message, NEW.completed_at, NEW.resolved_by_id)
               IS DISTINCT FROM
               (OLD.status, OLD.operator_reference, OLD.failure_code, OLD.failure_message, OLD.completed_at, OLD.resolved_by_id)) THEN
        RAISE EXCEPTION 'recharge %: a sale never changes and a final status is final', OLD.id
            USING ERRCODE = 'restrict_violation', CONSTRAINT = 'recharge_final_is_final';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER recharge_final_is_final
BEFORE UPDATE ON recharges_recharge
FOR EACH ROW EXECUTE FUNCTION recharge_final_is_final();

DROP FUNCTION commission_of(bigint, integer);
