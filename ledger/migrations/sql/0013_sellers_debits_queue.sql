-- A seller's debits queue on an advisory lock before they ask for its row.
-- A seller's debits wait their turn here, on an advisory lock held to commit,
-- before they ask for the seller's row. A backend waiting for a row lock
-- keeps the row's page pinned, and PostgreSQL prunes a page's dead row
-- versions only when nobody else pins it: with dozens of sales of one busy
-- seller waiting on the row, its page was never pruned and every read of
-- the row walked a longer chain of dead versions (one seller at 32 clients:
-- 1.8 against 1.2 ms of PostgreSQL CPU per sale, docs/serving.md). The lock
-- guards nothing: the conditional UPDATE, under the row lock, still decides
-- every debit, and a path that debits without queueing here is only slower.
-- The key is the pair (sellers_seller's oid, the seller's id modulo 2^31):
-- two sellers sharing one only share a queue.
CREATE OR REPLACE FUNCTION seller_debit_queue(p_seller bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock('sellers_seller'::regclass::oid::integer, (p_seller % 2147483648)::integer)
$$;

-- Debits a seller for one recharge: after its turn in the seller's queue
-- (seller_debit_queue), a conditional UPDATE (the seller's row lock, held to
-- commit) and the recharge's entry, continuing the running balance. The
-- UPDATE also adds the amount to the business day's total (daily_amount_used;
-- a sale of an earlier day, committing after the day turned, leaves the new
-- day's total alone). Returns the balance after it and
-- the seller's number_hourly_count (for the caller to check under the lock
-- now held), or NULLs and writes nothing when the balance does not cover the
-- amount or a limit refuses it (debit_limit_refusal; skipped without limits).
-- The entry may name a recharge inserted later in the same transaction
-- (foreign keys are checked at commit).
CREATE OR REPLACE FUNCTION ledger_post_debit(
    p_seller bigint, p_recharge bigint, p_amount bigint, p_day date,
    OUT out_balance bigint, OUT out_number_hourly_count integer
)
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
BEGIN
    PERFORM seller_debit_queue(p_seller);
    UPDATE sellers_seller
       SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1,
           daily_amount_used = CASE WHEN daily_amount_day = p_day THEN daily_amount_used + p_amount
                                    WHEN daily_amount_day > p_day THEN daily_amount_used
                                    ELSE p_amount END,
           daily_amount_day = greatest(daily_amount_day, p_day)
     WHERE id = p_seller AND balance >= p_amount
       AND CASE WHEN max_recharge_amount IS NULL AND daily_amount IS NULL THEN true
                ELSE debit_limit_refusal(sellers_seller, p_day, ARRAY[p_amount]) IS NULL END
    RETURNING balance, ledger_sequence, number_hourly_count INTO out_balance, v_sequence, out_number_hourly_count;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        VALUES (p_seller, v_sequence, 'recharge', -p_amount, out_balance, p_recharge, now());
    END IF;
END
$$;

-- ledger_post_debit for several recharges at once, all or none: one balance
-- update for their total (limits judged on them together), then one entry
-- per recharge in array order.
CREATE OR REPLACE FUNCTION ledger_post_debits(
    p_seller bigint, p_recharges bigint[], p_amounts bigint[], p_day date,
    OUT out_balance bigint, OUT out_number_hourly_count integer
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_amounts);
    v_total bigint;
    v_sequence bigint;
