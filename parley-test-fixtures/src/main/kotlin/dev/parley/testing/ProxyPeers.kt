package dev.parley.testing

import java.io.File
import java.io.IOException
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.Socket
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * Real proxies run as child processes on 127.0.0.1, for tests of Parley against software it did not write: tinyproxy
 * (HTTP CONNECT, optionally with Basic authentication), microsocks (SOCKS5, optionally with RFC 1929
 * username/password) and HAProxy (a TLS-terminating reverse proxy). CI installs them with `.ci/install-peers`.
 *
 * Each peer gets a free port and its own scratch directory (configuration and log); it is ready when it accepts TCP.
 * [ProxyPeer.close] kills it.
 */
object ProxyPeers {
    /** tinyproxy allowing CONNECT to any port, and requiring `BasicAuth` [username] [password] when they are given. */
    fun tinyproxy(username: String? = null, password: String? = null): ProxyPeer {
        require((username == null) == (password == null)) { "give both a username and a password, or neither" }
        val binary = binary("tinyproxy")
        return start("tinyproxy") { port, dir ->
            val config = buildString {
                appendLine("Port $port")
                appendLine("Listen $LOOPBACK")
                appendLine("Allow $LOOPBACK")
                appendLine("PidFile \"${File(dir, "tinyproxy.pid")}\"")
                appendLine("LogLevel Info")
                appendLine("MaxClients 64")
                // No ConnectPort line: CONNECT is allowed to every port, which the tests' ephemeral ports need.
                if (username != null) appendLine("BasicAuth $username $password")
            }
            val file = File(dir, "tinyproxy.conf").apply { writeText(config) }
            listOf(binary, "-d", "-c", file.path)
        }
    }

    /** microsocks, requiring username/password authentication when [username] and [password] are given. */
    fun microsocks(username: String? = null, password: String? = null): ProxyPeer {
        require((username == null) == (password == null)) { "give both a username and a password, or neither" }
        val binary = binary("microsocks")
        return start("microsocks") { port, _ ->
            listOf(binary, "-i", LOOPBACK, "-p", port.toString()) +
                if (username != null) listOf("-u", username, "-P", password!!) else emptyList()
        }
    }

    /**
     * HAProxy terminating TLS (the [TestPki] server certificate) in front of the plain WebSocket server on
     * 127.0.0.1:[backendPort], in HTTP mode, which passes the upgrade and then tunnels the connection: the other
     * reverse proxy users put in front of WebSocket servers, with OpenSSL underneath. Reach it at
     * `wss://127.0.0.1:<port>/…`.
     */
    fun haproxyTls(backendPort: Int): ProxyPeer {
        val binary = binary("haproxy")
        return start("haproxy") { port, dir ->
            // HAProxy wants the certificate and its key in one file.
            val pem = File(dir, "server.pem").apply {
                writeText(
                    TestPki.server.certificate.toFile().readText() + TestPki.server.privateKey.toFile().readText(),
                )
            }
            val config = buildString {
                appendLine("defaults")
                appendLine("  mode http")
                appendLine("  timeout connect 5s")
                appendLine("  timeout client 60s")
                appendLine("  timeout server 60s")
                // After the upgrade the connection is a tunnel, under this timeout instead of the two above.
                appendLine("  timeout tunnel 1h")
                appendLine("frontend tls")
                appendLine("  bind $LOOPBACK:$port ssl crt ${pem.path}")
                appendLine("  default_backend websocket")
                appendLine("backend websocket")
                appendLine("  server peer $LOOPBACK:$backendPort")
            }
            val file = File(dir, "haproxy.cfg").apply { writeText(config) }
            listOf(binary, "-db", "-f", file.path)
        }
    }

    private fun binary(name: String): String {
        val path = System.getenv("PATH").orEmpty().split(File.pathSeparator) + listOf("/usr/bin", "/usr/sbin")
        return path.map { File(it, name) }.firstOrNull { it.canExecute() }?.path
            ?: throw IllegalStateException(
                "$name is not installed (looked in PATH and /usr/bin): run .ci/install-peers to install the test peers",
            )
    }

