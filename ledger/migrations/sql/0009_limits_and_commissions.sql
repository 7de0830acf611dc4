DROP FUNCTION ledger_post_debit(bigint, bigint, bigint);
DROP FUNCTION ledger_post_debits(bigint, bigint[], bigint[]);
-- The business day an instant falls on: its date in the business time zone
-- (settings.BUSINESS_TIME_ZONE, passed by the caller), as reports count days.
CREATE OR REPLACE FUNCTION business_day(p_time timestamptz, p_time_zone text) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (p_time AT TIME ZONE p_time_zone)::date
$$;

-- Which of the seller's amount limits these debits (one per recharge, of
-- business day p_day) would pass, or NULL: {"limit", "allowed", "used"}, as
-- the 403 limit_exceeded gives it. Judged on the seller's row alone, so that
-- the debit's conditional UPDATE can ask it of the row it locks (and, after
-- waiting for that lock, of the row as the previous sale left it): no other
-- sale can slip in between the check and the debit.
-- `used` is the amount asked for max_recharge_amount (the first item over
-- it), the day's amount before these debits for daily_amount.
CREATE OR REPLACE FUNCTION debit_limit_refusal(p_seller sellers_seller, p_day date, p_amounts bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_amount bigint;
    v_used bigint;
BEGIN
    IF p_seller.max_recharge_amount IS NOT NULL THEN
        SELECT a INTO v_amount FROM unnest(p_amounts) WITH ORDINALITY AS u(a, ord)
         WHERE a > p_seller.max_recharge_amount ORDER BY ord LIMIT 1;
        IF FOUND THEN
            RETURN jsonb_build_object('limit', 'max_recharge_amount', 'allowed', p_seller.max_recharge_amount, 'used', v_amount);
        END IF;
    END IF;
    IF p_seller.daily_amount IS NOT NULL THEN
        v_used := CASE WHEN p_seller.daily_amount_day = p_day THEN p_seller.daily_amount_used ELSE 0 END;
        IF v_used + (SELECT sum(a) FROM unnest(p_amounts) a) > p_seller.daily_amount THEN
            RETURN jsonb_build_object('limit', 'daily_amount', 'allowed', p_seller.daily_amount, 'used', v_used);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

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

-- Credits commissions, one entry per (seller, recharge, amount) item, in the
-- transaction that made those recharges successful (which locked them
-- first): the sellers are locked in id order, each updated once for its
-- total, then the entries appended in recharge order.
CREATE OR REPLACE FUNCTION ledger_post_commissions(p_sellers bigint[], p_recharges bigint[], p_amounts bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM sellers_seller WHERE id = ANY(p_sellers) ORDER BY id FOR NO KEY UPDATE;
    WITH totals AS (
        SELECT seller, sum(amount) AS total, count(*) AS n
          FROM unnest(p_sellers, p_amounts) AS i(seller, amount) GROUP BY seller
    ), credited AS (
        UPDATE sellers_seller s SET balance = s.balance + t.total, ledger_sequence = s.ledger_sequence + t.n
          FROM totals t WHERE s.id = t.seller
        RETURNING s.id, s.balance, s.ledger_sequence, t.total, t.n
    )
    INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
    SELECT c.id, c.ledger_sequence - c.n + row_number() OVER w, 'commission', i.amount,
           c.balance - c.total + sum(i.amount) OVER w, i.recharge, now()
      FROM unnest(p_sellers, p_recharges, p_amounts) AS i(seller, recharge, amount)
      JOIN credited c ON c.id = i.seller
    WINDOW w AS (PARTITION BY i.seller ORDER BY i.recharge ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
     ORDER BY c.id, i.recharge;
END
$$;

-- A failed recharge frees its amount from its seller's daily total, if it was
-- sold on the business day that total counts (an older day's is gone). Call
-- it under the seller's row lock, in the transaction that refunds it.
CREATE OR REPLACE FUNCTION ledger_release_daily_amount(p_seller bigint, p_amount bigint, p_day date) RETURNS void
LANGUAGE sql AS $$
    UPDATE sellers_seller SET daily_amount_used = daily_amount_used - p_amount
     WHERE id = p_seller AND daily_amount_day = p_day
$$;

--- reverse
DROP FUNCTION ledger_release_daily_amount(bigint, bigint, date);
DROP FUNCTION ledger_post_commissions(bigint[], bigint[], bigint[]);
DROP FUNCTION ledger_post_debits(bigint, bigint[], bigint[], date);
DROP FUNCTION ledger_post_debit(bigint, bigint, bigint, date);
DROP FUNCTION debit_limit_refusal(sellers_seller, date, bigint[]);
DROP FUNCTION business_day(timestamptz, text);
-- Debits a seller for one recharge: a conditional UPDATE (the seller's row
-- lock, held to commit) and the recharge's entry, continuing the running
-- balance. Returns the balance after it, or NULL and writes nothing when the
-- balance does not cover the amount. The entry may name a recharge inserted
-- later in the same transaction (foreign keys are checked at commit).
CREATE OR REPLACE FUNCTION ledger_post_debit(p_seller bigint, p_recharge bigint, p_amount bigint, OUT out_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
BEGIN
    UPDATE sellers_seller SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1
     WHERE id = p_seller AND balance >= p_amount
    RETURNING balance, ledger_sequence INTO out_balance, v_sequence;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        VALUES (p_seller, v_sequence, 'recharge', -p_amount, out_balance, p_recharge, now());
    END IF;
END
$$;

-- ledger_post_debit for several recharges at once, all or none: one balance
-- update for their total, then one entry per recharge in array order.
CREATE OR REPLACE FUNCTION ledger_post_debits(p_seller bigint, p_recharges bigint[], p_amounts bigint[], OUT out_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_amounts);
    v_total bigint;
    v_sequence bigint;
BEGIN
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    UPDATE sellers_seller SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count
     WHERE id = p_seller AND balance >= v_total
    RETURNING balance, ledger_sequence INTO out_balance, v_sequence;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        SELECT p_seller, v_sequence - v_count + i.ord, 'recharge', -i.amount,
               out_balance + v_total - sum(i.amount) OVER (ORDER BY i.ord), i.recharge, now()
          FROM unnest(p_recharges, p_amounts) WITH ORDINALITY AS i(recharge, amount, ord)
         ORDER BY i.ord;
    END IF;
END
$$;
