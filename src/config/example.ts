/**
 * The commented example config written on first start. Tokens and the encryption key are fresh
 * random values, so the file works as-is on the embedded database: an operator only has to
 * point it at their homeserver.
 */
import { randomBytes } from "node:crypto";

/** A URL-safe random token (base64url of `bytes` random bytes). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/**
 * Public Tox bootstrap nodes, the same set c-toxcore's own test-suite bootstraps from (keys
 * checked against TokTok/c-toxcore, 2026). Refresh from https://nodes.tox.chat when they rot.
 */
export const PUBLIC_BOOTSTRAP_NODES: ReadonlyArray<{ host: string; port: number; public_key: string }> = [
  {
    host: "144.217.167.73",
    port: 33445,
    public_key: "7E5668E0EE09E19F320AD47902419331FFEE147BB3606769CFBE921A2A2FD34C",
  },
  {
    host: "205.185.115.131",
    port: 33445,
    public_key: "3091C6BEB2A993F1C6300C16549FABA67098FF3D62C6D253828B531470B53D68",
  },
  {
    host: "tox1.mf-net.eu",
    port: 33445,
    public_key: "B3E5FA80DC8EBD1149AD2AB35ED8B85BD546DEDE261CA593234C619249419506",
  },
  {
    host: "3.0.24.15",
    port: 33445,
    public_key: "E20ABCF38CDBFFD7D04B29C956B33F7B27A3BB7AF0618101617B036E4AEA402D",
  },
  {
    host: "139.162.110.188",
    port: 33445,
    public_key: "F76A11284547163889DDC89A7738CF271797BF5E5E220643E97AD3C7E7903D55",
  },
  {
    host: "172.105.109.31",
    port: 33445,
    public_key: "D46E97CF995DC1820B92B7D899E152A217D36ABE22730FEA4B6BF1BFC06C617C",
  },
];

export interface ExampleSecrets {
  asToken: string;
  hsToken: string;
  encryptionKey: string;
}

/**
 * What the committed config.example.yaml shows instead of secrets. They contain spaces, so a
 * copied example fails validation on exactly these keys until real secrets are filled in.
 */
export const PLACEHOLDER_SECRETS: ExampleSecrets = {
  asToken: "CHANGE ME (tox-bridge start writes a config with random values)",
  hsToken: "CHANGE ME (tox-bridge start writes a config with random values)",
  encryptionKey: "CHANGE ME (e.g. openssl rand -base64 32)",
};

export function randomSecrets(): ExampleSecrets {
  return { asToken: randomToken(), hsToken: randomToken(), encryptionKey: randomToken() };
}

