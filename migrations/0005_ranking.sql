-- +goose Up
-- The ranking formulas live here, once, so that the insert-time value, the
-- per-post recompute after a vote and the periodic batch recompute can never
-- disagree. README.md ("Rankings") explains them.

-- hot: net votes plus comments, decaying with age like Hacker News
-- (gravity 1.5): (net + comments + 1) / (age_hours + 2)^1.5.
-- +goose StatementBegin
CREATE FUNCTION hot_score(net integer, comments integer, created timestamptz, at timestamptz)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (net + comments + 1)::double precision
         / power(greatest(extract(epoch FROM (at - created)) / 3600.0, 0) + 2, 1.5)
$$;
-- +goose StatementEnd

-- discussed: every live comment counts, halving in weight every 24 hours, so
-- a post with a lively conversation now beats one that was busy last week.
-- +goose StatementBegin
CREATE FUNCTION discussed_score(post uuid, at timestamptz)
RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(power(0.5, greatest(extract(epoch FROM (at - c.created_at)) / 86400.0, 0))), 0)
    FROM comments c
    WHERE c.post_id = post AND c.deleted_at IS NULL
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION discussed_score(uuid, timestamptz);
DROP FUNCTION hot_score(integer, integer, timestamptz, timestamptz);
