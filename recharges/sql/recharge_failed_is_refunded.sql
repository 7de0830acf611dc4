-- At commit, a recharge that became failed has its refund entry: the status
-- and the money move together or not at all. On INSERT too: a row written
-- failed from the start must not skip the check.
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
AFTER INSERT OR UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION recharge_failed_is_refunded();