export function exampleConfigYaml(secrets: ExampleSecrets = randomSecrets()): string {
  const nodes = PUBLIC_BOOTSTRAP_NODES.map(
    (n) => `    - { host: ${n.host}, port: ${n.port}, public_key: ${n.public_key} }`,
  ).join("\n");
  return `# toxbridge configuration.
# Generated on first start with fresh random secrets. Edit the homeserver section, then run
#   tox-bridge generate-registration --config config.yaml --file registration.yaml
# and add registration.yaml to your homeserver (see README.md).
# Secrets can also come from the environment: TOXBRIDGE_AS_TOKEN, TOXBRIDGE_HS_TOKEN,
# TOXBRIDGE_ENCRYPTION_KEY, TOXBRIDGE_DATABASE_URL, TOXBRIDGE_XMPP_SECRET (these win over the file).

homeserver:
  # Where the bridge reaches the homeserver's client-server API.
  url: http://localhost:8008
  # The server name: the part after the colon in @alice:example.org.
  domain: localhost

appservice:
  # Run the Matrix side (bot, ghosts, portals). Turn it on once registration.yaml is added to
  # your homeserver: at start the bridge checks that the homeserver answers and knows its token.
  enabled: false
  # The URL the homeserver uses to reach this bridge (goes into registration.yaml).
  address: http://localhost:29333
  # Where the bridge listens: appservice transactions, /health and /metrics share this port.
  hostname: 127.0.0.1
  port: 29333
  # Appservice id and tokens; generate-registration copies them into registration.yaml.
  id: toxbridge
  as_token: ${secrets.asToken}
  hs_token: ${secrets.hsToken}
  # The bridge bot is @toxbot:<domain>; Tox contacts appear as @_tox_...:<domain> users.
  bot_username: toxbot
  user_prefix: _tox_
  # Provisioning API (status, create, friends, add friend) under /_toxbridge/provision/v1 for
  # integration managers; off unless a bearer secret is set here.
  # provisioning_secret: a-long-random-secret

matrix:
  # Your Matrix presence colours your Tox identity, which stays online all the time: online ->
  # online, idle or offline -> away; your Matrix status message becomes the Tox one. What you set
  # with the bot's \`presence\` and \`status\` commands wins.
  presence_to_tox: true
  # With the homeserver's shared-secret login module (matrix-synapse-shared-secret-auth) the
  # bridge also lists each Tox DM under "direct messages" in your own account data (m.direct).
  # Users of other homeservers are skipped. Off unless set.
  # login_shared_secret: the-module-shared-secret

xmpp:
  # Run the XMPP gateway as an external component (XEP-0114) of your XMPP server.
  enabled: false
  component_jid: tox.localhost
  server_host: 127.0.0.1
  server_port: 5347
  # The component secret configured on the XMPP server (or TOXBRIDGE_XMPP_SECRET).
  # secret: change-me

database:
  # PostgreSQL URL, e.g. postgresql://toxbridge:password@localhost/toxbridge.
  # Leave it out to use the embedded database (PGlite) in data_dir.
  # url: postgresql://toxbridge:password@localhost/toxbridge
  # Relative paths are relative to this file's directory.
  data_dir: ./data
  pool_size: 10

bridge:
  # Encrypts Tox secret keys at rest. Keep it safe and never change it: without it the stored
  # Tox identities cannot be decrypted.
  encryption_key: ${secrets.encryptionKey}
  # Who may use the bridge: "*", a domain, a Matrix user id or a JID -> user | admin.
  permissions:
    "localhost": user
    "@admin:localhost": admin
  # Tox clients show plain text only: render edits, replies and reactions as readable text.
  degrade_rich_messages: true

files:
  # Where files wait on their way between Tox and Matrix/XMPP; partial transfers resume from
  # here after a restart, so keep it on persistent storage. Default: "files" in data_dir.
  # spool_dir: ./data/files
  # Largest file the bridge relays in either direction (bytes, or e.g. "100 MiB"). Replaces
  # bridge.max_file_size, which is still read (with a warning) when this is not set.
  max_size: 100 MiB

tox:
  # Nodes used to join the Tox network (from https://nodes.tox.chat).
  bootstrap_nodes:
${nodes}
  # TCP relays for identities that cannot use UDP; same format as bootstrap_nodes.
  tcp_relays: []
  udp_enabled: true
  # separate: every identity is a full Tox node (own DHT routing and onion paths), as if each
  #   user ran their own client; identities cannot be linked by their traffic.
  # shared: one routing node and one set of onion paths serve all identities (each keeps its
  #   own port, keys and connections): about N times less traffic and CPU for N identities,
  #   but whoever watches that node or the paths can tell which identities this bridge hosts.
  routing: separate
  # UDP ports the bridge binds for Tox (one per identity, plus one for shared routing).
  port_range:
    start: 33445
    end: 33545

logging:
  # fatal, error, warn, info, debug, trace or silent. JSON lines unless pretty is true
  # (pretty needs the optional pino-pretty package).
  level: info
  pretty: false

metrics:
  # Prometheus metrics on GET /metrics of the appservice port.
  enabled: true
`;
}

/** The committed config.example.yaml: the same template with placeholder secrets. */
export function configExampleFile(): string {
  const header =
    "# EXAMPLE: the secrets below are placeholders and fail validation on purpose.\n" +
    "# Easier: run `tox-bridge start` (or `npm start`) once; it writes config.yaml with random secrets.\n";
  return (
    header +
    exampleConfigYaml(PLACEHOLDER_SECRETS).replace(
      "# Generated on first start with fresh random secrets. ",
      "# ",
    )
  );
}
