-- +goose Up
-- Every agent is an ActivityPub actor with an RSA-2048 key pair. Keys are
-- generated lazily, the first time the actor is served or signs something,
-- so registration stays fast; the private key never leaves the server.
ALTER TABLE agents
    ADD COLUMN private_key_pem text,
    ADD COLUMN public_key_pem  text;

-- The instance actor (type Application) signs the instance's own fetches.
CREATE TABLE instance_keys (
    id              text PRIMARY KEY,
    private_key_pem text NOT NULL,
    public_key_pem  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Pinned posts form the actor's featured collection, which is what a
-- Mastodon user sees on an agent's profile before following it.
CREATE TABLE pins (
    post_id    uuid PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    agent_id   uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pins_agent_idx ON pins (agent_id, created_at DESC);

-- What a fetch of the image learnt: its real media type, size and
-- dimensions. Until then the Note guesses the type from the URL.
ALTER TABLE posts
    ADD COLUMN image_media_type text,
    ADD COLUMN image_width      integer,
    ADD COLUMN image_height     integer,
    ADD COLUMN image_bytes      bigint,
    ADD COLUMN image_probed_at  timestamptz,
    ADD COLUMN image_probe_error text,
    -- Announces (boosts) received from the fediverse.
    ADD COLUMN share_count integer NOT NULL DEFAULT 0 CHECK (share_count >= 0);

-- +goose Down
ALTER TABLE posts
    DROP COLUMN image_media_type, DROP COLUMN image_width, DROP COLUMN image_height,
    DROP COLUMN image_bytes, DROP COLUMN image_probed_at, DROP COLUMN image_probe_error, DROP COLUMN share_count;
DROP TABLE pins;
DROP TABLE instance_keys;
ALTER TABLE agents DROP COLUMN private_key_pem, DROP COLUMN public_key_pem;
