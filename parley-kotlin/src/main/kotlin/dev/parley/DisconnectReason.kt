package dev.parley

import dev.parley.internal.defaultRecovery
import dev.parley.internal.explanation
import dev.parley.internal.parseRetryAfter
import kotlin.time.Duration

/**
 * Why a connection ended, or why an attempt to open one failed.
 *
 * Every transition to [ConnectionState.Disconnected] carries one, and [ParleyHandler.onDisconnect] receives it.
 * [explain] says in one line what happened; [recovery] says whether reconnecting can help.
 */
public sealed class DisconnectReason {
    /**
     * Parley's built-in verdict on whether another attempt can succeed; [ParleyOptions.recoveryPolicy] may decide
     * otherwise, and it is what the client follows. Fatal are only the reasons bound to repeat for the same request:
     * - [HandshakeRejected] with any status but 408, 429 and 5xx: 401, 403, 404, a redirect, a 200 from a plain web
     *   page, and a 101 that breaks RFC 6455. 408, 429 and 5xx are recoverable, not before the server's `Retry-After`
     *   ([HandshakeRejected.retryAfter]).
     * - [ConnectFailed] because the server's certificate did not verify (untrusted, expired, another host's) or a
     *   proxy refused our credentials ([ProxyAuthRequiredException], [SocksAuthFailedException]), would accept none we
     *   have ([SocksNoAcceptableMethodException]), or refused the tunnel with a 4xx other than 408 and 429.
     *
     * Everything else is [Recovery.Recoverable]: closes by either side, timeouts, dropped and broken connections, a
     * peer that broke the protocol (a restarting server may; the backoff and [ReconnectPolicy.maxRetries] bound a
     * buggy one), DNS and TCP failures, and a failing [ParleyOptions.connectionInfo] provider.
     */
    public val recovery: Recovery get() = defaultRecovery(this)

    /**
     * What happened, in one line for people: `"the server did not accept the credentials (HTTP 401 Unauthorized)"`,
     * `"the server closed the connection with code 1001 (going away)"`. For logs and user interfaces; the wording may
     * change between versions, so match on the type and its properties, not on this text.
     */
    public fun explain(): String = explanation(this)

    /**
     * [ParleyClient.disconnect] closed the connection (or cancelled an attempt still connecting).
     *
     * @property code the close code we sent.
     * @property reason the close reason we sent.
     * @property acknowledged whether the peer answered our close frame within the close timeout; `false` means the
     *   socket was aborted, or that no close frame was sent because the upgrade had not completed.
     * @property peerCode the code in the peer's answering close frame (1005 if it carried none), or `null` if it
     *   never answered.
     * @property peerReason the reason in the peer's answering close frame, or `null` if it never answered.
     */
    public data class ClosedLocally(
        val code: Int,
        val reason: String,
        val acknowledged: Boolean,
        val peerCode: Int? = null,
        val peerReason: String? = null,
    ) : DisconnectReason()

    /**
     * The peer sent a close frame. Parley answered it with the same code.
     *
     * @property code the peer's close code; 1005 ([CloseCodes.NO_STATUS]) when its close frame had no payload.
     * @property reason the peer's close reason, possibly empty.
     */
    public data class ClosedByPeer(
        val code: Int,
        val reason: String,
    ) : DisconnectReason()

    /**
     * A handler returned [HandlerAction.Disconnect]; [reason] is the value it gave, which stays local.
     *
     * @property closeCode the close code sent to the peer.
     * @property acknowledged whether the peer answered our close frame within the close timeout.
     * @property peerCode the code in the peer's answering close frame, or `null` if it never answered.
     * @property peerReason the reason in the peer's answering close frame, or `null` if it never answered.
     */
    public data class ByHandler(
        val reason: Any?,
        val closeCode: Int,
        val acknowledged: Boolean,
        val peerCode: Int? = null,
        val peerReason: String? = null,
    ) : DisconnectReason()

    /**
     * The TCP connection, DNS lookup, proxy tunnel or TLS handshake failed before any HTTP response arrived.
     *
     * @property cause what failed, e.g. `java.net.ConnectException` for a refused connection, a [ProxyException]
     *   (such as [ProxyAuthRequiredException]) when a proxy refused, `javax.net.ssl.SSLHandshakeException` for an
     *   untrusted certificate or a host name it does not match.
     */
    public data class ConnectFailed(
        val cause: Throwable,
    ) : DisconnectReason()

    /**
     * The [ParleyOptions.connectionInfo] provider failed for this attempt, or gave info that is not valid (a URL that
     * is not `ws://` or `wss://`, a header Parley sets itself); nothing was dialled.
     *
     * @property cause what the provider threw, or the [IllegalArgumentException] that names what was invalid.
     */
    public data class ConnectionInfoFailed(
        val cause: Throwable,
    ) : DisconnectReason()

    /**
     * The server answered the upgrade request with something other than `101 Switching Protocols`, or with a 101 that
     * breaks RFC 6455 (a wrong `Sec-WebSocket-Accept`, a subprotocol we did not offer).
     *
     * @property status the HTTP status code.
     * @property headers the response headers, lower-cased names, with secrets redacted.
     * @property message what was wrong, for logs.
     */
    public data class HandshakeRejected(
        val status: Int,
        val headers: Map<String, List<String>>,
        val message: String,
    ) : DisconnectReason() {
        /**
         * How long the server asked us to wait before trying again (its `Retry-After`, in seconds or as an HTTP date
         * read against its own `Date` header), at most one hour; `null` when it did not say. A 429 or 503 usually
         * carries one; the client does not reconnect sooner (see [Recovery.Recoverable.retryAfter]).
         */
        public val retryAfter: Duration? get() = parseRetryAfter(headers)
    }

