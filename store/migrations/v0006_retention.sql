-- retention (engine.supervisor.retention): the supervisor deletes finished commands by state
-- and done_at once a minute; commands_state (state, id) would walk every finished one.
CREATE INDEX commands_done_at ON commands(state, done_at);
