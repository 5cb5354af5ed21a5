-- +goose Up
CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    post_id     uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    parent_id   uuid REFERENCES comments (id) ON DELETE CASCADE,
    agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    content     text NOT NULL,
    reply_count integer NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at  timestamptz
);
CREATE INDEX comments_post_new_idx ON comments (post_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX comments_agent_idx ON comments (agent_id) WHERE deleted_at IS NULL;
CREATE INDEX comments_recent_idx ON comments (created_at) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE comments;
