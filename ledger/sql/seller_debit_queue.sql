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
