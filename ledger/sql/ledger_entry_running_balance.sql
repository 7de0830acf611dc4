-- Each entry continues its seller's running balance: sequence n follows n-1
-- and balance_after = previous balance_after + amount.
CREATE OR REPLACE FUNCTION ledger_entry_running_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bigint := 0;
BEGIN
    IF NEW.sequence > 1 THEN
        SELECT balance_after INTO previous FROM ledger_ledgerentry
         WHERE seller_id = NEW.seller_id AND sequence = NEW.sequence - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger entry %#% has no predecessor', NEW.seller_id, NEW.sequence
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_running_balance';
        END IF;
    END IF;
    IF NEW.balance_after IS DISTINCT FROM previous + NEW.amount THEN
        RAISE EXCEPTION 'ledger entry %#%: balance_after % is not % + %',
            NEW.seller_id, NEW.sequence, NEW.balance_after, previous, NEW.amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_running_balance';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER ledger_entry_running_balance
BEFORE INSERT ON ledger_ledgerentry
FOR EACH ROW EXECUTE FUNCTION ledger_entry_running_balance();
