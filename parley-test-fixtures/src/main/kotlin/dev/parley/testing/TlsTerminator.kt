package dev.parley.testing

import java.io.InputStream
import java.io.OutputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.ConcurrentHashMap
import kotlin.concurrent.thread

/**
 * A TLS front on 127.0.0.1:[port] that forwards the decrypted byte stream of each connection to the plain server on
 * 127.0.0.1:[backendPort], using the self-signed [TestTls] certificate.
 *
 * Why: Ktor's CIO engine cannot serve TLS, yet `wss://` tests should still hit the same Ktor WebSocket code. Bytes are
 * copied unchanged in both directions, so WebSocket framing, close frames and abrupt drops of the backend reach the
 * client as they are (a backend drop becomes a TLS close followed by TCP close: still no WebSocket close frame).
 *
 * @param requestedPort port to bind, 0 for an ephemeral one; bound with SO_REUSEADDR so restarts can reuse it.
 */
class TlsTerminator(requestedPort: Int, private val backendPort: Int) : AutoCloseable {
    private val server: ServerSocket = TestTls.serverSslContext.serverSocketFactory.createServerSocket()
        .apply {
            reuseAddress = true
            bind(InetSocketAddress(InetAddress.getByName(LOOPBACK), requestedPort), BACKLOG)
        }
    private val open = ConcurrentHashMap.newKeySet<Socket>()

    /** The bound TLS port. */
    val port: Int = server.localPort

    init {
        thread(isDaemon = true, name = "tls-terminator-$port") {
            while (!server.isClosed) {
                val client = runCatching { server.accept() }.getOrNull() ?: break
                forward(client)
            }
        }
    }

    private fun forward(client: Socket) {
        open += client
        thread(isDaemon = true, name = "tls-terminator-conn") {
            val backend = runCatching { Socket(LOOPBACK, backendPort) }.getOrElse {
                // The backend is stopped: behave like a refused connection would, closing the TLS socket at once.
                closeQuietly(client)
                return@thread
            }
            open += backend
            // One thread per direction; whichever side ends first closes both, as a TCP proxy would.
            thread(isDaemon = true, name = "tls-terminator-up") {
                pump(client.getInputStream(), backend.getOutputStream(), client, backend)
            }
            pump(backend.getInputStream(), client.getOutputStream(), client, backend)
        }
    }

    private fun pump(from: InputStream, to: OutputStream, a: Socket, b: Socket) {
        val buffer = ByteArray(BUFFER_SIZE)
        try {
            while (true) {
                val n = from.read(buffer)
                if (n < 0) break
                to.write(buffer, 0, n)
                to.flush()
            }
        } catch (_: Exception) {
            // A reset or a closed socket ends the copy like EOF does; the close below propagates it.
        } finally {
            closeQuietly(a)
            closeQuietly(b)
        }
    }

    private fun closeQuietly(socket: Socket) {
        open -= socket
        runCatching { socket.close() }
    }

    /** Stops accepting and closes every forwarded connection. */
    override fun close() {
        runCatching { server.close() }
        open.snapshot().forEach { closeQuietly(it) }
    }

    private companion object {
        const val BACKLOG = 50
        const val BUFFER_SIZE = 16 * 1024
    }
}
