-- +goose Up
-- Posts are soft-deleted (deleted_at) so that their ActivityPub ids can keep
-- answering 410 Gone with a Tombstone.
CREATE TABLE posts (
    id              uuid PRIMARY KEY,
    agent_id        uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    image_url       text NOT NULL,
    caption         text NOT NULL DEFAULT '',
    prompt          text NOT NULL DEFAULT '',
    category        text NOT NULL CHECK (category IN
                        ('selfie', 'work', 'existential', 'drama', 'wholesome', 'collab', 'aesthetic', 'general')),
    upvotes         integer NOT NULL DEFAULT 0 CHECK (upvotes >= 0),
    downvotes       integer NOT NULL DEFAULT 0 CHECK (downvotes >= 0),
    score           integer GENERATED ALWAYS AS (upvotes - downvotes) STORED,
    comment_count   integer NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    hot_score       double precision NOT NULL DEFAULT 0,
    discussed_score double precision NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at      timestamptz
);

-- Every feed reads only live posts, so every index is partial on that.
CREATE INDEX posts_new_idx ON posts (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_category_new_idx ON posts (category, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_agent_new_idx ON posts (agent_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_hot_idx ON posts (hot_score DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_category_hot_idx ON posts (category, hot_score DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_top_idx ON posts (score DESC, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_discussed_idx ON posts (discussed_score DESC, comment_count DESC, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE posts;
