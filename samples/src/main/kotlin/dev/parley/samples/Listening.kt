package dev.parley.samples

import io.ktor.server.application.Application
import io.ktor.server.cio.CIO
import io.ktor.server.cio.CIOApplicationEngine
import io.ktor.server.engine.EmbeddedServer
import io.ktor.server.engine.embeddedServer
import kotlinx.coroutines.runBlocking
import java.net.BindException

/** A sample server on 127.0.0.1, and the port it listens on. */
public class Listening(
    /** The running server; stop it with `stop(0, 500)`. */
    public val server: EmbeddedServer<CIOApplicationEngine, CIOApplicationEngine.Configuration>,
    /** Its port. */
    public val port: Int,
)

/**
 * Starts a Ktor CIO server with [module] on 127.0.0.1 and [port] (0 for a free one). A port just released by a stopped
 * server may take a moment to be free again, so binding is retried briefly: the samples restart their servers on the
 * same port to show a client reconnecting.
 */
public fun listenOn(port: Int, module: Application.() -> Unit): Listening {
    var attempts = 0
    while (true) {
        try {
            val server = embeddedServer(CIO, host = "127.0.0.1", port = port, module = module).start(wait = false)
            return Listening(server, runBlocking { server.engine.resolvedConnectors().first().port })
        } catch (e: BindException) {
            if (++attempts >= BIND_ATTEMPTS) throw e
            Thread.sleep(BIND_RETRY_MS)
        }
    }
}

private const val BIND_ATTEMPTS = 100
private const val BIND_RETRY_MS = 20L
