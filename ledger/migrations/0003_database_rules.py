"""The ledger's rules, enforced by PostgreSQL itself (data may not pass through
the ORM), and the money path for recharges as SQL functions.

- ledger entries are append-only (trigger on UPDATE and DELETE);
- each entry continues its seller's running balance: sequence n follows n-1 and
  balance_after = previous balance_after + amount (trigger on INSERT);
- at commit, a seller's balance and ledger_sequence equal its last entry's
  (deferred constraint trigger), so no code can move a balance without a
  matching ledger entry;
- ledger_sell_recharge / ledger_sell_recharge_batch: one statement each, run in
  autocommit, which PostgreSQL makes atomic: replay a known Idempotency-Key,
  else debit with a conditional UPDATE (the row lock), write the recharges and
  their entries, and store the response under the key. A refused debit writes
  no money table.
"""

from django.db import migrations

API_TIME = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

INSUFFICIENT = """jsonb_build_object('error', jsonb_build_object(
            'code', 'insufficient_balance',
            'message', 'The balance does not cover this debit; nothing was charged.',
            'details', jsonb_build_object('balance', v_balance, 'amount', {})))"""

# A key seen before: replay its stored response (422 if it named another request).
REPLAY = """    out_replayed := false;
    IF p_key IS NOT NULL THEN
        SELECT * INTO v_stored FROM idempotency_idempotencyrecord WHERE seller_id = p_seller AND key = p_key;
        IF FOUND THEN
            out_replayed := true;
            IF v_stored.endpoint = '{endpoint}' AND v_stored.request_hash = p_request_hash THEN
                out_status := v_stored.status_code;
                out_body := v_stored.response;
            ELSE
                out_status := 422;
            END IF;
            RETURN;
        END IF;
    END IF;"""

# The response is stored with the sale, in its transaction. A concurrent
# request with the same key blocks on the UNIQUE (seller, key) index (here or
# at the recharge's own) until the first commits, then fails on it: its whole
# statement rolls back and the caller replays the first one's response.
STORE = """    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_idempotencyrecord
               (seller_id, key, endpoint, request_hash, status_code, response, created_at)
        VALUES (p_seller, p_key, '{endpoint}', p_request_hash, out_status, out_body, now());
    END IF;
END
$$;"""

RULES = (
    r"""
CREATE FUNCTION ledger_entry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'ledger_entry_append_only';
END
$$;

CREATE TRIGGER ledger_entry_append_only
BEFORE UPDATE OR DELETE ON ledger_ledgerentry
FOR EACH ROW EXECUTE FUNCTION ledger_entry_append_only();

CREATE FUNCTION ledger_entry_running_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bigint := 0;
BEGIN
    IF NEW.sequence > 1 THEN
        SELECT balance_after INTO previous FROM ledger_ledgerentry
         WHERE seller_id = NEW.seller_id AND sequence = NEW.sequence - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger entry %#% has no predecessor', NEW.seller_id, NEW.sequence
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_running_balance';
        END IF;
    END IF;
    IF NEW.balance_after IS DISTINCT FROM previous + NEW.amount THEN
        RAISE EXCEPTION 'ledger entry %#%: balance_after % is not % + %',
            NEW.seller_id, NEW.sequence, NEW.balance_after, previous, NEW.amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_running_balance';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER ledger_entry_running_balance
BEFORE INSERT ON ledger_ledgerentry
FOR EACH ROW EXECUTE FUNCTION ledger_entry_running_balance();

CREATE FUNCTION seller_balance_matches_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
    current_sequence bigint;
    last_balance bigint := 0;
    last_sequence bigint := 0;
BEGIN
    -- Read the row as it is now: an earlier event of the same transaction
    -- carries a stale NEW.
    SELECT balance, ledger_sequence INTO current_balance, current_sequence
      FROM sellers_seller WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT balance_after, sequence INTO last_balance, last_sequence FROM ledger_ledgerentry
     WHERE seller_id = NEW.id ORDER BY sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        last_balance := 0;
        last_sequence := 0;
    END IF;
    IF current_balance <> last_balance OR current_sequence <> last_sequence THEN
        RAISE EXCEPTION 'seller %: balance % / sequence % does not match its ledger (% / %)',
            NEW.id, current_balance, current_sequence, last_balance, last_sequence
            USING ERRCODE = 'check_violation', CONSTRAINT = 'seller_balance_matches_ledger';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER seller_balance_matches_ledger
AFTER INSERT OR UPDATE OF balance, ledger_sequence ON sellers_seller
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION seller_balance_matches_ledger();

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
__REPLAY_RECHARGES__
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    UPDATE sellers_seller SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1
     WHERE id = p_seller AND balance >= p_amount
    RETURNING balance, ledger_sequence INTO v_balance, v_sequence;
    IF NOT FOUND THEN
        SELECT balance INTO v_balance FROM sellers_seller WHERE id = p_seller;
        out_status := 402;
        out_body := __INSUFFICIENT_SINGLE__;
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
            'balance_after', v_balance, 'created_at', __TIME_CREATED__);
    END IF;
__STORE_RECHARGES__

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
__REPLAY_BATCHES__
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    UPDATE sellers_seller SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count
     WHERE id = p_seller AND balance >= v_total
    RETURNING balance, ledger_sequence INTO v_balance, v_sequence;
    IF NOT FOUND THEN
        SELECT balance INTO v_balance FROM sellers_seller WHERE id = p_seller;
        out_status := 402;
        out_body := __INSUFFICIENT_BATCH__;
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
                           'balance_after', l.balance_after, 'created_at', __TIME_R__) ORDER BY r.id)
                  FROM recharges_recharge r
                  JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id
                  JOIN ledger_ledgerentry l ON l.recharge_id = r.id
                 WHERE r.batch_id = v_batch));
    END IF;
__STORE_BATCHES__
""".replace("__REPLAY_RECHARGES__", REPLAY.format(endpoint="recharges"))
    .replace("__REPLAY_BATCHES__", REPLAY.format(endpoint="recharge-batches"))
    .replace("__STORE_RECHARGES__", STORE.format(endpoint="recharges"))
    .replace("__STORE_BATCHES__", STORE.format(endpoint="recharge-batches"))
    .replace("__INSUFFICIENT_SINGLE__", INSUFFICIENT.format("p_amount"))
    .replace("__INSUFFICIENT_BATCH__", INSUFFICIENT.format("v_total"))
    .replace("__TIME_CREATED__", API_TIME.format("v_created"))
    .replace("__TIME_R__", API_TIME.format("r.created_at"))
)

REVERSE = """
DROP FUNCTION ledger_sell_recharge_batch(bigint, text[], bigint[], text, text);
DROP FUNCTION ledger_sell_recharge(bigint, text, bigint, text, text);
DROP TRIGGER seller_balance_matches_ledger ON sellers_seller;
DROP FUNCTION seller_balance_matches_ledger();
DROP TRIGGER ledger_entry_running_balance ON ledger_ledgerentry;
DROP FUNCTION ledger_entry_running_balance();
DROP TRIGGER ledger_entry_append_only ON ledger_ledgerentry;
DROP FUNCTION ledger_entry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_initial"),
        ("idempotency", "0001_initial"),
        ("credits", "0002_decided_requests_are_frozen"),
    ]

    operations = [migrations.RunSQL(RULES, REVERSE)]
