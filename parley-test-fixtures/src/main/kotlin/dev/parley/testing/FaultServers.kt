package dev.parley.testing

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withTimeoutOrNull
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlin.time.Duration

/**
 * Base of the raw TCP fault servers: binds 127.0.0.1 on an ephemeral port, accepts on a daemon thread, hands each
 * socket to [onAccept] and closes every accepted socket on [close].
 */
abstract class AcceptingServer(name: String) : AutoCloseable {
    private val server = ServerSocket().apply {
        reuseAddress = true
        bind(InetSocketAddress(InetAddress.getByName(LOOPBACK), 0))
    }
    private val sockets = ConcurrentHashMap.newKeySet<Socket>()
    private val acceptedCount = MutableStateFlow(0)

    /** The bound port. */
    val port: Int = server.localPort

    /** Number of TCP connections accepted so far. */
    val accepted: Int get() = acceptedCount.value

    /** `ws://127.0.0.1:<port><path>`. */
    fun url(path: String = "/ws"): String = "ws://$LOOPBACK:$port$path"

    init {
        thread(isDaemon = true, name = "$name-$port") {
            while (!server.isClosed) {
                val socket = runCatching { server.accept() }.getOrNull() ?: break
                sockets += socket
                acceptedCount.update { it + 1 }
                onAccept(socket)
            }
        }
    }

    /** Waits until [count] connections were accepted, up to [timeout] (e.g. to prove the client did dial). */
    suspend fun awaitAccepted(count: Int = 1, timeout: Duration = DEFAULT_AWAIT) {
        withTimeoutOrNull(timeout) { acceptedCount.first { it >= count } }
            ?: throw AssertionError("expected $count accepted connections within $timeout, got $accepted")
    }

    /** Called on the accept thread for each new socket; must not block for long. */
    protected abstract fun onAccept(socket: Socket)

    /** Closes [socket] and forgets it. */
    protected fun drop(socket: Socket) {
        sockets -= socket
        runCatching { socket.close() }
    }

    /** Stops accepting and closes every accepted socket. */
    override fun close() {
        runCatching { server.close() }
        sockets.snapshot().forEach { drop(it) }
    }
}

/*
 * A copy of a set other threads change. Not toList(): for a set of one it reads size() and then iterator().next()
 * separately, and a connection ending in between makes that throw NoSuchElementException (seen in CI when a fake
 * proxy dropped its socket as the test closed it). ArrayList copies through toArray(), in one pass.
 */
internal fun <T> Set<T>.snapshot(): List<T> = ArrayList(this)

/**
 * Accepts TCP and never answers: the upgrade (or a TLS handshake) never completes, so the client's connect/handshake
 * timeout is what must end the attempt.
 */
class SilentServer : AcceptingServer("silent-server") {
    // Keep the socket open and unread: nothing is ever sent back.
    override fun onAccept(socket: Socket) = Unit
}

/**
 * Answers every connection with `not-http\r\n\r\n` (not an HTTP response) and closes it about 50 ms later.
 *
 * The request head is read first so the close does not turn into a TCP reset that would hide the garbage from the
 * client; the late close is scheduled, never slept.
 */
class GarbageHttpServer : AcceptingServer("garbage-http-server") {
    override fun onAccept(socket: Socket) {
        thread(isDaemon = true, name = "garbage-http-conn") {
            runCatching {
                socket.soTimeout = HEAD_READ_TIMEOUT_MILLIS
                RawWebSocketServer.readRequestHead(socket.getInputStream())
            }
            runCatching {
                socket.getOutputStream().apply {
                    write("not-http\r\n\r\n".encodeToByteArray())
                    flush()
                }
            }
            testScheduler.schedule({ drop(socket) }, CLOSE_DELAY_MILLIS, TimeUnit.MILLISECONDS)
        }
    }

    private companion object {
        const val HEAD_READ_TIMEOUT_MILLIS = 2_000
        const val CLOSE_DELAY_MILLIS = 50L
    }
}

/**
 * A loopback port with nothing listening (bind port 0, read it, close), for "connection refused" tests.
 * Another process could in theory take it in between; on a test machine that is rare enough to accept.
 */
fun unusedPort(): Int = ServerSocket(0, 1, InetAddress.getByName(LOOPBACK)).use { it.localPort }
