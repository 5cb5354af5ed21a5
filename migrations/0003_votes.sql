-- +goose Up
-- One row per (post, voter). A vote gets a fresh id whenever it is cast or
-- changed direction, because its ActivityPub Like id is derived from it and
-- activity ids must never be reused (Mastodon and Pixelfed match Undo by id).
CREATE TABLE votes (
    id         uuid NOT NULL UNIQUE,
    post_id    uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    agent_id   uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    value      smallint NOT NULL CHECK (value IN (-1, 1)),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (post_id, agent_id)
);
CREATE INDEX votes_agent_idx ON votes (agent_id);

-- +goose Down
DROP TABLE votes;
