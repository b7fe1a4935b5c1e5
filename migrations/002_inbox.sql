-- Messages from Tox friends on their way to the user's Matrix/XMPP client. Tox has already
-- acknowledged them to the friend, so they are written here first and only deleted once the
-- frontend has taken them: a frontend outage delays them but never loses them.
CREATE TABLE inbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id      bigint NOT NULL CONSTRAINT inbox_account_fkey REFERENCES accounts (id) ON DELETE CASCADE,
  friend_pk       bytea NOT NULL CONSTRAINT inbox_friend_pk_check CHECK (octet_length(friend_pk) = 32),
  kind            text NOT NULL DEFAULT 'normal' CONSTRAINT inbox_kind_check CHECK (kind IN ('normal', 'action')),
  body            text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  -- NULL = as soon as possible (keeps "due" independent of the database clock)
  next_attempt_at timestamptz,
  received_at     timestamptz NOT NULL DEFAULT now()
);
-- Messages of one friend are handed to the frontend in id order.
CREATE INDEX inbox_friend_idx ON inbox (account_id, friend_pk, id);
