-- A tenant's own timeline no longer has an entry per event (as many as all
-- the entities' entries together): the indexer keeps, per tenant and block
-- of sequence numbers, the span of its events' times, and searches without
-- an entity read the blocks that can hold what they look for
-- (sqlstore/timeline.go). The existing entries cannot tell a tenant's from
-- an entity's, so the timeline is built again in the background; searches
-- are complete meanwhile (they scan what the mark has not reached).
CREATE TABLE timeline_blocks (
	tkey  BIGINT NOT NULL, -- the tenant: a 64-bit hash, as ekey
	block BIGINT NOT NULL, -- seq / the block's size
	tmin  BIGINT NOT NULL,
	tmax  BIGINT NOT NULL,
	PRIMARY KEY (tkey, block)
);
CREATE INDEX timeline_blocks_tmax ON timeline_blocks (tkey, tmax);
CREATE INDEX timeline_blocks_tmin ON timeline_blocks (tkey, tmin);
TRUNCATE timeline;
UPDATE timeline_mark SET value = 0 WHERE name = 'seq';