    /**
     * DNS, TCP, TLS and the upgrade together took longer than [ParleyOptions.connectTimeout].
     *
     * @property timeout the limit that was exceeded.
     */
    public data class ConnectTimedOut(
        val timeout: Duration,
    ) : DisconnectReason()

    /**
     * The peer broke RFC 6455 or sent text that is not UTF-8; Parley closed with [closeCode] (1002, 1007 or 1009).
     *
     * @property closeCode the close code Parley sent: [CloseCodes.PROTOCOL_ERROR], [CloseCodes.INVALID_PAYLOAD] or
     *   [CloseCodes.MESSAGE_TOO_BIG].
     * @property message what the peer did wrong.
     */
    public data class ProtocolViolation(
        val closeCode: Int,
        val message: String,
    ) : DisconnectReason()

    /**
     * An inbound message was larger than [ParleyOptions.maxFrameSize]; Parley closed with 1009.
     *
     * @property limit the configured limit in bytes.
     */
    public data class MessageTooBig(
        val limit: Long,
    ) : DisconnectReason()

    /**
     * The heartbeat pinged and neither the matching pong nor any other frame arrived within [pongTimeout]: the link is
     * presumed dead (a silent peer, a half-open TCP connection, a NAT that forgot the flow), so the socket was aborted
     * without a close handshake.
     *
     * @property pongTimeout the limit that was exceeded ([HeartbeatPolicy.pongTimeout]).
     */
    public data class HeartbeatTimedOut(
        val pongTimeout: Duration,
    ) : DisconnectReason()

    /**
     * Nothing could be written for [timeout] ([ParleyOptions.writeTimeout]): the socket's send buffer stayed full,
     * because the peer stopped reading or the network stopped carrying. The link is presumed dead and the socket was
     * aborted without a close handshake; frames still queued fail with [ConnectionClosedException].
     *
     * @property timeout the limit that was exceeded.
     */
    public data class WriteTimedOut(
        val timeout: Duration,
    ) : DisconnectReason()

    /**
     * The connection broke: the peer dropped TCP without a close frame, or a read or write failed.
     *
     * @property cause the failure as the transport reported it; for an abrupt end of stream an `java.io.EOFException`.
     */
    public data class TransportFailed(
        val cause: Throwable,
    ) : DisconnectReason()
}

/** Why a client reached the terminal [ConnectionState.Stopped]. */
public sealed class StopReason {
    /** [ParleyClient.stop] was called. */
    public object Requested : StopReason() {
        override fun toString(): String = "Requested"
    }

    /** [ParleyClient.cancel] was called: the socket was dropped without a close frame. */
    public object Aborted : StopReason() {
        override fun toString(): String = "Aborted"
    }

    /**
     * A handler returned [HandlerAction.Stop], [DisconnectDecision.Stop] or [InitResult.Stop].
     *
     * @property reason the value the handler gave.
     */
    public data class ByHandler(
        val reason: Any?,
    ) : StopReason()

    /**
     * Reconnection gave up after [attempts] attempts, the configured [ReconnectPolicy.maxRetries].
     *
     * @property last the reason the last attempt failed.
     */
    public data class RetriesExhausted(
        val attempts: Int,
        val last: DisconnectReason,
    ) : StopReason()

    /**
     * A handler callback threw; the client stopped rather than run on with a state it cannot trust.
     *
     * @property cause what the handler threw.
     */
    public data class HandlerFailed(
        val cause: Throwable,
    ) : StopReason()

    /**
     * The coroutine scope the client was linked to was cancelled.
     *
     * @property cause the cancellation.
     */
    public data class Cancelled(
        val cause: Throwable?,
    ) : StopReason()

    /**
     * The client itself failed: its own code, or its transport, threw something it does not expect (a bug, or an
     * `Error` such as `OutOfMemoryError`). It released what it could and stopped rather than run on in a state it
     * cannot trust; a linked scope fails with the same [cause].
     *
     * @property cause what was thrown.
     */
    public data class Failed(
        val cause: Throwable,
    ) : StopReason()
}

/** Close codes from RFC 6455 §7.4.1 that Parley sends or reports. */
public object CloseCodes {
    /** The purpose of the connection has been fulfilled. */
    public const val NORMAL: Int = 1000

    /** The endpoint is going away (server shutdown, client stopping). */
    public const val GOING_AWAY: Int = 1001

    /** The peer broke the protocol. */
    public const val PROTOCOL_ERROR: Int = 1002

    /** The peer sent a data type we cannot accept. */
    public const val UNSUPPORTED_DATA: Int = 1003

    /** Reported (never sent) when a close frame carried no status code. */
    public const val NO_STATUS: Int = 1005

    /** Reported (never sent) when the connection ended without a close frame. */
    public const val ABNORMAL: Int = 1006

    /** A text message was not valid UTF-8. */
    public const val INVALID_PAYLOAD: Int = 1007

    /** A message violated the endpoint's policy. */
    public const val POLICY_VIOLATION: Int = 1008

    /** A message was larger than the endpoint accepts. */
    public const val MESSAGE_TOO_BIG: Int = 1009

    /** The endpoint hit an unexpected condition. */
    public const val INTERNAL_ERROR: Int = 1011

    /**
     * Whether [code] may appear in a close frame: 1000–1003, 1007–1014 (the IANA-registered ones) and 3000–4999.
     * 1004, 1005, 1006 and 1015 are reserved and never appear on the wire; a peer that sends one breaks the protocol.
     */
    public fun isSendable(code: Int): Boolean = code in 1000..1003 || code in 1007..1014 || code in 3000..4999
}
