package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.Responder
import okhttp3.Dispatcher
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.Response
import okhttp3.WebSocket
import okhttp3.WebSocketListener
import okio.ByteString
import okio.ByteString.Companion.toByteString
import java.net.URI
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** OkHttp 5: one shared OkHttpClient, a WebSocketListener per connection. */
class OkHttpBenchClient(
    tls: BenchTls?,
) : BenchClient {
    private val http =
        OkHttpClient
            .Builder()
            .dispatcher(
                Dispatcher().apply {
                    // An open WebSocket counts as a running call (its reader loops on a dispatcher thread); the
                    // defaults (64, and 5 per host) would cap a process at 5 connections to one server.
                    maxRequests = MAX_CALLS
                    maxRequestsPerHost = MAX_CALLS
                },
            ).apply { if (tls != null) sslSocketFactory(tls.sslContext.socketFactory, tls.trustManager) }
            .build()

    override val notes = "OkHttp defaults, except Dispatcher maxRequests = maxRequestsPerHost = $MAX_CALLS" +
        "; callback-driven replies: webSocket.send inside onMessage"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> =
        open(uri, { _, text -> inbound.onMessage(false, text.length) }, { _, b -> inbound.onMessage(true, b.size) })

    // The reply is the connection itself: webSocket.send from inside onMessage, OkHttp's way to answer.
    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> = open(
        uri,
        { conn, text -> responder.onMessage(false, text.length, conn) },
        { conn, bytes -> responder.onMessage(true, bytes.size, conn) },
    )

    private fun open(
        uri: URI,
        onText: (Conn, String) -> Unit,
        onBytes: (Conn, ByteString) -> Unit,
    ): CompletableFuture<Conn> {
        val opened = CompletableFuture<Conn>()
        val closed = CountDownLatch(1)
        val listener =
            object : WebSocketListener() {
                // Set in onOpen, which OkHttp calls on the reader thread before it reads the first message.
                private var conn: OkConn? = null

                override fun onOpen(webSocket: WebSocket, response: Response) {
                    conn = OkConn(webSocket, closed).also { opened.complete(it) }
                }

                override fun onMessage(webSocket: WebSocket, text: String) = onText(conn!!, text)

                override fun onMessage(webSocket: WebSocket, bytes: ByteString) = onBytes(conn!!, bytes)

                override fun onClosing(webSocket: WebSocket, code: Int, reason: String) {
                    webSocket.close(code, null)
                }

                override fun onClosed(webSocket: WebSocket, code: Int, reason: String) = closed.countDown()

                override fun onFailure(webSocket: WebSocket, t: Throwable, response: Response?) {
                    opened.completeExceptionally(t)
                    closed.countDown()
                }
            }
        http.newWebSocket(Request.Builder().url(uri.toString()).build(), listener)
        return opened
    }

    override fun close() {
        http.dispatcher.executorService.shutdown()
        http.connectionPool.evictAll()
    }

    private companion object {
        const val MAX_CALLS = 1_000_000
    }
}

private class OkConn(
    private val ws: WebSocket,
    private val closed: CountDownLatch,
) : Conn {
    override fun sendText(text: String) {
        check(ws.send(text)) { "OkHttp refused the frame (closed, or over 16 MiB queued)" }
    }

    override fun sendBinary(bytes: ByteArray) {
        check(ws.send(bytes.toByteString())) { "OkHttp refused the frame (closed, or over 16 MiB queued)" }
    }

    override fun close() {
        ws.close(1000, null)
        closed.await(2, TimeUnit.SECONDS)
    }
}
