package dev.parley.testing

import io.ktor.http.HttpHeaders
import io.ktor.http.HttpStatusCode
import io.ktor.server.application.Application
import io.ktor.server.application.ApplicationCall
import io.ktor.server.application.ApplicationCallPipeline
import io.ktor.server.application.call
import io.ktor.server.application.install
import io.ktor.server.cio.CIO
import io.ktor.server.cio.CIOApplicationEngine
import io.ktor.server.engine.EmbeddedServer
import io.ktor.server.engine.connector
import io.ktor.server.engine.embeddedServer
import io.ktor.server.request.path
import io.ktor.server.response.header
import io.ktor.server.response.respond
import io.ktor.server.routing.route
import io.ktor.server.routing.routing
import io.ktor.server.websocket.WebSocketUpgrade
import io.ktor.server.websocket.WebSockets
import io.ktor.websocket.CloseReason
import io.ktor.websocket.Frame
import io.ktor.websocket.WebSocketSession
import io.ktor.websocket.readReason
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer

/**
 * [ParleyTestServer] on Ktor's CIO engine with the WebSockets plugin.
 *
 * Routes use Ktor's RAW WebSocket session ([WebSocketUpgrade] without `DefaultWebSocketSession`) because only the raw
 * session exposes pong and close frames to the application; in exchange this class answers pings and close frames
 * itself, exactly as the default session would.
 *
 * [stop]: CIO cancels the open sessions; the client sees its TCP connection end WITHOUT a close frame (abrupt).
 *
 * [tls]: CIO cannot serve HTTPS ("CIO Engine does not currently support HTTPS"), so with `tls = true` the CIO server
 * listens on a private plain port and a [TlsTerminator] on [port] forwards decrypted bytes to it; [url] is `wss://`.
 */
class KtorTestServer(private val tls: Boolean = false) : ParleyTestServer {
    override val closeFrames = Recording<CloseFrameRecord>("close frames")
    override val pongs = Recording<ByteArray>("pongs")
    override val upgradeRequests = Recording<UpgradeRequestRecord>("upgrade requests")
    override val acceptedConnections = Recording<String>("accepted connections")

    private var engine: EmbeddedServer<CIOApplicationEngine, CIOApplicationEngine.Configuration>? = null
    private var terminator: TlsTerminator? = null
    private var enginePort = 0

    @Volatile
    private var publicPort = 0

    override val port: Int get() = publicPort.also { check(it != 0) { "KtorTestServer was never started" } }

    override val isRunning: Boolean get() = engine != null

    override fun url(path: String): String = "${if (tls) "wss" else "ws"}://$LOOPBACK:$port$path"

    @Synchronized
    override fun start(): KtorTestServer {
        if (engine != null) return this
        val started = retryBind { startEngine(enginePort) }
        // The engine knows its ephemeral port only after binding; remember it so a restart reuses it.
        enginePort = runBlocking { started.engine.resolvedConnectors().first().port }
        engine = started
        publicPort = if (tls) {
            retryBind { TlsTerminator(publicPort, enginePort) }.also { terminator = it }.port
        } else {
            enginePort
        }
        return this
    }

    @Synchronized
    override fun stop() {
        // Stop the engine first so the client sees what CIO does to its sessions, then the TLS front (if any).
        engine?.stop(gracePeriodMillis = STOP_GRACE_MILLIS, timeoutMillis = STOP_TIMEOUT_MILLIS)
        engine = null
        terminator?.close()
        terminator = null
    }

    override fun close() = stop()

    private fun startEngine(port: Int) = embeddedServer(
        CIO,
        configure = {
            connector {
                host = LOOPBACK
                this.port = port
            }
            // SO_REUSEADDR: the restart must bind the same port although old connections sit in TIME_WAIT.
            reuseAddress = true
        },
        module = { routes() },
    ).apply {
        try {
            start(wait = false)
        } catch (e: Throwable) {
            stop(0, 0)
            throw e
        }
    }

    private fun Application.routes() {
        install(WebSockets) {
            maxFrameSize = Long.MAX_VALUE
        }
        // Record every request before routing, so rejected attempts (401/403) are visible to assertions too.
        intercept(ApplicationCallPipeline.Setup) {
            val headers = call.request.headers.entries().associate { (k, v) -> k.lowercase() to v }
            upgradeRequests.record(UpgradeRequestRecord(call.request.path(), headers))
        }
        routing {
            route("/ws") { handle { upgrade(call) { echo() } } }
            route("/ws/auth") {
                handle {
                    if (isBearer(call.request.headers[HttpHeaders.Authorization])) {
                        upgrade(call) { echo() }
                    } else {
                        call.response.header(HttpHeaders.WWWAuthenticate, "Bearer")
                        call.respond(HttpStatusCode.Unauthorized)
                    }
                }
            }
            // Cancelling a raw session closes TCP without any close frame: an abrupt drop right after the upgrade.
            route("/ws/flap") { handle { upgrade(call) { cancel() } } }
            route("/reject") { handle { call.respond(HttpStatusCode.Forbidden) } }
        }
    }

