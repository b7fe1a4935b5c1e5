-- Tox conferences (old group chats) of each account (issue 8).
-- The Tox layer restores a conference from its save-file record (message numbers included), but
-- the bridge keeps no save files: `snapshot` is that record, refreshed while the bridge runs, so
-- the identity rejoins after a restart with message numbers that keep rising.
CREATE TABLE conferences (
  account_id    bigint NOT NULL CONSTRAINT conferences_account_fkey REFERENCES accounts (id) ON DELETE CASCADE,
  conference_id bytea NOT NULL CONSTRAINT conferences_conference_id_check CHECK (octet_length(conference_id) = 32),
  type          text NOT NULL DEFAULT 'text' CONSTRAINT conferences_type_check CHECK (type IN ('text', 'av')),
  title         text NOT NULL DEFAULT '',
  -- false from accepting an invite until the peer list arrived (then the snapshot exists)
  joined        boolean NOT NULL DEFAULT false,
  snapshot      jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT conferences_pkey PRIMARY KEY (account_id, conference_id)
);
-- "which accounts are in conference X" (one room per conference id is shared by its members)
CREATE INDEX conferences_conference_idx ON conferences (conference_id);

-- Invites to send once the friend is online (Tox only invites online friends; a bridged account
-- befriended for the invite needs a few seconds to connect).
CREATE TABLE conference_invites (
  account_id    bigint NOT NULL,
  conference_id bytea NOT NULL,
  friend_pk     bytea NOT NULL CONSTRAINT conference_invites_friend_pk_check CHECK (octet_length(friend_pk) = 32),
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT conference_invites_pkey PRIMARY KEY (account_id, conference_id, friend_pk),
  CONSTRAINT conference_invites_conference_fkey FOREIGN KEY (account_id, conference_id)
    REFERENCES conferences (account_id, conference_id) ON DELETE CASCADE
);

-- Messages from Matrix/XMPP users to a conference, persisted before the source is acknowledged
-- and kept while no other member is reachable. Conferences have no read receipts: a message is
-- done ('sent') once Tox put it on a live connection.
CREATE TABLE conference_outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id      bigint NOT NULL,
  conference_id   bytea NOT NULL,
  kind            text NOT NULL DEFAULT 'normal' CONSTRAINT conference_outbox_kind_check CHECK (kind IN ('normal', 'action')),
  body            text NOT NULL CONSTRAINT conference_outbox_body_check CHECK (body <> ''),
  source_network  text CONSTRAINT conference_outbox_source_network_check CHECK (source_network IN ('matrix', 'xmpp')),
  source_event_id text,
  state           text NOT NULL DEFAULT 'queued'
                  CONSTRAINT conference_outbox_state_check CHECK (state IN ('queued', 'sent', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT conference_outbox_source_check CHECK ((source_network IS NULL) = (source_event_id IS NULL)),
  CONSTRAINT conference_outbox_conference_fkey FOREIGN KEY (account_id, conference_id)
    REFERENCES conferences (account_id, conference_id) ON DELETE CASCADE,
  CONSTRAINT conference_outbox_source_unique UNIQUE (account_id, conference_id, source_network, source_event_id)
);
CREATE INDEX conference_outbox_queued_idx ON conference_outbox (account_id, conference_id, id) WHERE state = 'queued';
CREATE INDEX conference_outbox_finished_idx ON conference_outbox (updated_at) WHERE state IN ('sent', 'failed');

-- Conference messages from Tox peers on their way to the user's frontend (like `inbox`).
CREATE TABLE conference_inbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id      bigint NOT NULL,
  conference_id   bytea NOT NULL,
  peer_pk         bytea NOT NULL CONSTRAINT conference_inbox_peer_pk_check CHECK (octet_length(peer_pk) = 32),
  peer_name       text NOT NULL DEFAULT '',
  kind            text NOT NULL DEFAULT 'normal' CONSTRAINT conference_inbox_kind_check CHECK (kind IN ('normal', 'action')),
  body            text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at timestamptz,
  received_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT conference_inbox_conference_fkey FOREIGN KEY (account_id, conference_id)
    REFERENCES conferences (account_id, conference_id) ON DELETE CASCADE
);
CREATE INDEX conference_inbox_conference_idx ON conference_inbox (account_id, conference_id, id);
