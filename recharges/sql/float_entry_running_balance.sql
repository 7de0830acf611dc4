-- Each float entry continues its operator's running balance: sequence n
-- follows n-1 and balance_after = previous balance_after + amount.
CREATE OR REPLACE FUNCTION float_entry_running_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bigint := 0;
BEGIN
    IF NEW.sequence > 1 THEN
        SELECT balance_after INTO previous FROM recharges_floatentry
         WHERE operator_id = NEW.operator_id AND sequence = NEW.sequence - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'float entry %#% has no predecessor', NEW.operator_id, NEW.sequence
                USING ERRCODE = 'check_violation', CONSTRAINT = 'float_entry_running_balance';
        END IF;
    END IF;
    IF NEW.balance_after IS DISTINCT FROM previous + NEW.amount THEN
        RAISE EXCEPTION 'float entry %#%: balance_after % is not % + %',
            NEW.operator_id, NEW.sequence, NEW.balance_after, previous, NEW.amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'float_entry_running_balance';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER float_entry_running_balance
BEFORE INSERT ON recharges_floatentry
FOR EACH ROW EXECUTE FUNCTION float_entry_running_balance();
