-- Samplan's log on PostgreSQL, version 1. Values are the same postcard
-- encodings the sled engine stores; no column holds personal data (citizens
-- are keyed by their HMAC pseudonym, as in sled).

-- One row: the last global position and the head of the audit hash chain.
-- Each round's transaction updates it last and holds its lock until commit,
-- so positions are assigned gap-free in commit order across every hub.
CREATE TABLE head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    position bigint NOT NULL CHECK (position >= 0),
    audit_sequence bigint NOT NULL CHECK (audit_sequence >= 0),
    audit_hash bytea NOT NULL,
    checkpoint bytea NOT NULL
);

-- Every plan's log; the global position orders all of them.
CREATE TABLE events (
    plan_id uuid NOT NULL,
    sequence bigint NOT NULL CHECK (sequence >= 1),
    global_position bigint NOT NULL UNIQUE CHECK (global_position >= 1),
    event bytea NOT NULL,
    PRIMARY KEY (plan_id, sequence)
);

-- Each plan as its log makes it (the projection).
CREATE TABLE plans (
    plan_id uuid PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 1),
    projection bytea NOT NULL
);

-- A citizen's one plan, by pseudonym.
CREATE TABLE citizens (
    pseudonym bytea PRIMARY KEY CHECK (octet_length(pseudonym) = 32),
    plan_id uuid NOT NULL UNIQUE REFERENCES plans (plan_id)
);

-- What each request id answered (idempotency), keyed as in sled.
CREATE TABLE requests (
    key bytea PRIMARY KEY,
    record bytea NOT NULL
);

-- The audit log: one hash chain across all hubs.
CREATE TABLE audit (
    sequence bigint PRIMARY KEY CHECK (sequence >= 1),
    plan_id uuid,
    record bytea NOT NULL
);
CREATE INDEX audit_by_plan ON audit (plan_id, sequence) WHERE plan_id IS NOT NULL;

-- Open rights clocks, the running ones by due day, and per care-team organisation.
CREATE TABLE clocks (
    plan_id uuid NOT NULL REFERENCES plans (plan_id),
    clock integer NOT NULL,
    due_on integer,
    PRIMARY KEY (plan_id, clock)
);
CREATE INDEX clocks_due ON clocks (due_on, plan_id, clock) WHERE due_on IS NOT NULL;
CREATE TABLE clock_members (
    organisation text NOT NULL,
    plan_id uuid NOT NULL,
    clock integer NOT NULL,
    PRIMARY KEY (organisation, plan_id, clock),
    FOREIGN KEY (plan_id, clock) REFERENCES clocks (plan_id, clock) ON DELETE CASCADE
);

-- Events kept for review (emergency grants, a health service's own joins), by position.
CREATE TABLE reviews (
    kind "char" NOT NULL,
    global_position bigint NOT NULL,
    plan_id uuid NOT NULL,
    sequence bigint NOT NULL,
    PRIMARY KEY (kind, global_position),
    FOREIGN KEY (plan_id, sequence) REFERENCES events (plan_id, sequence)
);
