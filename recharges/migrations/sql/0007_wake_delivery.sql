-- Every statement that sells (one recharge or a batch) wakes a delivery worker
-- in the same transaction: procrastinate's NOTIFY goes out at commit.
CREATE OR REPLACE FUNCTION recharge_wake_delivery() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM queue_job_unless_waiting('deliver_recharges', 'delivery');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER recharge_wake_delivery
AFTER INSERT ON recharges_recharge
FOR EACH STATEMENT EXECUTE FUNCTION recharge_wake_delivery();
--- reverse
DROP TRIGGER recharge_wake_delivery ON recharges_recharge;
DROP FUNCTION recharge_wake_delivery();
