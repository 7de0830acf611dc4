-- A decided credit request keeps its status, amount, seller, approvals and
-- evidence; one waiting for its second approval keeps its amount, seller and
-- first approval, and never goes back to pending.
CREATE OR REPLACE FUNCTION credit_request_frozen_once_decided() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('approved', 'rejected') AND (
        NEW.status IS DISTINCT FROM OLD.status
        OR NEW.amount IS DISTINCT FROM OLD.amount
        OR NEW.seller_id IS DISTINCT FROM OLD.seller_id
        OR NEW.decided_at IS DISTINCT FROM OLD.decided_at
        OR NEW.decided_by_id IS DISTINCT FROM OLD.decided_by_id
        OR NEW.first_approved_at IS DISTINCT FROM OLD.first_approved_at
        OR NEW.first_approved_by_id IS DISTINCT FROM OLD.first_approved_by_id
        OR NEW.bank IS DISTINCT FROM OLD.bank
        OR NEW.tracking_number IS DISTINCT FROM OLD.tracking_number
    ) OR OLD.status = 'awaiting_second_approval' AND (
        NEW.status = 'pending'
        OR NEW.amount IS DISTINCT FROM OLD.amount
        OR NEW.seller_id IS DISTINCT FROM OLD.seller_id
        OR NEW.first_approved_at IS DISTINCT FROM OLD.first_approved_at
        OR NEW.first_approved_by_id IS DISTINCT FROM OLD.first_approved_by_id
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
