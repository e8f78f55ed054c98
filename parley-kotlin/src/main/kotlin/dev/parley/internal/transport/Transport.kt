package dev.parley.internal.transport

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import java.io.IOException
import java.net.URI

/*
 * The seam between the state machine and the network. The machine sees every frame the peer sends, control frames
 * included, because it owns pings, pongs and the close handshake; a transport only moves frames. One implementation
 * speaks Ktor (KtorTransport); tests plug in fakes.
 */

/** RFC 6455 opcodes. A transport reports a continuation frame as [CONTINUATION], never as its message's type. */
internal enum class Opcode(
    val code: Int,
) {
    CONTINUATION(0x0),
    TEXT(0x1),
    BINARY(0x2),
    CLOSE(0x8),
    PING(0x9),
    PONG(0xA),
    ;

    val isControl: Boolean get() = code >= 0x8
}

/** One frame as it crosses the wire, unmasked. [rsv] holds the three reserved bits (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
internal class WireFrame(
    val opcode: Opcode,
    val payload: ByteArray,
    val fin: Boolean = true,
    val rsv: Int = 0,
) {
    override fun toString(): String = "WireFrame($opcode, ${payload.size} bytes, fin=$fin, rsv=$rsv)"
}

/** What a transport needs to open a connection; the loop bounds the whole call with the connect timeout. */
internal class OpenRequest(
    val uri: URI,
    val headers: List<Pair<String, String>>,
    val subprotocols: List<String>,
    val maxFrameSize: Long,
)

internal interface Transport {
    /**
     * Resolves, connects, runs TLS and the upgrade. Cancellation must release everything opened so far.
     *
     * @throws HandshakeRejectedException when the server answered without a valid 101.
     * @throws IOException (or any other exception) when the connection could not be made.
     */
    suspend fun open(request: OpenRequest): TransportSession

    /** Releases what the transport owns (a client it created); sessions must be aborted first. */
    fun close()
}

internal interface TransportSession {
    val subprotocol: String?

    /** Upgrade response headers, lower-case names. */
    val responseHeaders: Map<String, List<String>>

    /**
     * The next frame from the peer, or `null` when the stream ended without error.
     *
     * @throws TransportProtocolException when the transport's own frame parser found a violation.
     */
    suspend fun receive(): WireFrame?

    /** Hands [frame] to the connection; it is on the socket after the next [flush]. */
    suspend fun write(frame: WireFrame)

    /** Suspends until every frame written so far is handed to the socket. */
    suspend fun flush()

    /** Drops the connection now. Bytes not yet handed to the operating system are lost. Idempotent; never throws. */
    fun abort()

    /**
     * Drops the connection once a close frame that has just been flushed has had time to leave, at most [linger]
     * from now, without making the caller wait. Idempotent; never throws.
     */
    fun release(linger: kotlin.time.Duration)
}

/**
 * Ktor closes its channels with a CancellationException that wraps the real I/O failure. Rethrows a genuine
 * cancellation of our own coroutine; turns the rest into an IOException carrying the cause; returns anything else.
 */
internal suspend fun Throwable.unlessOurCancellation(): Throwable {
    currentCoroutineContext().ensureActive()
    if (this !is CancellationException) return this
    return IOException(message ?: "connection closed", cause ?: this)
}

/** The server answered the upgrade with [status] instead of a valid 101. */
internal class HandshakeRejectedException(
    val status: Int,
    val headers: Map<String, List<String>>,
    message: String,
) : IOException(message)

/** The transport's frame parser rejected the peer's bytes; the connection must close with [closeCode]. */
internal class TransportProtocolException(
    val closeCode: Int,
    message: String,
    cause: Throwable? = null,
    /** The transport already sent its own close frame; Parley must not send another. */
    val closeSent: Boolean = false,
) : IOException(message, cause)
