package dev.parley.testing

import org.eclipse.jetty.server.Handler
import org.eclipse.jetty.server.Request
import org.eclipse.jetty.server.Response
import org.eclipse.jetty.server.Server
import org.eclipse.jetty.server.ServerConnector
import org.eclipse.jetty.util.ssl.SslContextFactory
import org.eclipse.jetty.util.thread.QueuedThreadPool
import org.eclipse.jetty.websocket.server.ServerWebSocketContainer
import org.eclipse.jetty.websocket.server.WebSocketCreator
import org.eclipse.jetty.websocket.server.WebSocketUpgradeHandler
import java.time.Duration
import org.eclipse.jetty.util.Callback as HttpCallback

/**
 * [ParleyTestServer] on Jetty 12 core (no servlets) with the Jetty WebSocket API behind a [WebSocketUpgradeHandler].
 *
 * The endpoint is a plain `Session.Listener` ([JettyEchoEndpoint]): Jetty itself assembles fragmented messages and
 * answers pings (the endpoint does not override `onWebSocketPing`, which is what keeps Jetty's automatic pong).
 *
 * [stop]: with the default [stopTimeout] (> 0, as in a stock Jetty distribution) Jetty shuts down gracefully and sends
 * every open session a close frame 1001 "Container being shut down" before closing TCP. With `stopTimeout = ZERO`
 * the connectors are closed at once and clients see TCP end without a close frame.
 *
 * [tls]: Jetty serves TLS natively with the [TestTls] certificate; [url] is then `wss://`.
 */
class JettyTestServer(
    private val tls: Boolean = false,
    private val stopTimeout: Duration = Duration.ofSeconds(2),
) : ParleyTestServer {
    override val closeFrames = Recording<CloseFrameRecord>("close frames")
    override val pongs = Recording<ByteArray>("pongs")
    override val upgradeRequests = Recording<UpgradeRequestRecord>("upgrade requests")
    override val acceptedConnections = Recording<String>("accepted connections")

    private var server: Server? = null

    @Volatile
    private var boundPort = 0

    override val port: Int get() = boundPort.also { check(it != 0) { "JettyTestServer was never started" } }

    override val isRunning: Boolean get() = server != null

    override fun url(path: String): String = "${if (tls) "wss" else "ws"}://$LOOPBACK:$port$path"

    @Synchronized
    override fun start(): JettyTestServer {
        if (server != null) return this
        // A fresh Server per start keeps restarts free of state left by the previous run; only the port is reused.
        server = retryBind { newServer(boundPort).apply { startOrCleanUp() } }
        boundPort = (server!!.connectors.single() as ServerConnector).localPort
        return this
    }

    @Synchronized
    override fun stop() {
        server?.stop()
        server = null
    }

    override fun close() = stop()

    private fun Server.startOrCleanUp() {
        try {
            start()
        } catch (e: Exception) {
            runCatching { stop() }
            throw e
        }
    }

    private fun newServer(port: Int): Server {
        // Daemon threads: a test that forgets close() must not keep the Surefire JVM alive.
        val server = Server(
            QueuedThreadPool().apply {
                isDaemon = true
                name = "jetty-test-server"
            },
        )
        server.stopTimeout = stopTimeout.toMillis()
        val connector = if (tls) ServerConnector(server, sslContextFactory()) else ServerConnector(server)
        connector.host = LOOPBACK
        connector.port = port
        connector.reuseAddress = true // restart on the same port while old connections are in TIME_WAIT
        server.addConnector(connector)

        val upgrades = WebSocketUpgradeHandler.from(server) { container -> configure(container) }
        upgrades.handler = RejectingHandler()
        server.handler = RecordingHandler(upgrades)
        return server
    }

    private fun configure(container: ServerWebSocketContainer) {
        // Generous limits and timeouts: the test decides when something is too big or too slow, not the server.
        container.idleTimeout = Duration.ofMinutes(2)
        container.maxTextMessageSize = MAX_MESSAGE
        container.maxBinaryMessageSize = MAX_MESSAGE
        container.addMapping("/ws", creator(requireBearer = false, flap = false))
        container.addMapping("/ws/auth", creator(requireBearer = true, flap = false))
        container.addMapping("/ws/flap", creator(requireBearer = false, flap = true))
    }

    private fun creator(requireBearer: Boolean, flap: Boolean) = WebSocketCreator { request, response, callback ->
        if (requireBearer && !isBearer(request.headers["Authorization"])) {
            response.status = 401
            response.headers.put("WWW-Authenticate", "Bearer")
            response.write(true, null, callback)
            return@WebSocketCreator null
        }
        if (request.hasSubProtocol(CHAT_SUBPROTOCOL)) response.acceptedSubProtocol = CHAT_SUBPROTOCOL
        JettyEchoEndpoint(this, request.httpURI.path, flap)
    }

    private fun sslContextFactory() = SslContextFactory.Server().apply {
        keyStore = TestTls.keyStore
        keyStorePassword = TestTls.PASSWORD
        setKeyManagerPassword(TestTls.PASSWORD)
    }

    /** Records every request (upgrades and rejected attempts) before anything else handles it. */
    private inner class RecordingHandler(next: Handler) : Handler.Wrapper(next) {
        override fun handle(request: Request, response: Response, callback: HttpCallback): Boolean {
            val headers = request.headers.groupBy({ it.lowerCaseName }, { it.value })
            upgradeRequests.record(UpgradeRequestRecord(request.httpURI.path, headers))
            return super.handle(request, response, callback)
        }
    }

    /** Whatever was not upgraded: `/reject` gets 403, anything else 404; both with an empty body. */
    private class RejectingHandler : Handler.Abstract() {
        override fun handle(request: Request, response: Response, callback: HttpCallback): Boolean {
            response.status = if (request.httpURI.path == "/reject") 403 else 404
            response.write(true, null, callback)
            return true
        }
    }

    private companion object {
        const val MAX_MESSAGE = 64L * 1024 * 1024
    }
}
