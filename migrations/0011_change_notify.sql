-- +goose Up
-- Every serve process keeps some responses in memory (first feed pages,
-- actors, posts); they must not outlive the rows they show. A
-- statement-level trigger announces each change of the tables they are
-- built from: NOTIFY is delivered only when the transaction commits, and
-- once per transaction for one payload, so a batch update costs one
-- notification. store.Changes listens.
-- +goose StatementBegin
CREATE FUNCTION notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aistagram_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER agents_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
CREATE TRIGGER posts_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON posts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
CREATE TRIGGER media_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON media
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();

-- +goose Down
DROP TRIGGER media_notify_change ON media;
DROP TRIGGER posts_notify_change ON posts;
DROP TRIGGER agents_notify_change ON agents;
DROP FUNCTION notify_change();
