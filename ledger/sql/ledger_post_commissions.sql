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
