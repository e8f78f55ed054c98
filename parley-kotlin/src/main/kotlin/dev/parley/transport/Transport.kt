package dev.parley.transport

import dev.parley.ParleyOptions
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import java.io.IOException
import java.net.URI
import java.security.MessageDigest
import java.util.Base64
import kotlin.time.Duration

/*
 * The seam between the state machine and the network. The machine sees every frame the peer sends, control frames
 * included, because it owns pings, pongs, reassembly, validation and the close handshake; a transport only opens the
 * connection and moves frames. Parley's own transport frames the socket itself; the parley-ktor-client module plugs a
 * caller's Ktor HttpClient in here; tests plug in fakes.
 */

/**
 * Marks the transport SPI: what a module needs to plug another way of connecting into Parley (as
 * `parley-ktor-client` does). Applications do not need it. It may change in a minor release, so using it requires
 * an explicit opt-in.
 */
@RequiresOptIn(
    message = "Parley's transport SPI is for transport modules and may change in a minor release.",
    level = RequiresOptIn.Level.ERROR,
)
@Retention(AnnotationRetention.BINARY)
@Target(AnnotationTarget.CLASS, AnnotationTarget.FUNCTION, AnnotationTarget.PROPERTY, AnnotationTarget.TYPEALIAS)
public annotation class ParleyTransportApi

/** Creates the [Transport] one client uses for all its connections; called once, when the client starts. */
@ParleyTransportApi
public fun interface TransportFactory {
    /** A transport for a client with [options]; the client [closes][Transport.close] it when it stops. */
    public fun create(options: ParleyOptions): Transport
}

/**
 * RFC 6455 opcodes. A transport reports a continuation frame as [CONTINUATION], never as its message's type.
 *
 * @property code the opcode's value on the wire.
 */
@ParleyTransportApi
public enum class Opcode(
    public val code: Int,
) {
    /** A later fragment of a text or binary message. */
    CONTINUATION(0x0),

    /** The first (or only) frame of a text message. */
    TEXT(0x1),

    /** The first (or only) frame of a binary message. */
    BINARY(0x2),

    /** A close frame. */
    CLOSE(0x8),

    /** A ping. */
    PING(0x9),

    /** A pong. */
    PONG(0xA),
    ;

    /** Whether this is a control frame (close, ping, pong), which may not be fragmented. */
    public val isControl: Boolean get() = code >= 0x8
}

/**
 * One frame as it crosses the wire, unmasked. The payload array is handed over, not copied: neither side may change
 * it afterwards.
 *
 * @property opcode the frame's opcode.
 * @property payload the frame's payload bytes.
 * @property fin whether this is the last frame of its message.
 * @property rsv the three reserved bits (RSV1 = 4, RSV2 = 2, RSV3 = 1). A transport passes them through both ways
 *   untouched: RSV1 marks a compressed message when permessage-deflate was agreed (Parley compresses and inflates
 *   itself); any other reserved bit is a protocol violation.
 */
@ParleyTransportApi
public class WireFrame(
    public val opcode: Opcode,
    public val payload: ByteArray,
    public val fin: Boolean = true,
    public val rsv: Int = 0,
) {
    /** Opcode, size and flags; never the payload, which may hold secrets. */
    override fun toString(): String = "WireFrame($opcode, ${payload.size} bytes, fin=$fin, rsv=$rsv)"
}

/**
 * What a transport needs to open one connection. The client bounds the whole [Transport.open] call with its connect
 * timeout.
 *
 * @property uri the `ws://` or `wss://` URI.
 * @property headers extra upgrade request headers, in order (checked for CR and LF).
 * @property subprotocols subprotocols to offer, in order of preference.
 * @property maxFrameSize the largest frame payload the peer may send.
 */
@ParleyTransportApi
public class OpenRequest(
    public val uri: URI,
    public val headers: List<Pair<String, String>>,
    public val subprotocols: List<String>,
    public val maxFrameSize: Long,
)

/**
 * A way of opening WebSocket connections. One client owns one transport and closes it when it stops.
 *
 * Extensions are Parley's business, not the transport's: a transport sends [OpenRequest.headers] as given (they may
 * offer permessage-deflate), reports the 101's headers in [TransportSession.responseHeaders] without judging
 * `Sec-WebSocket-Extensions`, and passes payloads and reserved bits through unchanged.
 */
@ParleyTransportApi
public interface Transport {
    /**
     * Resolves, connects, runs TLS and the upgrade. Cancellation must release everything opened so far.
     *
     * @throws HandshakeRejectedException when the server answered without a valid 101.
     * @throws IOException (or any other exception) when the connection could not be made.
     */
    public suspend fun open(request: OpenRequest): TransportSession

    /** Releases what the transport owns (a client it created); sessions are aborted first. */
    public fun close()
}

/** One open connection, used by one client coroutine at a time for reading and one for writing. */
@ParleyTransportApi
public interface TransportSession {
    /** The subprotocol the server selected, or `null`. */
    public val subprotocol: String?

    /** Upgrade response headers, lower-case names. */
    public val responseHeaders: Map<String, List<String>>

    /**
     * The next frame from the peer, or `null` when the stream ended without error.
     *
     * @throws TransportProtocolException when the transport's own frame parser found a violation.
     */
    public suspend fun receive(): WireFrame?

    /** Hands [frame] to the connection; it is on the socket after the next [flush]. */
    public suspend fun write(frame: WireFrame)

    /** Suspends until every frame written so far is handed to the socket. */
    public suspend fun flush()

    /** Drops the connection now. Bytes not yet handed to the operating system are lost. Idempotent; never throws. */
    public fun abort()

    /**
     * Drops the connection once a close frame that has just been flushed has had time to leave, at most [linger]
     * from now, without making the caller wait. Idempotent; never throws.
     */
    public fun release(linger: Duration)
}

/**
 * The server answered the upgrade with [status] instead of a valid 101.
 *
 * @property status the HTTP status (101 when the response was a 101 that failed the RFC 6455 checks).
 * @property headers the response headers, lower-case names.
 */
@ParleyTransportApi
public class HandshakeRejectedException(
    public val status: Int,
    public val headers: Map<String, List<String>>,
    message: String,
) : IOException(message)

/**
 * The transport's frame parser rejected the peer's bytes; the connection must close with [closeCode].
 *
 * @property closeCode the close code to send (and report).
 * @property closeSent whether the transport already sent its own close frame, so Parley must not send another.
 */
@ParleyTransportApi
public class TransportProtocolException(
    public val closeCode: Int,
    message: String,
    cause: Throwable? = null,
    public val closeSent: Boolean = false,
) : IOException(message, cause)

/**
 * Ktor closes its channels with a CancellationException that wraps the real I/O failure. Rethrows a genuine
 * cancellation of the calling coroutine; turns any other CancellationException into an IOException carrying its
 * cause; returns other throwables unchanged.
 */
@ParleyTransportApi
public suspend fun Throwable.unlessOurCancellation(): Throwable {
    currentCoroutineContext().ensureActive()
    if (this !is CancellationException) return this
    return IOException(message ?: "connection closed", cause ?: this)
}

/** The `Sec-WebSocket-Accept` value a server must answer [key] with (RFC 6455 §4.2.2). */
@ParleyTransportApi
public fun expectedWebSocketAccept(key: String): String {
    val sha1 = MessageDigest.getInstance("SHA-1").digest((key + WEBSOCKET_GUID).toByteArray(Charsets.US_ASCII))
    return Base64.getEncoder().encodeToString(sha1)
}

private const val WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
