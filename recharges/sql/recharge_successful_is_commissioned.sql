-- At commit, a recharge that became successful with a commission to earn has
-- its commission entry: the status and the money move together or not at all.
-- On INSERT too: a row written successful from the start must not skip the check.
CREATE OR REPLACE FUNCTION recharge_successful_is_commissioned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ledger_ledgerentry WHERE recharge_id = NEW.id AND kind = 'commission';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recharge % successful without its commission', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'recharge_successful_is_commissioned';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS recharge_successful_is_commissioned ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_successful_is_commissioned
AFTER INSERT OR UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'successful' AND commission_of(NEW.amount, NEW.commission_rate) > 0)
EXECUTE FUNCTION recharge_successful_is_commissioned();
