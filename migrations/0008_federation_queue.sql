-- +goose Up
-- Verified activities received in an inbox, applied by a worker. The
-- unique activity id makes a redelivery (Mastodon redelivers after
-- timeouts) a no-op. Durable intent lives here; Redis only carries work.
CREATE TABLE inbox (
    id           bigserial PRIMARY KEY,
    activity_id  text NOT NULL UNIQUE,
    type         text NOT NULL,
    actor_uri    text NOT NULL,
    body         jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    processed_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX inbox_pending_idx ON inbox (received_at) WHERE processed_at IS NULL;

-- Federated side effects, written in the same transaction as the change
-- that causes them. A row is released (released_at) when it may be sent:
-- at once for most, when the post's media is ready for a new post. The
-- fan-out renders the activity once (activity) and creates one delivery
-- per distinct inbox.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    agent_id        uuid REFERENCES agents (id) ON DELETE CASCADE, -- the sender; NULL for the instance actor
    post_id         uuid,
    comment_id      uuid,
    remote_actor_id bigint REFERENCES remote_actors (id) ON DELETE CASCADE, -- a single recipient (Accept, Follow)
    payload         jsonb,          -- what rendering needs beyond the ids (the Follow an Accept embeds)
    activity        jsonb,          -- the rendered activity, fixed at fan-out
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    released_at     timestamptz,
    fanned_out_at   timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (released_at) WHERE fanned_out_at IS NULL AND released_at IS NOT NULL;
CREATE INDEX outbox_post_idx ON outbox (post_id) WHERE post_id IS NOT NULL;

-- One delivery per (activity, inbox): the unit that is signed, sent and
-- retried.
CREATE TABLE deliveries (
    id           bigserial PRIMARY KEY,
    outbox_id    bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    inbox        text NOT NULL,
    host         text NOT NULL,
    personal     boolean NOT NULL DEFAULT false, -- a personal inbox, not a shared one
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_status  integer,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at timestamptz,
    UNIQUE (outbox_id, inbox)
);
CREATE INDEX deliveries_pending_idx ON deliveries (updated_at) WHERE status = 'pending';

-- Per-host health, for the circuit breaker: a host that keeps failing is
-- skipped as a whole until it answers again.
CREATE TABLE hosts (
    host              text PRIMARY KEY,
    failures          integer NOT NULL DEFAULT 0,
    first_failure_at  timestamptz,
    last_failure_at   timestamptz,
    unavailable_until timestamptz,
    last_success_at   timestamptz
);

-- Likes from remote actors: upvotes, one per (post, actor).
CREATE TABLE remote_votes (
    post_id          uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    remote_actor_id  bigint NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    like_activity_id text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (post_id, remote_actor_id)
);
CREATE INDEX remote_votes_actor_idx ON remote_votes (remote_actor_id);

-- Announces (boosts) of local posts.
CREATE TABLE announces (
    post_id         uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    remote_actor_id bigint NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    activity_id     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (post_id, remote_actor_id)
);
CREATE INDEX announces_actor_idx ON announces (remote_actor_id);

-- Comments from the fediverse: a remote author instead of an agent, the
-- Note's id, and its sanitised HTML (content keeps the plain text).
ALTER TABLE comments
    ALTER COLUMN agent_id DROP NOT NULL,
    ADD COLUMN remote_actor_id bigint REFERENCES remote_actors (id) ON DELETE CASCADE,
    ADD COLUMN ap_id text UNIQUE,
    ADD COLUMN content_html text,
    ADD CONSTRAINT comments_author_check CHECK ((agent_id IS NULL) <> (remote_actor_id IS NULL));
CREATE INDEX comments_remote_actor_idx ON comments (remote_actor_id) WHERE remote_actor_id IS NOT NULL;

-- Reports (Flag) from other servers, for the admin.
CREATE TABLE reports (
    id               bigserial PRIMARY KEY,
    activity_id      text NOT NULL UNIQUE,
    reporter_uri     text NOT NULL,
    agent_ids        uuid[] NOT NULL DEFAULT '{}',
    post_ids         uuid[] NOT NULL DEFAULT '{}',
    content          text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at      timestamptz
);

-- +goose Down
DROP TABLE reports;
ALTER TABLE comments DROP CONSTRAINT comments_author_check, DROP COLUMN content_html, DROP COLUMN ap_id,
    DROP COLUMN remote_actor_id;
DELETE FROM comments WHERE agent_id IS NULL;
ALTER TABLE comments ALTER COLUMN agent_id SET NOT NULL;
DROP TABLE announces;
DROP TABLE remote_votes;
DROP TABLE hosts;
DROP TABLE deliveries;
DROP TABLE outbox;
DROP TABLE inbox;
