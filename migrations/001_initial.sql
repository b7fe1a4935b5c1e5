-- toxbridge initial schema.
-- Applied inside one transaction by src/store/migrate.ts; never edit after release (the runner
-- refuses to start when an applied file's checksum changes): add a new NNN_name.sql instead.

-- One Tox identity per bridged user. The Tox secret key is sealed with secretbox under a key
-- derived from the config's store encryption key; the public key is kept in clear for lookups.
CREATE TABLE accounts (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_kind        text NOT NULL CONSTRAINT accounts_owner_kind_check CHECK (owner_kind IN ('matrix', 'xmpp')),
  owner_id          text NOT NULL CONSTRAINT accounts_owner_id_check CHECK (owner_id <> ''),
  public_key        bytea NOT NULL CONSTRAINT accounts_public_key_check CHECK (octet_length(public_key) = 32),
  secret_key_nonce  bytea NOT NULL CONSTRAINT accounts_secret_key_nonce_check CHECK (octet_length(secret_key_nonce) = 24),
  -- 16-byte MAC + 32-byte key
  secret_key_sealed bytea NOT NULL CONSTRAINT accounts_secret_key_sealed_check CHECK (octet_length(secret_key_sealed) = 48),
  nospam            bigint NOT NULL CONSTRAINT accounts_nospam_check CHECK (nospam BETWEEN 0 AND 4294967295),
  name              text NOT NULL DEFAULT '',
  status_message    text NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accounts_owner_unique UNIQUE (owner_kind, owner_id),
  CONSTRAINT accounts_public_key_unique UNIQUE (public_key)
);

-- Tox friends of each account, including requests not yet accepted either way.
CREATE TABLE friends (
  account_id      bigint NOT NULL CONSTRAINT friends_account_fkey REFERENCES accounts (id) ON DELETE CASCADE,
  public_key      bytea NOT NULL CONSTRAINT friends_public_key_check CHECK (octet_length(public_key) = 32),
  -- full Tox address (pk + nospam + checksum) when we added them by address
  address         bytea CONSTRAINT friends_address_check CHECK (address IS NULL OR octet_length(address) = 38),
  request_state   text NOT NULL
                  CONSTRAINT friends_request_state_check CHECK (request_state IN ('pending_in', 'pending_out', 'accepted')),
  request_message text NOT NULL DEFAULT '',
  name            text NOT NULL DEFAULT '',
  status_message  text NOT NULL DEFAULT '',
  last_seen_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT friends_pkey PRIMARY KEY (account_id, public_key)
);

-- A Matrix room or XMPP JID standing for one Tox friend or conference of an account.
-- Unique both ways: a room is one portal, and a target has at most one portal per network.
CREATE TABLE portals (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL CONSTRAINT portals_account_fkey REFERENCES accounts (id) ON DELETE CASCADE,
  kind       text NOT NULL CONSTRAINT portals_kind_check CHECK (kind IN ('friend', 'conference')),
  -- friend public key or conference id
  target_key bytea NOT NULL CONSTRAINT portals_target_key_check CHECK (octet_length(target_key) = 32),
  network    text NOT NULL CONSTRAINT portals_network_check CHECK (network IN ('matrix', 'xmpp')),
  remote_id  text NOT NULL CONSTRAINT portals_remote_id_check CHECK (remote_id <> ''),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT portals_remote_unique UNIQUE (network, remote_id),
  CONSTRAINT portals_target_unique UNIQUE (account_id, kind, target_key, network)
);

-- Messages to Tox friends, persisted before the sender is acknowledged and kept until the
-- friend's read receipt arrives. Messages to one friend go out in id order.
CREATE TABLE outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id      bigint NOT NULL,
  friend_pk       bytea NOT NULL,
  kind            text NOT NULL DEFAULT 'normal' CONSTRAINT outbox_kind_check CHECK (kind IN ('normal', 'action')),
  body            text NOT NULL CONSTRAINT outbox_body_check CHECK (body <> ''),
  source_network  text CONSTRAINT outbox_source_network_check CHECK (source_network IN ('matrix', 'xmpp')),
  source_event_id text,
  -- index of this piece when one source event was split into several Tox messages
  part            integer NOT NULL DEFAULT 0 CONSTRAINT outbox_part_check CHECK (part >= 0),
  state           text NOT NULL DEFAULT 'queued'
                  CONSTRAINT outbox_state_check CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  tox_message_id  bigint CONSTRAINT outbox_tox_message_id_check CHECK (tox_message_id BETWEEN 0 AND 4294967295),
  last_error      text,
  -- NULL = as soon as possible (keeps "due" independent of the database clock)
  next_attempt_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- an event id means nothing without its network (idempotency relies on both being set)
  CONSTRAINT outbox_source_check CHECK ((source_network IS NULL) = (source_event_id IS NULL)),
  CONSTRAINT outbox_friend_fkey FOREIGN KEY (account_id, friend_pk)
    REFERENCES friends (account_id, public_key) ON DELETE CASCADE,
  -- idempotent enqueue: redelivered source events map to the same rows (NULL ids never clash)
  CONSTRAINT outbox_source_unique UNIQUE (account_id, friend_pk, source_network, source_event_id, part)
);
CREATE INDEX outbox_queued_idx ON outbox (account_id, friend_pk, id) WHERE state = 'queued';
CREATE INDEX outbox_sending_idx ON outbox (account_id, friend_pk, tox_message_id) WHERE state = 'sending';
CREATE INDEX outbox_finished_idx ON outbox (updated_at) WHERE state IN ('sent', 'delivered', 'failed');

-- Matrix/XMPP event ids already handled, so redelivered transactions and stanzas are ignored.
CREATE TABLE processed_events (
  network      text NOT NULL CONSTRAINT processed_events_network_check CHECK (network IN ('matrix', 'xmpp')),
  event_id     text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT processed_events_pkey PRIMARY KEY (network, event_id)
);
CREATE INDEX processed_events_age_idx ON processed_events (processed_at);

-- Bridge-wide key/value state (DHT node cache, key check, counters).
CREATE TABLE bridge_state (
  key        text PRIMARY KEY,
  value      jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
