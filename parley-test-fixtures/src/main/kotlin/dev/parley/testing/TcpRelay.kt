package dev.parley.testing

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withTimeoutOrNull
import java.io.InputStream
import java.io.OutputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread
import kotlin.time.Duration

/**
 * A TCP relay on 127.0.0.1 in front of a backend port, to make a link go dead without closing it: a half-open
 * connection, a NAT that forgot the flow, a cable pulled somewhere in between.
 *
 * Each accepted connection gets its own connection to the backend, and two pump threads copy bytes both ways. While
 * [freeze]d, the pumps keep reading (so neither end's socket buffer fills and no write ever fails) but discard what
 * they read: both TCP connections stay open and nothing crosses. That applies to connections accepted while frozen too,
 * so an upgrade attempt through a frozen relay hangs. [thaw] resumes forwarding for every open connection and new ones
 * (bytes discarded meanwhile are lost for good, as on a dead path).
 *
 * When either end closes or resets its side, the relay closes both sockets of that connection.
 */
class TcpRelay(private val backendPort: Int) : AutoCloseable {
    private val server = ServerSocket().apply {
        reuseAddress = true
        bind(InetSocketAddress(InetAddress.getByName(LOOPBACK), 0))
    }
    private val sockets = ConcurrentHashMap.newKeySet<Socket>()
    private val acceptedCount = MutableStateFlow(0)

    @Volatile
    private var frozen = false

    /** The bound port. */
    val port: Int = server.localPort

    /** Bytes read and thrown away while frozen, both directions together. */
    val discardedBytes = AtomicLong()

    /** Bytes forwarded from clients to the backend, all connections together (handshakes included). */
    val bytesUp = AtomicLong()

    /** Bytes forwarded from the backend to clients, all connections together (handshakes included). */
    val bytesDown = AtomicLong()

    /** Connections accepted so far. */
    val accepted: Int get() = acceptedCount.value

    /** Whether the relay currently discards instead of forwarding. */
    val isFrozen: Boolean get() = frozen

    /** `ws://127.0.0.1:<port><path>`. */
    fun url(path: String = "/ws"): String = "ws://$LOOPBACK:$port$path"

    init {
        thread(isDaemon = true, name = "tcp-relay-accept-$port") {
            while (!server.isClosed) {
                val client = runCatching { server.accept() }.getOrNull() ?: break
                sockets += client
                acceptedCount.update { it + 1 }
                val backend = runCatching { Socket(InetAddress.getByName(LOOPBACK), backendPort) }.getOrElse {
                    // Backend down: the client sees its connection closed, as it would without the relay (almost).
                    drop(client)
                    null
                } ?: continue
                sockets += backend
                val link = listOf(client, backend)
                pump(client.getInputStream(), backend.getOutputStream(), link, "up", bytesUp)
                pump(backend.getInputStream(), client.getOutputStream(), link, "down", bytesDown)
            }
        }
    }

    /** Stops forwarding on every connection, open or future, while keeping them all open. */
    fun freeze() {
        frozen = true
    }

    /** Resumes forwarding. */
    fun thaw() {
        frozen = false
    }

    /** Waits until [count] connections were accepted, up to [timeout]. */
    suspend fun awaitAccepted(count: Int, timeout: Duration = DEFAULT_AWAIT) {
        withTimeoutOrNull(timeout) { acceptedCount.first { it >= count } }
            ?: throw AssertionError("expected $count connections through the relay within $timeout, got $accepted")
    }

    /** Stops accepting and closes every connection, both sides. */
    override fun close() {
        runCatching { server.close() }
        sockets.snapshot().forEach { drop(it) }
    }

    private fun pump(from: InputStream, to: OutputStream, link: List<Socket>, direction: String, counter: AtomicLong) {
        thread(isDaemon = true, name = "tcp-relay-$port-$direction") {
            val buffer = ByteArray(BUFFER_BYTES)
            try {
                while (true) {
                    val n = from.read(buffer)
                    if (n < 0) break
                    if (frozen) {
                        discardedBytes.addAndGet(n.toLong())
                        continue
                    }
                    to.write(buffer, 0, n)
                    to.flush()
                    counter.addAndGet(n.toLong())
                }
            } catch (_: java.io.IOException) {
                // A reset or a socket closed by the other pump: the link is over either way.
            } finally {
                link.forEach { drop(it) }
            }
        }
    }

    private fun drop(socket: Socket) {
        sockets -= socket
        runCatching { socket.close() }
    }

    private companion object {
        const val BUFFER_BYTES = 16 * 1024
    }
}
