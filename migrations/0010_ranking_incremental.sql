-- +goose Up
-- The periodic ranking recompute (store.RecomputeRankings) becomes
-- incremental: it reads and rewrites only the posts whose hot score drifted
-- past a small relative tolerance, or whose counters changed since they were
-- scored; the discussed order needs no periodic rewrite at all. README.md
-- ("Feeds, rankings and paging") states the bound.

-- The same two formulas as 0005, computed in double precision. In 0005,
-- extract() returns numeric, so power() ran in arbitrary-precision numeric
-- arithmetic: about 20 µs a call, most of a recompute's time (1M posts took
-- seconds of CPU for the hot score alone, far more for discussed). The
-- values agree with the numeric ones to within 1e-15.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION hot_score(net integer, comments integer, created timestamptz, at timestamptz)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (net + comments + 1)::double precision
         / power(greatest(date_part('epoch', at - created) / 3600.0::double precision, 0) + 2, 1.5::double precision)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION discussed_score(post uuid, at timestamptz)
RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(power(0.5::double precision,
               greatest(date_part('epoch', at - c.created_at) / 86400.0::double precision, 0))), 0)
    FROM comments c
    WHERE c.post_id = post AND c.deleted_at IS NULL
$$;
-- +goose StatementEnd

-- What the stored scores were computed from: hot_basis is score +
-- comment_count, discussed_count is comment_count, at the last rescoring.
-- A vote or comment changes the counters in its own transaction, so a row
-- whose counters differ from these is "dirty" (posts_rank_dirty_idx): the
-- periodic recompute finds it even if the per-post rescoring task was lost.
-- New posts start clean (0 = 0). Constant defaults: no table rewrite; rows
-- with votes or comments start dirty and are rescored by the first run.
ALTER TABLE posts
    ADD COLUMN hot_basis       integer NOT NULL DEFAULT 0,
    ADD COLUMN discussed_count integer NOT NULL DEFAULT 0;
CREATE INDEX posts_rank_dirty_idx ON posts (id)
    WHERE deleted_at IS NULL AND (score + comment_count <> hot_basis OR comment_count <> discussed_count);

-- discussed_score now holds a time-invariant key instead of the decaying
-- score: log2 of the score as of 1970, i.e. log2(sum of 2^(days since 1970
-- of each live comment)). The score at any time t is 2^(key - days(t)), and
-- since every comment's weight halves at the same rate, the order of two
-- posts by key is their order by score at every instant. So the discussed
-- order never needs a periodic rewrite: it changes only when a comment is
-- added or removed, and then the row is dirty. Computed as max + log2(sum
-- 2^(d - max)) so that 2^d (d ~ 20,000) never overflows. 0 = no comments.
-- +goose StatementBegin
CREATE FUNCTION discussed_key(post uuid)
RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(max(d.m) + ln(sum(power(2::double precision, d.day - d.m))) / ln(2::double precision), 0)
    FROM (SELECT date_part('epoch', c.created_at - 'epoch'::timestamptz) / 86400 AS day,
                 max(date_part('epoch', c.created_at - 'epoch'::timestamptz) / 86400) OVER () AS m
          FROM comments c
          WHERE c.post_id = post AND c.deleted_at IS NULL) d
$$;
-- +goose StatementEnd

-- When a post's stored hot score is next due for rescoring, in seconds
-- since 1970, derived from the row so that no writer has to keep a due
-- time in step: a score stored as N / (a+2)^1.5, N = hot_basis + 1, was
-- exact at age a = (N / stored)^(2/3) - 2 hours, and it is more than 1 %
-- (store.RankingTolerance) above the exact value once the age passes
-- (N * 1.01 / stored)^(2/3) - 2 hours. A post not due again before it is a
-- week old (store.RankingWindow) is never due: its score stays, as before
-- this migration, until a vote or comment makes it dirty. A score that
-- cannot be right (0, or of the wrong sign: never computed) is due at once.
-- posts_hot_due_idx lets the recompute read only the due rows instead of
-- every post of the week. (created - 'epoch') and date_part of an interval
-- are immutable, as an index expression must be; the epoch of a
-- timestamptz is not marked so.
-- +goose StatementBegin
CREATE FUNCTION hot_due(basis integer, hot double precision, created timestamptz)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN basis + 1 = 0 THEN
            CASE WHEN hot = 0 THEN 'infinity'::double precision ELSE '-infinity' END
        WHEN hot = 0 OR (hot > 0) <> (basis + 1 > 0) THEN '-infinity'
        WHEN power((basis + 1) * 1.01::double precision / hot, 2::double precision / 3) - 2 > 168
            THEN 'infinity'
        ELSE date_part('epoch', created - 'epoch'::timestamptz)
            + 3600 * (power((basis + 1) * 1.01::double precision / hot, 2::double precision / 3) - 2)
    END
$$;
-- +goose StatementEnd
CREATE INDEX posts_hot_due_idx ON posts (hot_due(hot_basis, hot_score, created_at))
    WHERE deleted_at IS NULL;

-- +goose Down
DROP INDEX posts_hot_due_idx;
DROP INDEX posts_rank_dirty_idx;
DROP FUNCTION hot_due(integer, double precision, timestamptz);
DROP FUNCTION discussed_key(uuid);
ALTER TABLE posts DROP COLUMN hot_basis, DROP COLUMN discussed_count;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION hot_score(net integer, comments integer, created timestamptz, at timestamptz)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (net + comments + 1)::double precision
         / power(greatest(extract(epoch FROM (at - created)) / 3600.0, 0) + 2, 1.5)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION discussed_score(post uuid, at timestamptz)
RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(power(0.5, greatest(extract(epoch FROM (at - c.created_at)) / 86400.0, 0))), 0)
    FROM comments c
    WHERE c.post_id = post AND c.deleted_at IS NULL
$$;
-- +goose StatementEnd

-- The stored discussed keys mean nothing to 0005's code: back to scores.
UPDATE posts SET discussed_score = discussed_score(id, now()) WHERE discussed_score <> 0;
