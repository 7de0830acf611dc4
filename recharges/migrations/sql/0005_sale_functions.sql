-- The sale moves from the ledger's functions (ledger migrations 0003, 0004) to
-- the recharges app's, which post through ledger_post_debit(s) and render
-- the response with recharge_json.
DROP FUNCTION ledger_sell_recharge_by_token(text, text, bigint, text, text);
DROP FUNCTION ledger_sell_recharge_batch(bigint, text[], bigint[], text, text);
DROP FUNCTION ledger_sell_recharge(bigint, text, bigint, text, text);

-- A timestamp as the API writes it (DRF's DATETIME_FORMAT in config/settings.py:
-- UTC, microseconds, "Z"); tests/recharges check that both agree.
CREATE OR REPLACE FUNCTION api_time(p_time timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

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
-- the lists, batches and callback events all use it.
CREATE OR REPLACE FUNCTION recharge_json(p_recharge bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'id', r.id, 'phone_number', pn.e164, 'amount', r.amount, 'balance_after', l.balance_after,
               'created_at', api_time(r.created_at), 'operator', r.operator, 'status', r.status,
               'operator_reference', r.operator_reference,
               'failure', CASE WHEN r.failure_code IS NOT NULL
                               THEN jsonb_build_object('code', r.failure_code, 'message', r.failure_message) END,
               'completed_at', api_time(r.completed_at))
      FROM recharges_recharge r
      JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id
      JOIN ledger_ledgerentry l ON l.recharge_id = r.id AND l.kind = 'recharge'
     WHERE r.id = p_recharge
$$;

-- The one rendering of a batch: its 201 (stored for replays) and its GET.
CREATE OR REPLACE FUNCTION recharge_batch_json(p_batch bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'id', b.id, 'count', b.count, 'total_amount', b.total_amount,
               'balance_after', items.list -> -1 -> 'balance_after', 'recharges', items.list)
      FROM recharges_rechargebatch b,
           LATERAL (SELECT jsonb_agg(recharge_json(r.id) ORDER BY r.id) AS list
                      FROM recharges_recharge r WHERE r.batch_id = b.id) items
     WHERE b.id = p_batch
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

-- What was sold never changes, and a final status (successful or failed)
-- never changes again: only a pending recharge's delivery fields move.
CREATE OR REPLACE FUNCTION recharge_final_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.seller_id, NEW.phone_number_id, NEW.amount, NEW.operator, NEW.created_at, NEW.batch_id, NEW.idempotency_key)
           IS DISTINCT FROM (OLD.seller_id, OLD.phone_number_id, OLD.amount, OLD.operator, OLD.created_at, OLD.batch_id, OLD.idempotency_key)
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

-- A refund entry returns exactly a failed recharge's amount to its seller.
-- (One refund per recharge is UNIQUE (recharge, kind) on the ledger.)
CREATE OR REPLACE FUNCTION recharge_refund_matches() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM recharges_recharge
      WHERE id = NEW.recharge_id AND status = 'failed' AND seller_id = NEW.seller_id AND amount = NEW.amount;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'refund of recharge %: only a failed recharge is refunded, by its amount, to its seller', NEW.recharge_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'recharge_refund_matches';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER recharge_refund_matches
BEFORE INSERT ON ledger_ledgerentry
FOR EACH ROW WHEN (NEW.kind = 'refund') EXECUTE FUNCTION recharge_refund_matches();

-- At commit, a recharge that became failed has its refund entry: the status
-- and the money move together or not at all.
CREATE OR REPLACE FUNCTION recharge_failed_is_refunded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ledger_ledgerentry WHERE recharge_id = NEW.id AND kind = 'refund';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recharge % failed without its refund', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'recharge_failed_is_refunded';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS recharge_failed_is_refunded ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_failed_is_refunded
AFTER UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION recharge_failed_is_refunded();

