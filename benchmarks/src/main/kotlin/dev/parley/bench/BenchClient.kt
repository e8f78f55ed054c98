package dev.parley.bench

import java.net.URI
import java.util.concurrent.CompletableFuture

/**
 * What the workload driver needs from a WebSocket library, and nothing more: open a connection, send text or binary,
 * hear about whole inbound messages, close. Each library gets a thin adapter written the way its documentation says to
 * use it, with its defaults, except for limits that would stop a workload from running at all (listed in [notes]).
 */
interface BenchClient : AutoCloseable {
    /** Deviations from the library's defaults, and anything a reader of the results should know. */
    val notes: String get() = ""

    /**
     * Opens a connection (TCP + HTTP upgrade) and completes once messages can flow; fails if it cannot open. Called
     * from any thread, possibly many times concurrently.
     */
    fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn>

    /**
     * Opens a connection whose every inbound message goes to [responder] on the library's own receive path (its
     * listener, handler or incoming loop), with a [Reply] through which the responder sends its next message from
     * inside that callback, in the library's idiom for answering a message (as request/response and echo apps do).
     */
    fun respond(uri: URI, responder: Responder): CompletableFuture<Conn>

    /** Releases the library's own resources (engines, pools); connections may be left to die with the process. */
    override fun close() {}
}

/** Sends that return without waiting for the write: the driver bounds what is in flight. */
interface Reply {
    fun sendText(text: String)

    fun sendBinary(bytes: ByteArray)
}

/** One open connection; its sends are for the driver's own thread (a [Responder] answers through its [Reply]). */
interface Conn : Reply {
    /** Closes the connection (best effort, waiting a little for the close handshake where the library offers it). */
    fun close()
}

/** Receives whole inbound messages: [size] is the text length in chars or the binary length in bytes. */
fun interface Inbound {
    fun onMessage(binary: Boolean, size: Int)
}

/**
 * Receives whole inbound messages inside the library's receive callback. A [Reply] is valid only until the call
 * returns: some libraries send what it was given once the callback has returned (a handler's result, a loop's next
 * step), so the responder must not keep it.
 */
fun interface Responder {
    fun onMessage(binary: Boolean, size: Int, reply: Reply)
}

/** Parley's own addition: a client that reconnects by itself, for the reconnect workload. */
interface ReconnectingClient {
    /**
     * Starts a client that reconnects with a fixed backoff of [backoffMillis] and reports each time it becomes
     * connected ([onConnected]) or loses the connection ([onDisconnected]). Returns a handle that stops it.
     */
    fun startReconnecting(
        uri: URI,
        backoffMillis: Long,
        onConnected: () -> Unit,
        onDisconnected: () -> Unit,
    ): AutoCloseable
}
