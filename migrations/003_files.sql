-- File transfers between bridged users and their Tox friends (issue 7). The bytes live in the
-- spool directory (`path`); a row says what the file is and how far it got, so a transfer
-- survives a disconnect or a bridge restart and resumes where it stopped.
--   in:  receiving (accepted, bytes arriving; resumable) -> received (complete, waiting for the
--        frontend to take it; retried like the inbox) -> row and file deleted once delivered.
--   out: queued (waiting for the friend to be online) -> sending (offered/being sent) ->
--        row and file deleted once the friend has every byte; back to queued after a disconnect.
CREATE TABLE file_transfers (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id      bigint NOT NULL CONSTRAINT file_transfers_account_fkey REFERENCES accounts (id) ON DELETE CASCADE,
  friend_pk       bytea NOT NULL CONSTRAINT file_transfers_friend_pk_check CHECK (octet_length(friend_pk) = 32),
  direction       text NOT NULL CONSTRAINT file_transfers_direction_check CHECK (direction IN ('in', 'out')),
  state           text NOT NULL
                  CONSTRAINT file_transfers_state_check CHECK (state IN ('receiving', 'received', 'queued', 'sending')),
  -- Tox file id: the same id offered again lets the receiver resume
  file_id         bytea NOT NULL CONSTRAINT file_transfers_file_id_check CHECK (octet_length(file_id) = 32),
  file_name       text NOT NULL,
  size            bigint NOT NULL CONSTRAINT file_transfers_size_check CHECK (size >= 0),
  mime_type       text NOT NULL DEFAULT 'application/octet-stream',
  -- absolute path of the spooled bytes
  path            text NOT NULL,
  -- bytes known to be on disk (in) or sent (out); informational, the file on disk is the truth
  transferred     bigint NOT NULL DEFAULT 0,
  source_network  text CONSTRAINT file_transfers_source_network_check CHECK (source_network IN ('matrix', 'xmpp')),
  source_event_id text,
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  -- NULL = as soon as possible
  next_attempt_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT file_transfers_source_check CHECK ((source_network IS NULL) = (source_event_id IS NULL)),
  CONSTRAINT file_transfers_source_unique UNIQUE (account_id, source_network, source_event_id)
);
CREATE INDEX file_transfers_friend_idx ON file_transfers (account_id, friend_pk, direction, id);
