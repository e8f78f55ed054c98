package dev.parley.testing

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.future.await
import kotlinx.coroutines.withTimeoutOrNull
import java.io.ByteArrayOutputStream
import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.nio.ByteBuffer
import java.util.concurrent.CompletionException
import java.util.concurrent.CompletionStage
import javax.net.ssl.SSLContext
import kotlin.time.Duration
import kotlin.time.toJavaDuration

/**
 * A WebSocket client built on the JDK's `java.net.http` implementation, used to check the test servers themselves.
 *
 * Why the JDK client: it shares no code with Ktor (Parley's transport) nor Jetty, so a server self-test with it cannot
 * be fooled by a bug that client and server have in common. It replies to pings automatically and echoes close frames.
 */
class JdkWsClient private constructor(private val listener: Listener) : AutoCloseable {
    /** How the connection ended, as seen by the client. */
    sealed interface End {
        /** A close frame arrived with [code] and [reason]. */
        data class Closed(val code: Int, val reason: String) : End

        /** The connection failed or ended without a close frame. */
        data class Failed(val cause: Throwable) : End
    }

    private val ws: WebSocket get() = listener.ws

    /** Subprotocol the server selected ("" when none). */
    val subprotocol: String get() = ws.subprotocol

    suspend fun sendText(text: String) {
        ws.sendText(text, true).await()
    }

    suspend fun sendBinary(bytes: ByteArray) {
        ws.sendBinary(ByteBuffer.wrap(bytes), true).await()
    }

    suspend fun sendClose(code: Int, reason: String) {
        ws.sendClose(code, reason).await()
    }

    /** Next complete text message, within [timeout]. */
    suspend fun awaitText(timeout: Duration = DEFAULT_AWAIT): String = listener.texts.receiveWithin(timeout, "text")

    /** Next complete binary message, within [timeout]. */
    suspend fun awaitBinary(timeout: Duration = DEFAULT_AWAIT): ByteArray =
        listener.binaries.receiveWithin(timeout, "binary")

    /** Next ping payload, within [timeout]. */
    suspend fun awaitPing(timeout: Duration = DEFAULT_AWAIT): ByteArray = listener.pings.receiveWithin(timeout, "ping")

    /** How the connection ended, within [timeout]. */
    suspend fun awaitEnd(timeout: Duration = DEFAULT_AWAIT): End = withTimeoutOrNull(timeout) { listener.end.await() }
        ?: throw AssertionError("connection did not end within $timeout")

    /** The end, or null if the connection is still open after [window] (for "nothing happens" assertions). */
    suspend fun endWithin(window: Duration): End? = withTimeoutOrNull(window) { listener.end.await() }

    /** Aborts the connection (TCP close, no close frame). */
    override fun close() = ws.abort()

    private class Listener : WebSocket.Listener {
        lateinit var ws: WebSocket
        val texts = Channel<String>(Channel.UNLIMITED)
        val binaries = Channel<ByteArray>(Channel.UNLIMITED)
        val pings = Channel<ByteArray>(Channel.UNLIMITED)
        val end = CompletableDeferred<End>()
        private val text = StringBuilder()
        private val binary = ByteArrayOutputStream()

        override fun onOpen(webSocket: WebSocket) {
            ws = webSocket
            webSocket.request(1)
        }

        override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
            text.append(data)
            if (last) texts.trySend(text.toString()).also { text.setLength(0) }
            webSocket.request(1)
            return null
        }

        override fun onBinary(webSocket: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
            binary.write(ByteArray(data.remaining()).also { data.get(it) })
            if (last) binaries.trySend(binary.toByteArray()).also { binary.reset() }
            webSocket.request(1)
            return null
        }

        override fun onPing(webSocket: WebSocket, message: ByteBuffer): CompletionStage<*>? {
            // The JDK sends the pong itself; this only records that the ping arrived.
            pings.trySend(ByteArray(message.remaining()).also { message.get(it) })
            webSocket.request(1)
            return null
        }

        override fun onClose(webSocket: WebSocket, statusCode: Int, reason: String): CompletionStage<*>? {
            end.complete(End.Closed(statusCode, reason))
            return null // null: the JDK answers with a close frame at once
        }

        override fun onError(webSocket: WebSocket, error: Throwable) {
            end.complete(End.Failed(error))
        }
    }

    companion object {
        private val plainClient: HttpClient by lazy { HttpClient.newHttpClient() }

        /** Connects to [url] within [timeout]; fails with the handshake error if the server refuses. */
        suspend fun connect(
            url: String,
            headers: Map<String, String> = emptyMap(),
            subprotocols: List<String> = emptyList(),
            sslContext: SSLContext? = null,
            timeout: Duration = DEFAULT_AWAIT,
        ): JdkWsClient {
            val client = if (sslContext == null) plainClient else HttpClient.newBuilder().sslContext(sslContext).build()
            val builder = client.newWebSocketBuilder().connectTimeout(timeout.toJavaDuration())
            headers.forEach { (name, value) -> builder.header(name, value) }
            if (subprotocols.isNotEmpty()) {
                builder.subprotocols(subprotocols.first(), *subprotocols.drop(1).toTypedArray())
            }
            val listener = Listener()
            try {
                builder.buildAsync(URI.create(url), listener).await()
            } catch (e: CompletionException) {
                throw e.cause ?: e
            }
            return JdkWsClient(listener)
        }

        /** Connects expecting failure; returns the cause (e.g. `WebSocketHandshakeException`). */
        suspend fun connectFailure(
            url: String,
            headers: Map<String, String> = emptyMap(),
            timeout: Duration = DEFAULT_AWAIT,
        ): Throwable {
            val client = try {
                connect(url, headers, timeout = timeout)
            } catch (e: Exception) {
                return e
            }
            client.close()
            throw AssertionError("connection to $url unexpectedly succeeded")
        }

        private suspend fun <T> Channel<T>.receiveWithin(timeout: Duration, what: String): T =
            withTimeoutOrNull(timeout) { receive() } ?: throw AssertionError("no $what message within $timeout")
    }
}
