-- A decided credit request keeps its status, amount and seller.
CREATE OR REPLACE FUNCTION credit_request_frozen_once_decided() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'pending' AND (
        NEW.status IS DISTINCT FROM OLD.status
        OR NEW.amount IS DISTINCT FROM OLD.amount
        OR NEW.seller_id IS DISTINCT FROM OLD.seller_id
        OR NEW.decided_at IS DISTINCT FROM OLD.decided_at
        OR NEW.decided_by_id IS DISTINCT FROM OLD.decided_by_id
    ) THEN
        RAISE EXCEPTION 'credit request % is already %; it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_request_frozen_once_decided';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER credit_request_frozen_once_decided
BEFORE UPDATE ON credits_creditrequest
FOR EACH ROW EXECUTE FUNCTION credit_request_frozen_once_decided();
