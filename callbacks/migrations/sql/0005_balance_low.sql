-- A debit that takes a seller's balance from at or above its
-- low_balance_threshold to below it records a balance.low event for its
-- callback URL (none without one), in the debit's transaction: once per
-- crossing, since the next needs the balance back at the threshold or above.
-- The body is the API's event shape (callbacks/services.py), key order kept.
CREATE OR REPLACE FUNCTION seller_balance_low() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    INSERT INTO callbacks_callbackevent (id, seller_id, type, body, created_at)
    SELECT v_id, NEW.id, 'balance.low',
           json_build_object('id', v_id, 'type', 'balance.low', 'created_at', api_time(now()),
                             'data', json_build_object('balance', NEW.balance, 'threshold', NEW.low_balance_threshold))::text,
           now()
      FROM callbacks_callbackendpoint WHERE seller_id = NEW.id;
    IF FOUND THEN
        PERFORM queue_job_unless_waiting('deliver_callbacks', 'callbacks');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER seller_balance_low
AFTER UPDATE OF balance ON sellers_seller
FOR EACH ROW WHEN (NEW.balance < NEW.low_balance_threshold AND OLD.balance >= NEW.low_balance_threshold)
EXECUTE FUNCTION seller_balance_low();

--- reverse
DROP TRIGGER seller_balance_low ON sellers_seller;
DROP FUNCTION seller_balance_low();
