-- Wakes a procrastinate worker: queues a job of `_task` on `_queue` unless one
-- already waits to run. The statements that create work (a sale, a callback
-- event) call it, so the job commits with the work or not at all. The work is
-- in its own rows and a job only says "look now": one waiting job is enough
-- however many statements ask, and asking costs one index probe. A job queued
-- by a request's statement carries its id (the setting app.request_id, set by
-- recharges/services.py), which the job's log lines show.
CREATE OR REPLACE FUNCTION queue_job_unless_waiting(_task text, _queue text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- procrastinate's unique index on queueing_lock WHERE status = 'todo' answers this.
    PERFORM 1 FROM procrastinate_jobs WHERE queueing_lock = _task AND status = 'todo';
    IF FOUND THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM procrastinate_defer_jobs_v1(ARRAY[ROW(
            _queue, _task, 0, NULL, _task,
            jsonb_strip_nulls(jsonb_build_object('request_id', nullif(current_setting('app.request_id', true), ''))),
            NULL)::procrastinate_job_to_defer_v1]);
    EXCEPTION WHEN unique_violation THEN
        NULL;  -- a concurrent statement queued it first, which is all that was asked
    END;
END
$$;
--- reverse
-- Wakes a procrastinate worker: queues a job of `_task` on `_queue` unless one
-- already waits to run. The statements that create work (a sale, a callback
-- event) call it, so the job commits with the work or not at all. The work is
-- in its own rows and a job only says "look now": one waiting job is enough
-- however many statements ask, and asking costs one index probe.
CREATE OR REPLACE FUNCTION queue_job_unless_waiting(_task text, _queue text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- procrastinate's unique index on queueing_lock WHERE status = 'todo' answers this.
    PERFORM 1 FROM procrastinate_jobs WHERE queueing_lock = _task AND status = 'todo';
    IF FOUND THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM procrastinate_defer_jobs_v1(
            ARRAY[ROW(_queue, _task, 0, NULL, _task, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1]);
    EXCEPTION WHEN unique_violation THEN
        NULL;  -- a concurrent statement queued it first, which is all that was asked
    END;
END
$$;