--- reverse
DROP TRIGGER recharge_failed_is_refunded ON recharges_recharge;
DROP FUNCTION recharge_failed_is_refunded();
DROP TRIGGER recharge_refund_matches ON ledger_ledgerentry;
DROP FUNCTION recharge_refund_matches();
DROP TRIGGER recharge_final_is_final ON recharges_recharge;
DROP FUNCTION recharge_final_is_final();
DROP FUNCTION sell_recharge_by_token(text, text, text, bigint, text, text);
DROP FUNCTION sell_recharge_batch(bigint, text[], text[], bigint[], text, text);
DROP FUNCTION sell_recharge(bigint, text, text, bigint, text, text);
DROP FUNCTION recharge_batch_json(bigint);
DROP FUNCTION recharge_json(bigint);
DROP FUNCTION operator_refusal(text, bigint);
DROP FUNCTION api_time(timestamptz);
CREATE FUNCTION ledger_sell_recharge(
    p_seller bigint, p_phone text, p_amount bigint, p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_stored idempotency_idempotencyrecord%ROWTYPE;
    v_balance bigint;
    v_sequence bigint;
    v_phone bigint;
    v_recharge bigint;
    v_created timestamptz;
BEGIN
    out_replayed := false;
    IF p_key IS NOT NULL THEN
        SELECT * INTO v_stored FROM idempotency_idempotencyrecord WHERE seller_id = p_seller AND key = p_key AND staff_user_id IS NULL;
        IF FOUND THEN
            out_replayed := true;
            IF v_stored.endpoint = 'recharges' AND v_stored.request_hash = p_request_hash THEN
                out_status := v_stored.status_code;
                out_body := v_stored.response;
            ELSE
                out_status := 422;
            END IF;
            RETURN;
        END IF;
    END IF;
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    UPDATE sellers_seller SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1
     WHERE id = p_seller AND balance >= p_amount
    RETURNING balance, ledger_sequence INTO v_balance, v_sequence;
    IF NOT FOUND THEN
        SELECT balance INTO v_balance FROM sellers_seller WHERE id = p_seller;
        out_status := 402;
        out_body := jsonb_build_object('error', jsonb_build_object(
            'code', 'insufficient_balance',
            'message', 'The balance does not cover this debit; nothing was charged.',
            'details', jsonb_build_object('balance', v_balance, 'amount', p_amount)));
    ELSE
        -- A new number is inserted only once the sale is certain (a 402 writes nothing).
        -- Every sale locks one seller, then new numbers in sorted order: no deadlock.
        IF v_phone IS NULL THEN
            INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
            ON CONFLICT (e164) DO UPDATE SET e164 = EXCLUDED.e164
            RETURNING id INTO v_phone;
        END IF;
        INSERT INTO recharges_recharge (seller_id, phone_number_id, amount, idempotency_key, created_at)
        VALUES (p_seller, v_phone, p_amount, p_key, now())
        RETURNING id, created_at INTO v_recharge, v_created;
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        VALUES (p_seller, v_sequence, 'recharge', -p_amount, v_balance, v_recharge, v_created);
        out_status := 201;
        out_body := jsonb_build_object(
            'id', v_recharge, 'phone_number', p_phone, 'amount', p_amount,
            'balance_after', v_balance, 'created_at', to_char(v_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
    END IF;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_idempotencyrecord
               (seller_id, key, endpoint, request_hash, status_code, response, created_at)
        VALUES (p_seller, p_key, 'recharges', p_request_hash, out_status, out_body, now());
    END IF;
END
$$;

CREATE FUNCTION ledger_sell_recharge_batch(
    p_seller bigint, p_phones text[], p_amounts bigint[], p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_stored idempotency_idempotencyrecord%ROWTYPE;
    v_count integer := cardinality(p_phones);
    v_total bigint;
    v_balance bigint;
    v_sequence bigint;
    v_batch bigint;
    v_created timestamptz := now();
BEGIN
    out_replayed := false;
    IF p_key IS NOT NULL THEN
        SELECT * INTO v_stored FROM idempotency_idempotencyrecord WHERE seller_id = p_seller AND key = p_key AND staff_user_id IS NULL;
        IF FOUND THEN
            out_replayed := true;
            IF v_stored.endpoint = 'recharge-batches' AND v_stored.request_hash = p_request_hash THEN
                out_status := v_stored.status_code;
                out_body := v_stored.response;
            ELSE
                out_status := 422;
            END IF;
            RETURN;
        END IF;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    UPDATE sellers_seller SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count
     WHERE id = p_seller AND balance >= v_total
    RETURNING balance, ledger_sequence INTO v_balance, v_sequence;
    IF NOT FOUND THEN
        SELECT balance INTO v_balance FROM sellers_seller WHERE id = p_seller;
        out_status := 402;
        out_body := jsonb_build_object('error', jsonb_build_object(
            'code', 'insufficient_balance',
            'message', 'The balance does not cover this debit; nothing was charged.',
            'details', jsonb_build_object('balance', v_balance, 'amount', v_total)));
    ELSE
        -- Sorted, so sales sharing new numbers take their unique-index locks in one order.
        INSERT INTO recharges_phonenumber (e164, created_at)
        SELECT DISTINCT e, v_created FROM unnest(p_phones) e ORDER BY e
        ON CONFLICT (e164) DO NOTHING;
        INSERT INTO recharges_rechargebatch (seller_id, count, total_amount, idempotency_key, created_at)
        VALUES (p_seller, v_count, v_total, p_key, v_created)
        RETURNING id INTO v_batch;
        -- Inserted in item order, so ids ascend in item order.
        INSERT INTO recharges_recharge (seller_id, phone_number_id, amount, batch_id, created_at)
        SELECT p_seller, pn.id, i.amount, v_batch, v_created
          FROM unnest(p_phones, p_amounts) WITH ORDINALITY AS i(phone, amount, ord)
          JOIN recharges_phonenumber pn ON pn.e164 = i.phone
         ORDER BY i.ord;
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        SELECT p_seller, v_sequence - v_count + row_number() OVER w, 'recharge', -r.amount,
               v_balance + v_total - sum(r.amount) OVER w, r.id, v_created
          FROM recharges_recharge r
         WHERE r.batch_id = v_batch
        WINDOW w AS (ORDER BY r.id)
         ORDER BY r.id;
        out_status := 201;
        out_body := jsonb_build_object(
            'id', v_batch, 'count', v_count, 'total_amount', v_total, 'balance_after', v_balance,
            'recharges', (
                SELECT jsonb_agg(jsonb_build_object(
                           'id', r.id, 'phone_number', pn.e164, 'amount', r.amount,
                           'balance_after', l.balance_after, 'created_at', to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) ORDER BY r.id)
                  FROM recharges_recharge r
                  JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id
                  JOIN ledger_ledgerentry l ON l.recharge_id = r.id
                 WHERE r.batch_id = v_batch));
    END IF;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_idempotencyrecord
               (seller_id, key, endpoint, request_hash, status_code, response, created_at)
        VALUES (p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body, now());
    END IF;
END
$$;


CREATE FUNCTION ledger_sell_recharge_by_token(
    p_digest text, p_phone text, p_amount bigint, p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_seller bigint;
BEGIN
    SELECT s.id INTO v_seller
      FROM knox_authtoken t
      JOIN auth_user u ON u.id = t.user_id
      JOIN sellers_seller s ON s.user_id = u.id
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff;
    IF FOUND THEN
        SELECT * INTO out_status, out_body, out_replayed
          FROM ledger_sell_recharge(v_seller, p_phone, p_amount, p_key, p_request_hash);
    END IF;
END
$$;