BEGIN
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    PERFORM seller_debit_queue(p_seller);
    UPDATE sellers_seller
       SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count,
           daily_amount_used = CASE WHEN daily_amount_day = p_day THEN daily_amount_used + v_total
                                    WHEN daily_amount_day > p_day THEN daily_amount_used
                                    ELSE v_total END,
           daily_amount_day = greatest(daily_amount_day, p_day)
     WHERE id = p_seller AND balance >= v_total
       AND CASE WHEN max_recharge_amount IS NULL AND daily_amount IS NULL THEN true
                ELSE debit_limit_refusal(sellers_seller, p_day, p_amounts) IS NULL END
    RETURNING balance, ledger_sequence, number_hourly_count INTO out_balance, v_sequence, out_number_hourly_count;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        SELECT p_seller, v_sequence - v_count + i.ord, 'recharge', -i.amount,
               out_balance + v_total - sum(i.amount) OVER (ORDER BY i.ord), i.recharge, now()
          FROM unnest(p_recharges, p_amounts) WITH ORDINALITY AS i(recharge, amount, ord)
         ORDER BY i.ord;
    END IF;
END
$$;

--- reverse
-- Debits a seller for one recharge: a conditional UPDATE (the seller's row
-- lock, held to commit) and the recharge's entry, continuing the running
-- balance. The UPDATE also adds the amount to the business day's total
-- (daily_amount_used; a sale of an earlier day, committing after the day
-- turned, leaves the new day's total alone). Returns the balance after it and
-- the seller's number_hourly_count (for the caller to check under the lock
-- now held), or NULLs and writes nothing when the balance does not cover the
-- amount or a limit refuses it (debit_limit_refusal; skipped without limits).
-- The entry may name a recharge inserted later in the same transaction
-- (foreign keys are checked at commit).
CREATE OR REPLACE FUNCTION ledger_post_debit(
    p_seller bigint, p_recharge bigint, p_amount bigint, p_day date,
    OUT out_balance bigint, OUT out_number_hourly_count integer
)
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
BEGIN
    UPDATE sellers_seller
       SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1,
           daily_amount_used = CASE WHEN daily_amount_day = p_day THEN daily_amount_used + p_amount
                                    WHEN daily_amount_day > p_day THEN daily_amount_used
                                    ELSE p_amount END,
           daily_amount_day = greatest(daily_amount_day, p_day)
     WHERE id = p_seller AND balance >= p_amount
       AND CASE WHEN max_recharge_amount IS NULL AND daily_amount IS NULL THEN true
                ELSE debit_limit_refusal(sellers_seller, p_day, ARRAY[p_amount]) IS NULL END
    RETURNING balance, ledger_sequence, number_hourly_count INTO out_balance, v_sequence, out_number_hourly_count;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        VALUES (p_seller, v_sequence, 'recharge', -p_amount, out_balance, p_recharge, now());
    END IF;
END
$$;

-- ledger_post_debit for several recharges at once, all or none: one balance
-- update for their total (limits judged on them together), then one entry
-- per recharge in array order.
CREATE OR REPLACE FUNCTION ledger_post_debits(
    p_seller bigint, p_recharges bigint[], p_amounts bigint[], p_day date,
    OUT out_balance bigint, OUT out_number_hourly_count integer
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_amounts);
    v_total bigint;
    v_sequence bigint;
BEGIN
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    UPDATE sellers_seller
       SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count,
           daily_amount_used = CASE WHEN daily_amount_day = p_day THEN daily_amount_used + v_total
                                    WHEN daily_amount_day > p_day THEN daily_amount_used
                                    ELSE v_total END,
           daily_amount_day = greatest(daily_amount_day, p_day)
     WHERE id = p_seller AND balance >= v_total
       AND CASE WHEN max_recharge_amount IS NULL AND daily_amount IS NULL THEN true
                ELSE debit_limit_refusal(sellers_seller, p_day, p_amounts) IS NULL END
    RETURNING balance, ledger_sequence, number_hourly_count INTO out_balance, v_sequence, out_number_hourly_count;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        SELECT p_seller, v_sequence - v_count + i.ord, 'recharge', -i.amount,
               out_balance + v_total - sum(i.amount) OVER (ORDER BY i.ord), i.recharge, now()
          FROM unnest(p_recharges, p_amounts) WITH ORDINALITY AS i(recharge, amount, ord)
         ORDER BY i.ord;
    END IF;
END
$$;

DROP FUNCTION seller_debit_queue(bigint);
