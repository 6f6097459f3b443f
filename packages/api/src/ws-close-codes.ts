/**
 * WebSocket close codes the server sends, in one place for the server, the typed client and the
 * SPA (browser-safe: no imports).
 */

/** The credential behind this socket (a session or an API key) was revoked, expired or rolled: do not reconnect with it. */
export const WS_CLOSE_REVOKED = 4001;

/**
 * The API key still works but its owner's role no longer grants some of what the socket was opened
 * with: reconnect, and each subscription is authorised afresh against the narrower rights.
 */
export const WS_CLOSE_RIGHTS_CHANGED = 4003;
