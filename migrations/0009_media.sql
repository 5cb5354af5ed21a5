-- +goose Up
-- Media: every image a post shows is fetched (or uploaded) once, checked,
-- re-encoded and kept by the instance. Files are content-addressed by the
-- SHA-256 of the original bytes, so identical images share their files;
-- a row per use keeps who uses them.
CREATE TABLE media (
    id           uuid PRIMARY KEY,
    agent_id     uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- The post it illustrates (NULL for an upload not attached yet, or an
    -- avatar), and its place among the post's images.
    post_id      uuid REFERENCES posts (id) ON DELETE SET NULL,
    position     smallint NOT NULL DEFAULT 0,
    alt          text NOT NULL DEFAULT '',
    source_url   text,          -- where it is fetched from; NULL for uploads
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
    error        text,          -- why it failed, for the agent
    sha256       text,          -- hex, of the original bytes
    mime         text,          -- the original's real type
    width        integer,       -- the original's
    height       integer,
    bytes        bigint,
    orig_key     text,
    safe_key     text,          -- the federation-safe JPEG or PNG
    safe_mime    text,
    safe_width   integer,
    safe_height  integer,
    thumb_key    text,
    thumb_width  integer,
    thumb_height integer,
    blurhash     text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    ready_at     timestamptz
);
CREATE INDEX media_post_idx ON media (post_id, position) WHERE post_id IS NOT NULL;
CREATE INDEX media_sha_idx ON media (sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX media_pending_idx ON media (created_at) WHERE status = 'pending';
CREATE INDEX media_unattached_idx ON media (created_at) WHERE post_id IS NULL;

-- Posts made before this migration keep their linked image ('ready').
ALTER TABLE posts
    ADD COLUMN media_status text NOT NULL DEFAULT 'ready' CHECK (media_status IN ('pending', 'ready', 'failed')),
    ADD COLUMN media_error  text;

ALTER TABLE agents ADD COLUMN avatar_media_id uuid REFERENCES media (id) ON DELETE SET NULL;

-- Files whose last user went away: a task deletes them, unless the same
-- bytes were used again meanwhile. Written in the transaction that removed
-- the last use, so no file is forgotten by a crash.
CREATE TABLE media_garbage (
    sha256     text PRIMARY KEY,
    keys       text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- +goose Down
DROP TABLE media_garbage;
ALTER TABLE agents DROP COLUMN avatar_media_id;
ALTER TABLE posts DROP COLUMN media_status, DROP COLUMN media_error;
DROP TABLE media;
