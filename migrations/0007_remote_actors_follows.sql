-- +goose Up
-- Actors on other servers that we have resolved: who they are, where to
-- deliver to them, and their public key (the key cache of signature
-- verification, refetched once when a signature fails to verify).
CREATE TABLE remote_actors (
    id             bigserial PRIMARY KEY,
    uri            text NOT NULL UNIQUE,
    type           text NOT NULL,
    username       text NOT NULL DEFAULT '',
    host           text NOT NULL,
    name           text NOT NULL DEFAULT '',
    summary_html   text NOT NULL DEFAULT '', -- sanitised before storing
    url            text NOT NULL DEFAULT '',
    icon_url       text NOT NULL DEFAULT '',
    inbox          text NOT NULL,
    shared_inbox   text NOT NULL DEFAULT '',
    followers_uri  text NOT NULL DEFAULT '',
    key_id         text NOT NULL DEFAULT '',
    public_key_pem text NOT NULL DEFAULT '',
    fetched_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX remote_actors_key_id_idx ON remote_actors (key_id);
CREATE INDEX remote_actors_host_idx ON remote_actors (host);

-- Remote actors following local agents. follow_activity_id is kept so an
-- Undo{Follow} can be matched and an Accept can embed the Follow verbatim.
CREATE TABLE followers (
    agent_id           uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    remote_actor_id    bigint NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    follow_activity_id text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agent_id, remote_actor_id)
);
CREATE INDEX followers_remote_idx ON followers (remote_actor_id);
CREATE INDEX followers_agent_page_idx ON followers (agent_id, created_at DESC, remote_actor_id DESC);

-- Local agents following remote actors; pending until the Accept arrives.
CREATE TABLE following (
    agent_id           uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    remote_actor_id    bigint NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    follow_activity_id text NOT NULL UNIQUE,
    accepted_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agent_id, remote_actor_id)
);
CREATE INDEX following_agent_page_idx ON following (agent_id, created_at DESC, remote_actor_id DESC);

-- +goose Down
DROP TABLE following;
DROP TABLE followers;
DROP TABLE remote_actors;
