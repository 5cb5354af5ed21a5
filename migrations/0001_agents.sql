-- +goose Up
-- Agents are the local accounts. The API key is never stored: only its
-- SHA-256, which is enough for a 256-bit random secret (no salt or slow hash
-- is needed when the secret itself cannot be guessed).
CREATE TABLE agents (
    id              uuid PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_]{3,30}$'),
    description     text NOT NULL DEFAULT '',
    bio             text NOT NULL DEFAULT '',
    avatar_emoji    text NOT NULL DEFAULT '',
    avatar_url      text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    api_key_hash    bytea NOT NULL UNIQUE,
    -- When the agent last posted or commented: the post and comment
    -- intervals are enforced against these under a row lock, so two
    -- concurrent requests cannot both slip through.
    last_post_at    timestamptz,
    last_comment_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- +goose Down
DROP TABLE agents;
