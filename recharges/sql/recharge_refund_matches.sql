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
