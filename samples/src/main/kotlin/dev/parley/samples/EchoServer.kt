package dev.parley.samples

import io.ktor.server.application.install
import io.ktor.server.cio.CIOApplicationEngine
import io.ktor.server.engine.EmbeddedServer
import io.ktor.server.routing.routing
import io.ktor.server.websocket.WebSockets
import io.ktor.server.websocket.webSocket
import io.ktor.websocket.Frame
import io.ktor.websocket.readText

/**
 * The samples' own echo server on 127.0.0.1, so the samples run offline. It can be stopped and started again on the
 * same port, to show the client reconnecting by itself.
 */
public class EchoServer : AutoCloseable {
    private var server: EmbeddedServer<CIOApplicationEngine, CIOApplicationEngine.Configuration>? = null

    /** The port, fixed by the first [start]. */
    public var port: Int = 0
        private set

    /** The URL of the echo endpoint. */
    public val url: String get() = "ws://127.0.0.1:$port/echo"

    /** Starts listening: on a free port the first time, on the same port afterwards. */
    public fun start(): EchoServer {
        val listening = listenOn(port) { routes() }
        server = listening.server
        port = listening.port
        return this
    }

    /** Stops listening and drops every open connection. */
    public fun stop() {
        server?.stop(gracePeriodMillis = 0, timeoutMillis = 500)
        server = null
    }

    override fun close(): Unit = stop()

    private fun io.ktor.server.application.Application.routes() {
        install(WebSockets)
        routing {
            webSocket("/echo") {
                for (frame in incoming) {
                    when (frame) {
                        is Frame.Text -> send(Frame.Text("echo: ${frame.readText()}"))
                        is Frame.Binary -> send(Frame.Binary(true, frame.data))
                        else -> Unit
                    }
                }
            }
        }
    }
}
