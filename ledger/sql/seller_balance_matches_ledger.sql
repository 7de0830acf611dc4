-- At commit, a seller's balance and ledger_sequence equal its last entry's:
-- no code can move a balance without a matching ledger entry.
CREATE OR REPLACE FUNCTION seller_balance_matches_ledger() RETURNS trigger
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

DROP TRIGGER IF EXISTS seller_balance_matches_ledger ON sellers_seller;
CREATE CONSTRAINT TRIGGER seller_balance_matches_ledger
AFTER INSERT OR UPDATE OF balance, ledger_sequence ON sellers_seller
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION seller_balance_matches_ledger();
