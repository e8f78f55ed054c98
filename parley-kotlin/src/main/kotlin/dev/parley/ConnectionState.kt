package dev.parley

import kotlin.time.Duration

/**
 * Where a client is in its life, published by [ParleyClient.state].
 *
 * | state          | `send` does                          | retry pending?         | terminal? |
 * |----------------|--------------------------------------|------------------------|-----------|
 * | [Disconnected] | fails with [NotConnectedException]   | when [Disconnected.nextAttemptIn] is set | no |
 * | [Connecting]   | queues, delivered after the upgrade  | no                     | no        |
 * | [Connected]    | writes, in order                     | no                     | no        |
 * | [Stopped]      | fails with [ClientStoppedException]  | no                     | yes       |
 *
 * ```
 *   start ──► Connecting ──upgrade──► Connected
 *                 ▲   │                  │
 *    retry/connect│   │failure/timeout   │close, drop, error, disconnect()
 *                 │   ▼                  ▼
 *               Disconnected ◄───────────┘        any state ──stop()──► Stopped
 * ```
 *
 * While the close handshake runs (after [ParleyClient.disconnect] or a handler's Disconnect, until the peer answers or
 * the close timeout passes) the state stays [Connected]: messages the peer sends meanwhile still reach the handler,
 * but frames sent then fail with [ConnectionClosedException], since nothing may follow our close frame.
 *
 * A `StateFlow` conflates: a slow collector may skip intermediate states. Values compare by content.
 */
public sealed class ConnectionState {
    /**
     * No connection. [reason] says why.
     *
     * @property reason why the last connection or attempt ended (`null` only if none has ended yet).
     * @property nextAttemptIn the backoff delay before the next automatic attempt, or `null` if none is scheduled.
     * @property failedAttempts consecutive reconnect attempts since the last stable connection.
     * @property awaitingDecision `true` while [ParleyHandler.onDisconnect] has not answered yet, so whether a retry
     *   comes is not known; once `false`, a `null` [nextAttemptIn] means the client stays down until
     *   [ParleyClient.connect].
     */
    public data class Disconnected(
        val reason: DisconnectReason?,
        val nextAttemptIn: Duration?,
        val failedAttempts: Int,
        val awaitingDecision: Boolean = false,
    ) : ConnectionState()

    /**
     * Opening a connection: DNS, TCP, TLS and the HTTP upgrade. Frames sent now are queued.
     *
     * @property attempt 0 for a first or requested connect, n for the n-th automatic reconnect in a row.
     */
    public data class Connecting(
        val attempt: Int,
    ) : ConnectionState()

    /**
     * The upgrade completed; frames flow both ways.
     *
     * @property subprotocol the subprotocol the server selected, or `null`.
     * @property responseHeaders the upgrade response headers, lower-cased names, with secrets redacted.
     * @property connection the number of this connection: 1 for the client's first, counting every reconnect; the
     *   same number appears in [ParleyEvent.Connected], [ParleyMetrics.connection] and log lines (`[name#n]`).
     */
    public data class Connected(
        val subprotocol: String?,
        val responseHeaders: Map<String, List<String>>,
        val connection: Long = 0,
    ) : ConnectionState()

    /**
     * Terminal: the client's coroutine has ended and its socket is released. No further handler call is made.
     *
     * @property reason why it stopped.
     */
    public data class Stopped(
        val reason: StopReason,
    ) : ConnectionState()
}
