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
