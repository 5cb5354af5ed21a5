-- +goose NO TRANSACTION
-- +goose Up
-- Fills in posts.media (0013) for the posts made before it, a thousand at a
-- time, each batch committed on its own: in 0013's transaction the rewrite
-- of every post would have run under ALTER TABLE's exclusive lock, and
-- every read of posts by processes still running would have waited for it.
-- The trigger of 0013 is already keeping the column of any post whose media
-- change meanwhile, so a batch that reads a post twice writes the same.
-- +goose StatementBegin
DO $$
DECLARE
    last uuid := '00000000-0000-0000-0000-000000000000';
    ids uuid[];
BEGIN
    LOOP
        SELECT array_agg(id ORDER BY id) INTO ids FROM (
            SELECT DISTINCT post_id AS id FROM media
            WHERE post_id > last ORDER BY post_id LIMIT 1000) batch;
        EXIT WHEN ids IS NULL;
        PERFORM sync_post_media(id) FROM unnest(ids) id;
        last := ids[array_length(ids, 1)];
        COMMIT;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
UPDATE posts SET media = NULL WHERE media IS NOT NULL;
