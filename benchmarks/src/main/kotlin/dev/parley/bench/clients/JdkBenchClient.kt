package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.Reply
import dev.parley.bench.Responder
import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionStage
import java.util.concurrent.TimeUnit

/** The JDK's java.net.http.WebSocket: one shared HttpClient, a Listener per connection that requests one at a time. */
class JdkBenchClient(
    tls: BenchTls?,
) : BenchClient {
    private val http =
        if (tls == null) HttpClient.newHttpClient() else HttpClient.newBuilder().sslContext(tls.sslContext).build()

    override val notes = "JDK defaults; sends are chained because the JDK allows one outstanding send per socket" +
        "; callback-driven replies: ws.sendText/sendBinary inside onText/onBinary, request(1) once they complete"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> =
        http.newWebSocketBuilder().buildAsync(uri, JdkListener(inbound)).thenApply { JdkConn(it) }

    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> {
        val listener = JdkRespondingListener(responder)
        return http.newWebSocketBuilder().buildAsync(uri, listener).thenApply { ws ->
            JdkConn(ws).also { listener.outside = it }
        }
    }
}

/** Messages may arrive in parts; a message is whole when `last` is set. */
private class JdkListener(
    private val inbound: Inbound,
) : WebSocket.Listener {
    private var partial = 0

    override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
        partial += data.length
        if (last) {
            inbound.onMessage(false, partial)
            partial = 0
        }
        webSocket.request(1)
        return null
    }

    override fun onBinary(webSocket: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
        partial += data.remaining()
        if (last) {
            inbound.onMessage(true, partial)
            partial = 0
        }
        webSocket.request(1)
        return null
    }
}

/**
 * Answers inside onText/onBinary with `ws.sendText`/`ws.sendBinary`, and requests the next message once those sends
 * complete: the JDK allows one outstanding send, and this is its own echo idiom (the listener's demand is the
 * backpressure). A second send in one callback is chained on the first.
 */
private class JdkRespondingListener(
    private val responder: Responder,
) : WebSocket.Listener,
    Reply {
    private var partial = 0
    private lateinit var ws: WebSocket

    /** Sends made in the current callback, chained; null if none. */
    private var sends: CompletableFuture<*>? = null

    /** The driver's own sends (the one that starts a run), which a reply must not overlap. */
    @Volatile
    var outside: JdkConn? = null

    override fun onOpen(webSocket: WebSocket) {
        ws = webSocket
        webSocket.request(1)
    }

    override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
        partial += data.length
        if (last) deliver(false) else webSocket.request(1)
        return null
    }

    override fun onBinary(webSocket: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
        partial += data.remaining()
        if (last) deliver(true) else webSocket.request(1)
        return null
    }

    private fun deliver(binary: Boolean) {
        val size = partial
        partial = 0
        responder.onMessage(binary, size, this)
        val chain = sends
        sends = null
        if (chain == null) ws.request(1) else chain.whenComplete { _, _ -> ws.request(1) }
    }

    override fun sendText(text: String) = chain { ws.sendText(text, true) }

    override fun sendBinary(bytes: ByteArray) = chain { ws.sendBinary(ByteBuffer.wrap(bytes), true) }

    // On a completed future thenCompose runs at once, so this is a plain ws.send* call in the callback unless the
    // driver's send that started the run is, exceptionally, still in progress.
    private fun chain(send: () -> CompletableFuture<WebSocket>) {
        val before = sends ?: outside?.last() ?: DONE
        sends = before.thenCompose { send() }
    }

    private companion object {
        val DONE: CompletableFuture<*> = CompletableFuture.completedFuture(null)
    }
}

private class JdkConn(
    private val ws: WebSocket,
) : Conn {
    /** The JDK throws if a send starts before the previous one completed, so each send waits for the one before. */
    private var tail: CompletableFuture<*> = CompletableFuture.completedFuture(null)

    override fun sendText(text: String) = chain { ws.sendText(text, true) }

    override fun sendBinary(bytes: ByteArray) = chain { ws.sendBinary(ByteBuffer.wrap(bytes), true) }

    @Synchronized
    fun last(): CompletableFuture<*> = tail

    @Synchronized
    private fun chain(send: () -> CompletableFuture<WebSocket>) {
        tail = tail.thenCompose { send() }
    }

    override fun close() {
        val closing = synchronized(this) { tail.thenCompose { ws.sendClose(WebSocket.NORMAL_CLOSURE, "") } }
        runCatching { closing.get(2, TimeUnit.SECONDS) }
        ws.abort()
    }
}
