-- Report periods (`report --since`, the transitions and day-by-day counts)
-- read the history by when it was observed: without an index on observed_at
-- every report read the whole history, however short its period. BRIN, not
-- b-tree: the history is appended in time order, so block ranges follow
-- observed_at, and a BRIN index costs next to nothing per insert and a few
-- pages in all (scripts/bench.py reports compares the two).
CREATE INDEX job_state_history_observed_at_idx
    ON snowball.job_state_history USING brin (observed_at);
CREATE INDEX job_detail_history_observed_at_idx
    ON snowball.job_detail_history USING brin (observed_at);
