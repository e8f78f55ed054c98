package dev.parley.ktor

import dev.parley.ParleyOptions
import dev.parley.ktor.internal.KtorTransport
import dev.parley.transport.TransportFactory
import io.ktor.client.HttpClient

/**
 * Connects through [client], a Ktor `HttpClient` of your own, instead of Parley's own transport: its engine, its
 * plugins (default headers, auth, logging) and its proxy settings apply to the upgrade request.
 *
 * ```kotlin
 * val http = HttpClient(CIO) { engine { proxy = ProxyBuilder.http("http://127.0.0.1:8888") } }
 * val client = Parley.start(handler, Unit, parleyOptions { url = "wss://example.com/feed"; httpClient(http) })
 * ```
 *
 * Parley derives a client from [client] with Ktor's WebSockets plugin installed (sharing its engine) and never
 * closes the engine: you do, after the Parley clients that use it have stopped. Parley's own transport frames the
 * socket itself and is faster; choose this one for what only your `HttpClient` has.
 *
 * Only Ktor's CIO engine can carry it: Parley needs every frame, control frames included, and the upgrade response's
 * headers, and CIO's raw session gives both. Any other engine is refused here, at once, with the reason (see
 * [unsupportedEngine]) rather than failing on the first connect.
 *
 * @throws IllegalArgumentException when [client]'s engine is not CIO.
 */
public fun ParleyOptions.Builder.httpClient(client: HttpClient) {
    unsupportedEngine(client.engine::class.java.name)?.let { throw IllegalArgumentException(it) }
    transport = TransportFactory { options -> KtorTransport(client, options) }
}

/**
 * Why the engine named [engineClass] cannot carry Parley, or `null` for CIO. What was seen with the other engines
 * Ktor ships for the JVM: OkHttp's session answers pings itself and keeps pongs from Parley's heartbeat, and Ktor's
 * OkHttp engine refuses the bounded (suspending) frame channels Parley asks for; the Java engine's session does not
 * expose the upgrade response's headers, so `Sec-WebSocket-Accept` cannot be checked.
 */
internal fun unsupportedEngine(engineClass: String): String? {
    if (engineClass.startsWith("io.ktor.client.engine.cio.")) return null
    val why =
        when {
            engineClass.startsWith("io.ktor.client.engine.okhttp.") ->
                "its WebSocket session answers pings itself and hides pongs from Parley's heartbeat, and it refuses " +
                    "the bounded frame channels Parley needs (SUSPEND overflow)"

            engineClass.startsWith("io.ktor.client.engine.java.") ->
                "its WebSocket session does not expose the upgrade response's headers, so Sec-WebSocket-Accept " +
                    "cannot be checked"

            else -> "it is not Ktor's CIO engine, the only one this path is built and tested for"
        }
    return "httpClient: the engine $engineClass cannot carry Parley's WebSocket: $why. Use HttpClient(CIO), or " +
        "Parley's own transport (leave httpClient out: it has TLS 1.3, client certificates and HTTP/SOCKS5 proxies)"
}
