-- At commit, an operator float's balance and sequence equal its last
-- entry's: no code can move a float without a matching entry. Not fired by
-- a sale's reservation, which moves only `pending`.
CREATE OR REPLACE FUNCTION operator_float_matches_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
    current_sequence bigint;
    last_balance bigint := 0;
    last_sequence bigint := 0;
BEGIN
    -- Read the row as it is now: an earlier event of the same transaction
    -- carries a stale NEW.
    SELECT balance, sequence INTO current_balance, current_sequence
      FROM recharges_operatorfloat WHERE operator_id = NEW.operator_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT balance_after, sequence INTO last_balance, last_sequence FROM recharges_floatentry
     WHERE operator_id = NEW.operator_id ORDER BY sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        last_balance := 0;
        last_sequence := 0;
    END IF;
    IF current_balance <> last_balance OR current_sequence <> last_sequence THEN
        RAISE EXCEPTION 'float at %: balance % / sequence % does not match its entries (% / %)',
            NEW.operator_id, current_balance, current_sequence, last_balance, last_sequence
            USING ERRCODE = 'check_violation', CONSTRAINT = 'operator_float_matches_entries';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS operator_float_matches_entries ON recharges_operatorfloat;
CREATE CONSTRAINT TRIGGER operator_float_matches_entries
AFTER INSERT OR UPDATE OF balance, sequence ON recharges_operatorfloat
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION operator_float_matches_entries();
