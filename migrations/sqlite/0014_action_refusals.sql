-- 0014_action_refusals.sql - refused lifecycle actions, counted per identity
-- (docs/api.md, "What the API writes to the audit log").
--
-- An approval, denial, cancellation, revocation, review or off-boarding
-- refused to a signed-in caller for lack of rights is evidence: it is
-- recorded as a request.action_refused entry, at most `recorded` of them
-- per identity in a window of requests.refused_actions_window_seconds
-- starting at the first.  Beyond that, refusals are only counted here
-- (suppressed, and per action in `actions`, a JSON object); once the window
-- is over, one request.action_refusals_suppressed entry says how many were
-- left out (written by the next refusal or the sweeper, whichever comes
-- first), and the row is deleted.  access.c owns this table.

CREATE TABLE action_refusals (
    actor        TEXT PRIMARY KEY,     -- "user:<sub>"
    window_start INTEGER NOT NULL,     -- Unix seconds of the window's first refusal
    recorded     INTEGER NOT NULL,     -- request.action_refused entries written in it
    suppressed   INTEGER NOT NULL,     -- refusals counted but not written
    actions      TEXT NOT NULL         -- the suppressed ones by action: {"approve": 3, ...}
);

CREATE INDEX action_refusals_window ON action_refusals (window_start);