    private suspend fun upgrade(call: ApplicationCall, session: suspend WebSocketSession.() -> Unit) {
        if (!call.request.headers[HttpHeaders.Upgrade].equals("websocket", ignoreCase = true)) {
            call.respond(HttpStatusCode.BadRequest)
            return
        }
        val offered = call.request.headers.getAll(HttpHeaders.SecWebSocketProtocol).orEmpty()
            .flatMap { it.split(',') }.map { it.trim() }
        val protocol = CHAT_SUBPROTOCOL.takeIf { it in offered }
        val path = call.request.path()
        call.respond(
            WebSocketUpgrade(call, protocol) {
                acceptedConnections.record(path)
                session()
            },
        )
    }

    /** The `/ws` behaviour on a raw session: echo, commands, ping/pong and close handling. */
    private suspend fun WebSocketSession.echo() {
        var ignoreClose = false
        var messageType: Boolean? = null // true = text; fragments are reassembled before echoing
        val message = ByteArrayOutputStream()
        for (frame in incoming) {
            when (frame) {
                is Frame.Ping -> outgoing.send(Frame.Pong(ByteBuffer.wrap(frame.data)))

                is Frame.Pong -> pongs.record(frame.data.copyOf())

                is Frame.Close -> {
                    closeFrames.record(frame.toRecord())
                    // Ktor's reader stops at a close frame, so "ignoring" means holding the socket open, unanswered,
                    // for as long as Jetty's idle timeout would (or until stop()); then TCP goes without a close frame.
                    if (ignoreClose) return delay(IGNORE_CLOSE_HOLD_MILLIS)
                    outgoing.send(Frame.Close(frame.data.copyOf())) // echo code and reason, as RFC 6455 suggests
                    return
                }

                is Frame.Text, is Frame.Binary -> {
                    messageType = messageType ?: (frame is Frame.Text)
                    message.write(frame.data)
                    if (!frame.fin) continue
                    val bytes = message.toByteArray()
                    val isText = messageType == true
                    message.reset()
                    messageType = null
                    if (!isText) {
                        outgoing.send(Frame.Binary(true, bytes))
                        continue
                    }
                    val text = bytes.decodeToString()
                    when (val command = ServerCommand.parse(text)) {
                        null -> outgoing.send(Frame.Text(text))

                        is ServerCommand.Close -> return closeFromServer(command)

                        ServerCommand.Crash -> return cancel()

                        ServerCommand.SendAndCrash -> {
                            outgoing.send(Frame.Text(ServerCommand.PUSHED_TEXT))
                            flush()
                            delay(ServerCommand.CRASH_DELAY_MILLIS)
                            return cancel()
                        }

                        is ServerCommand.SendPing -> outgoing.send(Frame.Ping(command.payload))

                        is ServerCommand.SendBig -> outgoing.send(Frame.Text("x".repeat(command.size)))

                        ServerCommand.IgnoreClose -> ignoreClose = true
                    }
                }
            }
        }
    }

    /** Sends the close frame, waits (bounded) for the client's reply, then lets Ktor close TCP. */
    private suspend fun WebSocketSession.closeFromServer(command: ServerCommand.Close) {
        outgoing.send(Frame.Close(CloseReason(command.code.toShort(), command.reason)))
        withTimeoutOrNull(CLOSE_REPLY_TIMEOUT_MILLIS) {
            for (frame in incoming) {
                if (frame is Frame.Close) {
                    closeFrames.record(frame.toRecord())
                    break
                }
            }
        }
    }

    private fun Frame.Close.toRecord(): CloseFrameRecord =
        readReason()?.let { CloseFrameRecord(it.code.toInt() and 0xFFFF, it.message) } ?: CloseFrameRecord(1005, "")

    private companion object {
        const val STOP_GRACE_MILLIS = 100L
        const val STOP_TIMEOUT_MILLIS = 2_000L
        const val CLOSE_REPLY_TIMEOUT_MILLIS = 2_000L
        const val IGNORE_CLOSE_HOLD_MILLIS = 120_000L
    }
}

/** The only address test servers bind and clients dial. */
const val LOOPBACK: String = "127.0.0.1"