    private fun start(name: String, command: (port: Int, dir: File) -> List<String>): ProxyPeer {
        var lastFailure: String? = null
        // The free port is found by binding and releasing it, so another process can take it before the peer binds
        // it; a peer that dies at start is therefore retried on a fresh port, a few times.
        repeat(START_ATTEMPTS) {
            val dir = Files.createTempDirectory("parley-$name-").toFile()
            val port = unusedPort()
            val log = File(dir, "$name.log")
            val process = ProcessBuilder(command(port, dir))
                .directory(dir)
                .redirectErrorStream(true)
                .redirectOutput(log)
                .start()
            val peer = ProxyPeer(name, port, process, dir, log)
            if (peer.awaitAccepting()) return peer
            lastFailure = "$name exited with ${process.exitValue()} on port $port: ${log.readText().trim()}"
            peer.close()
        }
        throw IllegalStateException("could not start $name: $lastFailure")
    }

    private const val START_ATTEMPTS = 3
}

/**
 * A proxy running as a child process on [host]:[port]; [close] kills it and deletes its scratch directory.
 *
 * @property name the program, for messages.
 */
class ProxyPeer internal constructor(
    val name: String,
    /** The port it listens on. */
    val port: Int,
    private val process: Process,
    private val dir: File,
    private val logFile: File,
) : AutoCloseable {
    /** The address it listens on. */
    val host: String = LOOPBACK

    // A test run that dies before close() must not leave proxies behind.
    private val reaper = thread(start = false, name = "$name-$port-reaper") { process.destroyForcibly() }

    init {
        Runtime.getRuntime().addShutdownHook(reaper)
    }

    /** What the proxy has logged so far, for a failing test's message. */
    fun log(): String = runCatching { logFile.readText() }.getOrDefault("")

    /**
     * Polls until the proxy accepts a TCP connection, up to [READY_TIMEOUT_MILLIS]: true when it does, false when the
     * process exited first. The pause between polls is a wait on the process itself, so a peer that dies is noticed
     * at once rather than after the deadline.
     */
    internal fun awaitAccepting(): Boolean {
        val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(READY_TIMEOUT_MILLIS)
        while (System.nanoTime() < deadline) {
            try {
                Socket().use { it.connect(InetSocketAddress(InetAddress.getByName(host), port), PROBE_TIMEOUT_MILLIS) }
                return true
            } catch (_: IOException) {
                if (process.waitFor(POLL_MILLIS, TimeUnit.MILLISECONDS)) return false
            }
        }
        close()
        throw IllegalStateException("$name did not accept connections on $host:$port within ${READY_TIMEOUT_MILLIS}ms")
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS)
        }
        runCatching { Runtime.getRuntime().removeShutdownHook(reaper) }
        dir.deleteRecursively()
    }

    override fun toString(): String = "$name on $host:$port"

    private companion object {
        const val READY_TIMEOUT_MILLIS = 10_000L
        const val PROBE_TIMEOUT_MILLIS = 1_000
        const val POLL_MILLIS = 20L
        const val STOP_TIMEOUT_SECONDS = 5L
    }
}

/**
 * A plain TCP echo server on 127.0.0.1: what a tunnel reaches when the test only needs to prove that bytes cross it
 * both ways. It keeps every byte it received, so a test can check that nothing but its own bytes arrived (no proxy
 * header leaked through, say).
 */
class TcpEchoServer : AcceptingServer("tcp-echo") {
    private val received = java.io.ByteArrayOutputStream()

    /** Every byte received so far, over all connections, in arrival order per connection. */
    fun received(): ByteArray = synchronized(received) { received.toByteArray() }

    override fun onAccept(socket: Socket) {
        thread(isDaemon = true, name = "tcp-echo-conn") {
            try {
                val input = socket.getInputStream()
                val output = socket.getOutputStream()
                val buffer = ByteArray(BUFFER_BYTES)
                while (true) {
                    val n = input.read(buffer)
                    if (n < 0) break
                    synchronized(received) { received.write(buffer, 0, n) }
                    output.write(buffer, 0, n)
                    output.flush()
                }
            } catch (_: IOException) {
                // The peer reset or the server closed: the connection is over either way.
            } finally {
                drop(socket)
            }
        }
    }

    private companion object {
        const val BUFFER_BYTES = 8 * 1024
    }
}
