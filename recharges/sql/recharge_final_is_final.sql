-- What was sold never changes (its commission rate included), nor the reference the operator knows it by,
-- and a final status (successful or failed) never changes again: only a
-- pending recharge's delivery fields move.
CREATE OR REPLACE FUNCTION recharge_final_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.seller_id, NEW.phone_number_id, NEW.amount, NEW.operator, NEW.created_at, NEW.batch_id, NEW.idempotency_key,
        NEW.topup_reference, NEW.product, NEW.commission_rate)
           IS DISTINCT FROM (OLD.seller_id, OLD.phone_number_id, OLD.amount, OLD.operator, OLD.created_at, OLD.batch_id,
                             OLD.idempotency_key, OLD.topup_reference, OLD.product, OLD.commission_rate)
       OR (OLD.status <> 'pending'
           AND (NEW.status, NEW.operator_reference, NEW.failure_code, NEW.failure_message, NEW.completed_at, NEW.resolved_by_id)
               IS DISTINCT FROM
               (OLD.status, OLD.operator_reference, OLD.failure_code, OLD.failure_message, OLD.completed_at, OLD.resolved_by_id)) THEN
        RAISE EXCEPTION 'recharge %: a sale never changes and a final status is final', OLD.id
            USING ERRCODE = 'restrict_violation', CONSTRAINT = 'recharge_final_is_final';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER recharge_final_is_final
BEFORE UPDATE ON recharges_recharge
FOR EACH ROW EXECUTE FUNCTION recharge_final_is_final();
